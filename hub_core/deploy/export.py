"""ONNX export of a model directory, validated with onnxruntime at several shapes.

    export_dir(catalogue, "runs/cls", atol=1e-4, quantize="int8") -> report (also export.json)

1. Load the HubModel (LoRA is merged at save). The graph's inputs are the modality's
   InputSpecs that this model's preprocessor produces (optional ones only when present);
   named axes are dynamic, integer axes fixed, and so are named axes that this model's
   preprocessor never varies (an image size), unless every named axis is asked dynamic.
2. Export ``ExportWrapper`` (backbone + head -> the task's named outputs) with the dynamo
   exporter, every named axis a ``Dim.DYNAMIC``; where that fails, with the TorchScript
   exporter and ``dynamic_axes``. The report says which one, and why the first failed.
   A transformer family's graph is then fused (hub_core.deploy.fusion; report "fusion").
3. Validate: torch (the very call ``hub predict`` makes, with every preprocessor array) against
   onnxruntime on the stored validation data when there is some (batch 1, the longest
   example, a batch of 16) and on generated inputs (batch 1 at half length, batch 8, batch 3
   at three times the length): every output's max absolute and relative difference and argmax
   agreement. Over ``atol + rtol * |torch|`` anywhere, the graph is kept as
   ``model.onnx.rejected`` and the report's status is "rejected" (the CLI exits 1) unless
   mismatches are allowed.
4. ``quantize="int8"``: see hub_core.deploy.quantize; fp32 torch, fp32 ORT and int8 ORT compared on
   size, latency and the task's metric on the stored validation data. An int8 graph that
   breaks its bound is kept as ``model.int8.onnx.rejected``: model.onnx (fp32) still stands
   (the CLI warns and exits 0; ``--strict-int8``: exits 1).
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hub_core.data.sets import ExampleSet, to_tensors
from hub_core.common import atomic, lock
from hub_core.common.errors import ExportError, HubError, UsageError
from hub_core.model.build import load_model
from hub_core.model.directory import WEIGHTS, HubModel, package_versions
from hub_core.model.program import program_of
from hub_core.deploy import integrity
from hub_core.deploy.fusion import fuse
from hub_core.deploy.inputs import stored_examples
from hub_core.deploy.graphs import annotate, compare, export_graph, short_error, worst  # noqa: F401 - the export API
from hub_core.deploy.runtime import INT8_FILE, ONNX_FILE, OnnxGraph

REPORT = integrity.REPORT  # export.json, named once (hub_core.deploy.integrity)
ATOL, RTOL = 1e-4, 1e-4
EXAMPLE = (2, 1.0)  # (batch, scale) of the export example: batch >= 2 so that no axis specialises to 1
GENERATED_CASES = ((1, 0.5), (8, 1.0), (3, 3.0))  # validation shapes unlike the export example's
REAL_BATCH = 16


class ExportWrapper(nn.Module):
    """Backbone + head -> the task's named outputs, a tuple in ``output_names`` order: an
    ONNX graph takes positional tensors (``input_names`` says which backbone argument each
    one is) and gives positional outputs, named as the task names them."""

    def __init__(self, model: HubModel, input_names, output_names):
        super().__init__()
        self.model = model
        self.input_names, self.output_names = tuple(input_names), tuple(output_names)

    def forward(self, *tensors):
        named = self.model(**dict(zip(self.input_names, tensors)))
        return tuple(named[name] for name in self.output_names)


@dataclass
class Case:
    """One validation input: a collated batch of every preprocessor array."""

    name: str
    source: str  # "validation data" or "generated"
    arrays: dict


# ----------------------------------------------------------------------------- inputs and outputs
def graph_inputs(manifest: dict, arrays: dict) -> list[dict]:
    """The modality's input specs that these arrays hold (an absent optional input is left out)."""
    specs = manifest["inputs"]
    missing = [s["name"] for s in specs if s["name"] not in arrays and not s.get("optional")]
    if missing:
        raise ExportError(f"the {manifest['modality']!r} preprocessor produced no {', '.join(missing)} "
                          f"(it gave {', '.join(arrays)}), but the modality declares it as an input")
    return [s for s in specs if s["name"] in arrays]


