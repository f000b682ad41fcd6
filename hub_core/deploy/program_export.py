"""ONNX export of a multi-graph model (``hub_core.model.program``): each graph to its own
``NAME.onnx``, validated twice against torch on the same cases as a one-graph export:

1. each graph alone, on the inputs the program's ``examples`` makes for each case;
2. the whole program: the numpy loop over the onnxruntime graphs against the same loop over
   the torch modules, output by output (generated tokens must match exactly: they are
   integers; scores within the tolerances).

The graphs are published together (or kept as ``NAME.onnx.rejected`` together); export.json
records them under "graphs" and the program under "program", which is how ``open_engine``
knows to run the program instead of one graph.
"""
from __future__ import annotations

import time
from pathlib import Path

from hub_core.common import atomic
from hub_core.common.errors import ExportError
from hub_core.deploy import integrity
from hub_core.deploy.graphs import annotate, compare, export_graph, worst
from hub_core.deploy.runtime import OnnxGraph
from hub_core.model.program import Program


def export_program(model, program: Program, directory: Path, report: dict, *, example: dict, cases: list,
                   opset, atol: float, rtol: float, allow_mismatch: bool) -> dict:
    """Export every graph of ``program`` beside hub.json, validate, publish; fills and returns ``report``."""
    graphs = program.graphs(model)
    examples = program.examples(model, example)
    targets = {name: directory / f"{name}.onnx" for name in graphs}
    temporaries = {name: atomic.temporary_path(path, ".onnx") for name, path in targets.items()}
    report.update(program=model.task.program, graphs={}, outputs=None)
    try:
        started = time.perf_counter()
        for name, graph in graphs.items():
            record = export_graph(graph.module.eval(), graph.inputs, examples[name], temporaries[name], opset,
                                  output_names=graph.outputs)
            record["opset"] = annotate(temporaries[name], graph.inputs, {"plughub.graph": name,
                                                                         "plughub.program": model.task.program})
            report["graphs"][name] = {"file": targets[name].name, "inputs": graph.inputs,
                                      "outputs": list(graph.outputs), **record}
        report["exporter"] = "+".join(sorted({g["exporter"] for g in report["graphs"].values()}))
        report["opset"] = max(g["opset"] for g in report["graphs"].values())
        report["export_seconds"] = round(time.perf_counter() - started, 2)
        report["size_bytes"] = sum(path.stat().st_size for path in temporaries.values())
        sessions = {name: OnnxGraph(path) for name, path in temporaries.items()}
        on_torch = program.on_torch(model)
        results = []
        for case in cases:
            results.append(_check_case(program, model, case, sessions, on_torch, atol, rtol))
        ok = all(r["ok"] for r in results)
        report["validation"] = {"cases": results, "distinct_shapes": len({str(r["shapes"]) for r in results})}
        report["status"] = "ok" if ok else ("mismatch-allowed" if allow_mismatch else "rejected")
        if not ok:
            report["error"] = worst(results)
        files = []
        for name, tmp in temporaries.items():
            published = targets[name]
            if report["status"] == "rejected":
                published = targets[name].with_name(targets[name].name + ".rejected")
                targets[name].unlink(missing_ok=True)  # an older graph would no longer match this report
            atomic.publish(tmp, published)
            files.append(published)
        report["file"] = str(files[0])  # the entry graph; "graphs" lists them all
        report[integrity.KEY] = integrity.digests(*files)  # checked before every run (hub_core.deploy.integrity)
    finally:
        for tmp in temporaries.values():
            tmp.unlink(missing_ok=True)
    return report


def _check_case(program, model, case, sessions, on_torch, atol, rtol) -> dict:
    """One validation case: every graph alone, then the whole program, ONNX against torch."""
    entry = {"name": case.name, "source": case.source, "shapes": {k: list(v.shape) for k, v in case.arrays.items()}}
    alone = {}  # "graph.output" -> its comparison
    try:
        for name, arrays in program.examples(model, case.arrays).items():
            stats, _ = compare(on_torch[name](arrays), sessions[name].run(arrays), atol, rtol)
            alone.update({f"{name}.{output}": s for output, s in stats.items()})
        expected = program.run(on_torch, case.arrays)
        got = program.run({name: session.run for name, session in sessions.items()}, case.arrays)
    except ExportError:
        raise
    except Exception as err:  # noqa: BLE001 - onnxruntime's own error types: a failure of the graphs
        entry.update(ok=False, error=f"onnxruntime failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}")
        return entry
    whole, whole_ok = compare(expected, got, atol, rtol)
    entry["outputs"] = {**alone, **whole}
    entry["ok"] = whole_ok and all(stats.get("ok", False) for stats in alone.values())
    return entry
