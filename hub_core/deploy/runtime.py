"""Prediction from an exported model with onnxruntime, numpy and the saved preprocessor.

No torch here, nor in anything this module imports: a server that only predicts installs
onnxruntime and the plugins' light parts. The preprocessor (tokenizer, image transform,
audio loading, ID vocabulary) is the same numpy code that training used, restored from
the model directory; the task's ``decode`` turns the graph's named outputs into answers.

    model = OnnxModel(catalogue, "runs/cls")            # or runs/cls/model.int8.onnx
    model.run(preprocessor.collate([...]))               # numpy in, {output name: numpy} out

An exported file's outputs are named as the task names them; its hub.json lives in the
same folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hub_core.common.errors import ExportError, ModelDirError
from hub_core.deploy import integrity
from hub_core.deploy.runbound import RunTimeout, bounded_run, run_timeout
from hub_core.model.manifest import MANIFEST, load_preprocessor_and_task

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"


def locate_onnx(path: str | os.PathLike, file_name: str = ONNX_FILE) -> tuple[Path, Path]:
    """(the .onnx file, the model directory holding its hub.json) for a directory or a file."""
    path = Path(path)
    if path.is_dir():
        directory, onnx_path = path, path / file_name
        if not onnx_path.is_file():
            rejected = onnx_path.with_name(onnx_path.name + ".rejected")
            why = (f"its last export was rejected ({rejected.name}; see export.json)" if rejected.is_file()
                   else f"run 'hub export {path}' first")
            raise ModelDirError(f"{path}: no {file_name}: {why}")
    elif path.suffix == ".onnx" and path.is_file():
        directory, onnx_path = path.parent, path
    else:
        raise ModelDirError(f"{path}: not a model directory or an .onnx file")
    if not (directory / MANIFEST).is_file():
        raise ModelDirError(f"{onnx_path}: no {MANIFEST} beside it (an exported model needs its model directory)")
    return onnx_path, directory


def session(onnx_path: Path, threads: int | None = None):
    """An onnxruntime CPU session with every graph optimisation; ``threads`` intra-op threads (None: ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types for unreadable graphs
        raise ExportError(f"{onnx_path}: onnxruntime cannot load it ({type(err).__name__}: {err})") from None


class OnnxGraph:
    """An ONNX file in an onnxruntime session, fed from preprocessor arrays by input name."""

    def __init__(self, onnx_path: Path, threads: int | None = None):
        self.path = Path(onnx_path)
        self.session = session(self.path, threads)
        self.inputs = {i.name: NUMPY_TYPES.get(i.type, np.float32) for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.timeout = run_timeout()  # a graph from a file may never end (a 2^62-iteration Loop)

    def feed(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [name for name in self.inputs if name not in arrays]
        if missing:
            raise ExportError(f"{self.path}: the graph needs input(s) {', '.join(missing)}, "
                              f"which the preprocessor did not produce (it gave {', '.join(arrays)})")
        return {name: np.ascontiguousarray(arrays[name], dtype=dtype) for name, dtype in self.inputs.items()}

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the graph, by name: what the task's metrics and ``decode`` read."""
        return dict(zip(self.output_names, self._run(self.output_names, arrays)))

    def _run(self, names: list[str], arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

        feed = self.feed(arrays)
        with bounded_run(self.timeout) as options:
            try:
                return self.session.run(names, feed, options)
            except (ort_errors.InvalidArgument, ort_errors.Fail, ort_errors.RuntimeException) as err:
                if options.terminate:
                    raise RunTimeout(f"{self.path}: the graph ran past PLUGHUB_RUN_TIMEOUT ({self.timeout:g} s) and "
                                     "was stopped; a graph that never ends is not this model's export: run "
                                     "'hub export' again") from None
                # a graph that does not fit the preprocessor's arrays (shapes, types): not this model's export
                shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items() if k in self.inputs)
                reason = " ".join(str(err).split())
                raise ExportError(f"{self.path}: onnxruntime rejects the inputs {shapes} ({reason[:200]}); was the "
                                  "graph exported from this model directory? Run 'hub export' again") from None


NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
               "tensor(int32)": np.int32, "tensor(double)": np.float64, "tensor(float16)": np.float16}


class OnnxModel(OnnxGraph):
    """An exported model with its preprocessor and task, restored from the model directory."""

    def __init__(self, catalogue, path: str | os.PathLike, threads: int | None = None):
        onnx_path, self.directory = locate_onnx(path)
        integrity.check(self.directory, onnx_path)  # the graph export.json validated, or a clear error
        super().__init__(onnx_path, threads)
        self.manifest, self.preprocessor, self.task = load_preprocessor_and_task(catalogue, self.directory)
        missing = [name for name in self.task.output_names if name not in self.output_names]
        if missing:  # a graph exported before outputs were named by the task (plugin API 1), or another's
            raise ExportError(f"{onnx_path}: the graph has no output {', '.join(missing)} (it gives "
                              f"{', '.join(self.output_names)}), which task {self.task.name!r} reads; it was exported "
                              f"by an older hub or from another model: run 'hub export {self.directory}' again")


REPORT = integrity.REPORT  # export.json: one name for the report, kept by integrity


class ProgramModel:
    """An exported multi-graph model (its export.json lists "graphs"): each graph in its own
    onnxruntime session, run by the task's program (``hub_core.model.program``, numpy only).
    ``run``, ``inputs``, ``path`` and ``directory`` as an OnnxModel has them."""

    def __init__(self, catalogue, directory: Path, graphs: dict, threads: int | None = None):
        from hub_core.model.program import program_of

        self.directory = Path(directory)
        self.manifest, self.preprocessor, self.task = load_preprocessor_and_task(catalogue, self.directory)
        self.program = program_of(self.task)
        if self.program is None:
            raise ModelDirError(f"{self.directory / REPORT} lists several graphs, but task "
                                f"{self.manifest['task']['name']!r} has no program to run them; export it again")
        self.sessions = {}
        for name, graph in graphs.items():
            path = self.directory / graph["file"]
            if not path.is_file():
                raise ModelDirError(f"{self.directory}: no {graph['file']} (graph {name!r} of its export); "
                                    f"run 'hub export {self.directory}' again")
            integrity.check(self.directory, path)  # each graph the export validated, or a clear error
            self.sessions[name] = OnnxGraph(path, threads)
        entry = next(iter(self.sessions.values()))  # the graph that reads the preprocessor's arrays
        self.path, self.inputs = entry.path, entry.inputs

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The program's outputs: what the task's metrics and ``decode`` read."""
        return self.program.run({name: session.run for name, session in self.sessions.items()}, arrays)


def exported_graphs(directory: Path) -> dict | None:
    """The graphs of a multi-graph export of ``directory`` (export.json "graphs"), or None."""
    import json

    report_path = Path(directory) / REPORT
    if not Path(directory).is_dir() or not report_path.is_file():
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a one-graph model's unreadable report: its graph is checked where it is opened
    graphs = report.get("graphs") if isinstance(report, dict) else None
    if not isinstance(graphs, dict) or not graphs:
        return None
    status = report.get("status")
    if status not in ("ok", "mismatch-allowed", "not-validated"):
        why = f": {report['error']}" if report.get("error") else ""
        raise ModelDirError(f"{directory}: its last export is {status!r}{why} (see {REPORT}); run "
                            f"'hub export {directory}' again" + (" or keep it with --allow-mismatch"
                                                                  if status == "rejected" else ""))
    return graphs


def open_exported(catalogue, path: str | os.PathLike, threads: int | None = None, file_name: str = ONNX_FILE):
    """The exported model at ``path``: one graph (OnnxModel), or the program over several when
    the directory's export.json lists them."""
    graphs = exported_graphs(Path(path)) if file_name == ONNX_FILE else None
    if graphs:
        return ProgramModel(catalogue, Path(path), graphs, threads)
    return OnnxModel(catalogue, locate_onnx(path, file_name)[0], threads)