def fix_unvarying_axes(inputs: list[dict], preprocessor, rng) -> tuple[list[dict], dict]:
    """Make static the named axes (but batch) of a fixed-size modality that this preprocessor
    never varies: an image preprocessor resizes every image to one size, so height and width
    need not be dynamic, and symbolic sizes cost export time (minutes for TF-"same"-padded
    CNNs). A fixed-size modality is one whose examples have no ``length``; the sizes are judged
    from generated inputs at every validation scale. Otherwise every named axis stays dynamic
    (a text model's generated sequences may all be cut to its max_length, real ones are not).
    Returns (the inputs with those axes fixed, {input: {axis name: size}})."""
    try:
        samples = [preprocessor.synthetic(batch, scale, rng) for batch, scale in GENERATED_CASES]
        variable_length = bool(preprocessor.length({k: v[0] for k, v in samples[-1].items()}))
    except NotImplementedError:
        return inputs, {}
    except (KeyError, IndexError, TypeError, ValueError):  # a length() that wants other arrays: assume variable
        variable_length = True
    if variable_length:
        return inputs, {}
    fixed, result = {}, []
    for spec in inputs:
        axes = list(spec["axes"])
        for i, axis in enumerate(axes):
            sizes = {sample[spec["name"]].shape[i] for sample in samples if spec["name"] in sample}
            if isinstance(axis, str) and axis != "batch" and len(sizes) == 1:
                axes[i] = sizes.pop()
                fixed.setdefault(spec["name"], {})[axis] = axes[i]
        result.append({**spec, "axes": axes})
    return result, fixed


def torch_outputs(model: HubModel, arrays: dict) -> dict:
    """The task's named outputs, as ``hub predict`` computes them."""
    with torch.no_grad():
        return model(**to_tensors(arrays, "cpu"))


def output_names_for(model: HubModel, arrays: dict) -> list[str]:
    """The graph's output names: the task's, checked against what its model returns."""
    named = torch_outputs(model, arrays)
    names = list(model.task.output_names)
    absent = [n for n in names if n not in named]
    if absent:
        raise ExportError(f"task {model.task.name!r} lists outputs {absent} that its model does not return "
                          f"(it returns {', '.join(named)})")
    return names


def reference(model: HubModel, arrays: dict, output_names: list[str]) -> dict[str, np.ndarray]:
    named = torch_outputs(model, arrays)
    return {n: named[n].detach().float().cpu().numpy() if named[n].is_floating_point() else named[n].cpu().numpy()
            for n in output_names}


# ----------------------------------------------------------------------------- export
# ----------------------------------------------------------------------------- validation data
def validation_cases(model: HubModel, val_examples: list, rng: np.random.Generator) -> tuple[list[Case], list[str]]:
    """Batches of real validation examples (when given) and of generated inputs."""
    cases, notes = [], []
    preprocessor = model.preprocessor
    if val_examples:
        try:
            data = ExampleSet(val_examples, preprocessor, model.task, train=False, labelled=False)
            lengths = [preprocessor.length(data.get(i).arrays) for i in range(len(data))]
            shortest, longest = int(np.argmin(lengths)), int(np.argmax(lengths))
            cases.append(Case(f"validation[{shortest}]", "validation data", data.collate([shortest])[0]))
            if lengths[longest] != lengths[shortest]:
                cases.append(Case(f"validation[{longest}], the longest", "validation data",
                                  data.collate([longest])[0]))
            count = min(REAL_BATCH, len(data))
            if count > 1:
                cases.append(Case(f"validation[0:{count}]", "validation data",
                                  data.collate(list(range(count)))[0]))
        except HubError as err:
            notes.append(f"validation data not used: {err}")
    for batch, scale in GENERATED_CASES:
        try:
            arrays = preprocessor.synthetic(batch, scale, rng)
        except NotImplementedError:
            notes.append(f"{type(preprocessor).__name__} cannot generate inputs; validated on stored data only")
            break
        cases.append(Case(generated_name(preprocessor, batch, scale, arrays), "generated", arrays))
    return cases, notes


