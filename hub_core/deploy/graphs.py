"""One torch module to one ONNX graph, and graphs compared with torch: the pieces every
export uses (a model's one graph, a program's several, a plugin's own such as the
recommender's towers)."""
from __future__ import annotations

import contextlib
import inspect
import io
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hub_core.common.errors import ExportError


def short_error(err: BaseException) -> str:
    """An exporter's error in one line: its type and the most telling line of its message."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
    summary = next((lines[i + 1] for i, line in enumerate(lines) if "Exception summary" in line and i + 1 < len(lines)),
                   lines[0] if lines else "")
    return f"{type(err).__name__}: {summary}"[:400]


def export_graph(wrapper: nn.Module, inputs: list[dict], example: dict, path: Path, opset: int | None,
                 first: str = "dynamo", output_names=None) -> dict:
    """Write ``path`` with the ``first`` exporter (dynamo unless the backbone's family fuses
    better from TorchScript), or the other where it fails; say which and why. The graph's
    outputs are named ``output_names`` (default: the wrapper's ``output_names``)."""
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(example[s["name"]])) for s in inputs)
    names = [s["name"] for s in inputs]
    outputs = list(output_names or wrapper.output_names)
    record = {}

    def dynamo():
        dynamic = tuple({i: torch.export.Dim.DYNAMIC for i, axis in enumerate(s["axes"]) if isinstance(axis, str)}
                        for s in inputs)
        # forward(*tensors) takes the specs under its one argument's name; forward(a, b) one per argument
        varargs = [p.name for p in inspect.signature(wrapper.forward).parameters.values() if p.kind == p.VAR_POSITIONAL]
        torch.onnx.export(wrapper, tensors, str(path), dynamo=True, input_names=names,
                          output_names=outputs, opset_version=opset,
                          dynamic_shapes={varargs[0]: dynamic} if varargs else dynamic, external_data=False)

    def torchscript():
        axes = {s["name"]: {i: axis for i, axis in enumerate(s["axes"]) if isinstance(axis, str)} for s in inputs}
        axes.update({name: {0: "batch"} for name in outputs})
        torch.onnx.export(wrapper, tensors, str(path), dynamo=False, input_names=names,
                          output_names=outputs, opset_version=opset or 17, dynamic_axes=axes)

    order = [("dynamo", dynamo), ("torchscript", torchscript)]
    if first == "torchscript":
        order.reverse()
    for name, exporter in order:
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exporter()
            record["exporter"] = name
            return record
        except Exception as err:  # noqa: BLE001 - any exporter failure means: try the other exporter
            record[f"{name}_error"] = short_error(err)
    raise ExportError("neither ONNX exporter could export this model: "
                      + "; ".join(f"{name}: {record[f'{name}_error']}" for name, _ in order))


def annotate(path: Path, inputs: list[dict], metadata: dict[str, str]) -> int:
    """Name the graph inputs' dynamic axes as the modality does and store the runtime's metadata.
    Returns the graph's opset."""
    import onnx

    model = onnx.load(str(path))
    renames = {}
    for graph_input, spec in zip(model.graph.input, inputs):
        for dim, axis in zip(graph_input.type.tensor_type.shape.dim, spec["axes"]):
            if isinstance(axis, str) and dim.dim_param:
                renames.setdefault(dim.dim_param, axis)
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, **metadata})
    onnx.save(model, str(path))
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def compare(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], atol: float, rtol: float) -> tuple[dict, bool]:
    """Per output: max |ort - torch|, max of that over (|torch| + atol), argmax agreement; and
    whether every element is within atol + rtol * |torch|."""
    report, ok = {}, True
    for name, want in expected.items():
        have = got[name]
        if have.shape != want.shape:
            report[name] = {"error": f"shape {list(have.shape)}, torch gives {list(want.shape)}"}
            ok = False
            continue
        a, b = have.astype(np.float64), want.astype(np.float64)
        both_nan = np.isnan(a) & np.isnan(b)
        diff = np.where(both_nan, 0.0, np.abs(a - b))
        diff = np.where(np.isnan(diff), np.inf, diff)
        entry = {"max_abs": float(diff.max()) if diff.size else 0.0,
                 "max_rel": float((diff / (np.abs(np.nan_to_num(b)) + atol)).max()) if diff.size else 0.0}
        if b.ndim >= 2 and b.shape[-1] > 1:
            entry["argmax_agreement"] = float((a.argmax(-1) == b.argmax(-1)).mean())
        entry["ok"] = bool(np.all(diff <= atol + rtol * np.abs(np.nan_to_num(b))))
        ok = ok and entry["ok"]
        report[name] = entry
    return report, ok


def worst(cases: list[dict]) -> str:
    """The worst mismatch in words, for the error line."""
    failed = [c for c in cases if not c["ok"]]
    if not failed:
        return ""
    case = failed[0]
    if "error" in case:
        return f"{case['name']}: {case['error']}"
    name, stats = max(((n, s) for n, s in case["outputs"].items() if not s.get("ok", False)),
                      key=lambda item: item[1].get("max_abs", float("inf")))
    if "error" in stats:
        return f"{case['name']}, output {name!r}: {stats['error']}"
    return f"{case['name']}, output {name!r}: max abs diff {stats['max_abs']:.3g}"