def generated_name(preprocessor, batch: int, scale: float, arrays: dict) -> str:
    """"generated, batch 3, length x3" where the scale changed the shapes; a preprocessor of one
    size (images) ignores it, and the case is named by its batch alone."""
    unscaled = preprocessor.synthetic(batch, 1.0, np.random.default_rng(0))  # its own generator: the cases stay as drawn
    scaled = any(np.shape(arrays[k])[1:] != np.shape(v)[1:] for k, v in unscaled.items() if k in arrays)
    return f"generated, batch {batch}" + (f", length x{scale:g}" if scaled else "")


def export_example(model: HubModel, val_examples: list, train_examples: list, rng) -> dict:
    try:
        return model.preprocessor.synthetic(*EXAMPLE, rng)
    except NotImplementedError:
        pool = val_examples or train_examples
        if len(pool) < EXAMPLE[0]:
            raise ExportError(f"{type(model.preprocessor).__name__} cannot generate inputs and there is no stored data "
                              f"to export with") from None
        data = ExampleSet(pool[:EXAMPLE[0]], model.preprocessor, model.task, train=False, labelled=False)
        return data.collate(list(range(EXAMPLE[0])))[0]


def validate(model: HubModel, graph: OnnxGraph, cases: list[Case], inputs: list[dict], example_shapes,
             atol: float, rtol: float) -> tuple[list[dict], bool]:
    results, all_ok = [], True
    for case in cases:
        shapes = {s["name"]: list(case.arrays[s["name"]].shape) for s in inputs if s["name"] in case.arrays}
        entry = {"name": case.name, "source": case.source, "shapes": shapes,
                 "same_shape_as_export_example": shapes == example_shapes}
        try:
            got = graph.run(case.arrays)
        except Exception as err:  # noqa: BLE001 - onnxruntime's own error types: a failure of the graph
            entry.update(ok=False, error=f"onnxruntime failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
            results.append(entry)
            all_ok = False
            continue
        entry["outputs"], entry["ok"] = compare(reference(model, case.arrays, graph.output_names), got, atol, rtol)
        all_ok = all_ok and entry["ok"]
        results.append(entry)
    return results, all_ok


# ----------------------------------------------------------------------------- the whole job
def export_dir(catalogue, directory: str | os.PathLike, *, out: str | os.PathLike | None = None, opset: int | None = None,
               atol: float = ATOL, rtol: float = RTOL, validate_graph: bool = True, allow_mismatch: bool = False,
               quantize: str | None = None, int8_method: str = "auto", all_axes_dynamic: bool = False,
               seed: int = 0, int8_bound: dict | None = None) -> dict:
    """Export, validate (and quantize) a model directory; write export.json; return the report.
    A rejected export returns status "rejected": ``raise_if_rejected`` turns it into an error.
    One export at a time per model directory (and --out folder): holding their locks, the
    temporary graphs that killed exports left beside the target are stale, and removed."""
    directory = Path(directory)
    target = Path(out) if out else directory / ONNX_FILE
    elsewhere = target.parent.resolve() != directory.resolve()
    with lock.hold(directory, "model directory"), lock.hold(target.parent) if elsewhere else contextlib.nullcontext():
        atomic.discard_temporaries(target)
        return _export_dir(catalogue, directory, target, opset=opset, atol=atol, rtol=rtol, validate_graph=validate_graph,
                           allow_mismatch=allow_mismatch, quantize=quantize, int8_method=int8_method,
                           all_axes_dynamic=all_axes_dynamic, seed=seed, int8_bound=int8_bound)


def _export_dir(catalogue, directory: Path, target: Path, *, opset, atol, rtol, validate_graph, allow_mismatch,
                quantize, int8_method, all_axes_dynamic, seed, int8_bound) -> dict:
    model = load_model(catalogue, directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_examples, val_examples, data_source = stored_examples(catalogue, model.manifest)

    example = export_example(model, val_examples, train_examples, rng)
    program = program_of(model.task)
    if program is not None:
        return _export_program(model, program, directory, target, example, val_examples, data_source, rng,
                               opset=opset, atol=atol, rtol=rtol, allow_mismatch=allow_mismatch, quantize=quantize)
    inputs = graph_inputs(model.manifest, example)
    if not all_axes_dynamic:
        inputs, fixed_axes = fix_unvarying_axes(inputs, model.preprocessor, np.random.default_rng(seed))
    output_names = output_names_for(model, example)
    wrapper = ExportWrapper(model, [s["name"] for s in inputs], output_names).eval()
    example_shapes = {s["name"]: list(example[s["name"]].shape) for s in inputs}
    report = {"status": "exporting", "model": str(directory), "file": str(target),
              "backbone": model.manifest["backbone"]["name"], "task": model.manifest["task"]["name"],
              "inputs": [{"name": s["name"], "dtype": s["dtype"], "axes": list(s["axes"])} for s in inputs],
              "fixed_axes": {} if all_axes_dynamic else fixed_axes,
              "outputs": output_names, "example_shapes": example_shapes,
              "atol": atol, "rtol": rtol, "versions": package_versions(model.manifest.get("plugins", ()))}

    tmp = atomic.temporary_path(target, ".onnx")
    try:
        started = time.perf_counter()
        hints = model.backbone.onnx_fusion()
        with model.backbone.exporting():
            report.update(export_graph(wrapper, inputs, example, tmp, opset, (hints or {}).get("exporter", "dynamo")))
        report["fusion"] = fuse(tmp, hints)  # transformer families: fused kernels
        report["opset"] = annotate(tmp, inputs, {"plughub.exporter": report["exporter"],
                                                 "plughub.backbone": report["backbone"], "plughub.task": report["task"]})
        report["export_seconds"] = round(time.perf_counter() - started, 2)
        report["size_bytes"] = tmp.stat().st_size
        graph = OnnxGraph(tmp)
        if validate_graph:
            cases, notes = validation_cases(model, val_examples, rng)
            results, ok = validate(model, graph, cases, inputs, example_shapes, atol, rtol)
            distinct = {str(c["shapes"]) for c in results if not c["same_shape_as_export_example"]}
            report["validation"] = {"data": data_source if val_examples else f"generated inputs ({data_source})",
                                    "distinct_shapes": len(distinct), "notes": notes, "cases": results}
            report["status"] = "ok" if ok else ("mismatch-allowed" if allow_mismatch else "rejected")
            if not ok:
                report["error"] = worst(results)
        else:
            report["status"] = "not-validated"
        if report["status"] == "rejected":
            rejected = target.with_name(target.name + ".rejected")
            atomic.publish(tmp, rejected)
            target.unlink(missing_ok=True)  # an older graph would no longer match this report
            report["file"] = str(rejected)
        else:
            atomic.publish(tmp, target)
        if quantize and report["status"] != "rejected":
            report["int8"] = int8_report(model, directory, target, train_examples, val_examples, data_source,
                                         int8_method, rng, cases if validate_graph else [], inputs, example_shapes,
                                         atol, rtol, int8_bound or {})
    except HubError as err:  # the report says what failed, for the record and for scripts
        report.update(status="failed", error=str(err))
        atomic.write_json(directory / REPORT, report)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    report[integrity.KEY] = integrity.digests(target, (report.get("int8") or {}).get("file"))  # checked before use
    atomic.write_json(directory / REPORT, report)
    return report


def _export_program(model, program, directory: Path, target: Path, example: dict, val_examples, data_source, rng, *,
                    opset, atol, rtol, allow_mismatch, quantize) -> dict:
    """A multi-graph model: its graphs beside hub.json, validated alone and run by the program."""
    from hub_core.deploy.program_export import export_program

    if target != directory / ONNX_FILE:
        raise UsageError(f"{model.task.name!r} exports several graphs beside its hub.json ({directory}): "
                         "leave out --out")
    if quantize:
        raise UsageError(f"--quantize {quantize}: int8 of a multi-graph model ({model.task.name!r}) is not supported "
                         "yet; export it in fp32")
    report = {"status": "exporting", "model": str(directory), "backbone": model.manifest["backbone"]["name"],
              "task": model.manifest["task"]["name"], "atol": atol, "rtol": rtol,
              "versions": package_versions(model.manifest.get("plugins", ()))}
    cases, notes = validation_cases(model, val_examples, rng)
    try:
        export_program(model, program, directory, report, example=example, cases=cases, opset=opset, atol=atol,
                       rtol=rtol, allow_mismatch=allow_mismatch)
        report["validation"].update(data=data_source if val_examples else f"generated inputs ({data_source})",
                                    notes=notes)
    except HubError as err:
        report.update(status="failed", error=str(err))
        atomic.write_json(directory / REPORT, report)
        raise
    atomic.write_json(directory / REPORT, report)
    return report


def int8_report(model, directory: Path, target: Path, train_examples, val_examples, data_source, method, rng, cases, inputs,
                example_shapes, atol, rtol, bound: dict) -> dict:
    """Quantize, compare fp32 torch, fp32 ORT and int8 ORT (size, latency, metric), then judge
    int8 against the bound (label agreement, metric loss); a rejected int8 graph is kept as
    model.int8.onnx.rejected."""
    from hub_core.deploy.measure import compare_engines
    from hub_core.deploy.quantize import calibration_batches, judge_int8, quantize_int8

    int8_path = target.with_name(target.name.removesuffix(".onnx") + ".int8.onnx") if target.name != ONNX_FILE \
        else target.with_name(INT8_FILE)
    calibration, calibration_source = calibration_batches(model.preprocessor, model.task, train_examples, rng)
    result = quantize_int8(target, int8_path, method=method, calibration=calibration)
    result.update(file=str(int8_path), calibration=calibration_source if result["method"] == "static" else None)
    int8 = OnnxGraph(int8_path)
    if cases:  # how far int8 is from torch: reported, never a reason to reject
        result["validation"], _ = validate(model, int8, cases, inputs, example_shapes, atol, rtol)
    result["comparison"] = compare_engines(model, directory / WEIGHTS, target, int8_path, val_examples, data_source, rng)
    monitor = (model.manifest.get("monitor") or {}).get("metric") or model.task.monitor
    if monitor == "loss":  # the loss is torch's; judge by the task's own metric
        monitor = model.task.monitor
    labelled = []
    if val_examples:
        data = ExampleSet(val_examples, model.preprocessor, model.task, train=False)
        labelled = [data.collate(list(range(start, min(start + 64, len(data))))) for start in range(0, len(data), 64)]
    result["judgement"] = judge_int8(model.task, OnnxGraph(target).run, int8.run, labelled,
                                     [c.arrays for c in cases], metric=monitor, **bound)
    result["status"] = "ok" if result["judgement"]["ok"] else "rejected"
    int8_path.with_name(int8_path.name + ".rejected").unlink(missing_ok=True)  # an older verdict
    if not result["judgement"]["ok"]:
        rejected = int8_path.with_name(int8_path.name + ".rejected")
        atomic.publish(int8_path, rejected)
        result["file"] = str(rejected)
    return result


def int8_rejection(report: dict) -> str | None:
    """One line on a rejected int8 graph (what broke the bound, where it is kept), or None."""
    int8 = report.get("int8") or {}
    if int8.get("status") != "rejected":
        return None
    return (f"the int8 graph breaks its bound: {int8['judgement']['error']} on {int8['judgement']['data']}; kept as "
            f"{Path(int8['file']).name}, see export.json (loosen with --int8-max-loss / --int8-min-agreement)")


def raise_if_rejected(report: dict, strict_int8: bool = False) -> None:
    """ExportError for a graph that does not match torch; for a rejected int8 graph only when
    ``strict_int8``: otherwise the fp32 export stands and the caller warns (``int8_rejection``)."""
    if report["status"] == "rejected":
        raise ExportError(f"the ONNX graph does not match torch: {report.get('error')} (atol {report['atol']:g}, "
                          f"rtol {report['rtol']:g}); kept as {Path(report['file']).name}, see export.json; "
                          f"--allow-mismatch keeps it as the model's graph")
    rejection = int8_rejection(report)
    if rejection and strict_int8:
        raise ExportError(f"{rejection}; model.onnx (fp32) is fine, drop --strict-int8 to keep it without int8")
