"""``hub export``, ``hub bench``: ONNX export, validation, quantization, benchmarks."""
from __future__ import annotations

from pathlib import Path

import click


def _sizes(n: int | None) -> str:
    return "" if n is None else f"{n / 1e6:.2f} MB"


def print_export(report: dict) -> None:
    from hub_core.common.console import notice, print_table

    validation = report.get("validation")
    if validation:
        rows = []
        for case in validation["cases"]:
            shapes = " ".join(f"{k}{v}" for k, v in case["shapes"].items())
            if "error" in case:
                rows.append([case["name"], shapes, "", "", "", f"FAIL: {case['error']}"])
                continue
            stats = case["outputs"].values()
            agreement = [s["argmax_agreement"] for s in stats if "argmax_agreement" in s]
            rows.append([case["name"], shapes, f"{max(s.get('max_abs', float('inf')) for s in stats):.2e}",
                         f"{max(s.get('max_rel', float('inf')) for s in stats):.2e}",
                         f"{min(agreement):.3f}" if agreement else "", "ok" if case["ok"] else "MISMATCH"])
        print_table(f"onnxruntime vs torch on {validation['data']}", ["case", "shapes", "max abs", "max rel",
                                                                     "argmax agree", "result"], rows)
        for note in validation["notes"]:
            notice(note)
    int8 = report.get("int8")
    if int8:
        comparison = int8["comparison"]
        metric = comparison.get("metric")
        rows = [[row["engine"], _sizes(row["size_bytes"]), f"{row['latency_ms_batch1']:.2f}",
                 f"{row.get('speedup_vs_torch', 1.0):.2f}x",
                 f"{row['metrics'][metric]:.4f}" if metric and "metrics" in row else "n/a"] for row in comparison["engines"]]
        print_table(f"int8 ({int8['method']}: {int8['reason']}); metric on {comparison['metric_data']}; "
                    f"{comparison['threads']} threads",
                    ["engine", "size", "ms (batch 1)", "vs torch", metric or "metric"], rows)
        verdict = int8["judgement"]
        said = [f"label agreement {verdict['label_agreement']:.3f}"] if "label_agreement" in verdict else []
        if "metric_loss" in verdict:
            said.append(f"{verdict['metric']} {verdict['fp32']:.4f} -> {verdict['int8']:.4f} "
                        f"({verdict['metric_loss']:.2f} {verdict['metric_loss_unit']} lost)")
        notice(f"int8 {'ok' if verdict['ok'] else 'REJECTED'} on {verdict['data']}: {', '.join(said) or 'nothing to judge'} "
               f"(bound: <= {verdict['bound']['max_metric_loss']:g} lost, >= {verdict['bound']['min_label_agreement']:g} "
               "agreement)")
    opset = report.get("opset")
    notice(f"{report['status']}: {report['exporter']} exporter, opset {opset}, {_sizes(report.get('size_bytes'))} "
           f"-> {report['file']}" + (f"; int8 -> {int8['file']}" if int8 else ""))


def vs_torch(row: dict) -> str:
    """The speed-up with its range; '~' when it is within the runs' spread (noise, not a result)."""
    if row["engine"].startswith("torch"):
        return "1x"
    low, high = row["speedup_range"]
    shown = f"{row['speedup_vs_torch']:.2f}x ({low:.2f}-{high:.2f})"
    return shown if row["beyond_spread"] else f"~{shown} within spread"


def parse_batches(value: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        batches = ()
    if not batches or min(batches) < 1:
        raise click.BadParameter(f"expected batch sizes like 1,16, got {value!r}", param_hint="--batch")
    return batches


def add_commands(cli: click.Group) -> None:
    @cli.command("export")
    @click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("--out", "-o", type=click.Path(dir_okay=False), help="Where to write the graph [MODEL_DIR/model.onnx].")
    @click.option("--opset", type=click.IntRange(13, 30), help="ONNX opset [the exporter's default].")
    @click.option("--atol", type=click.FloatRange(min=0), default=1e-4, show_default=True,
                  help="Largest accepted |onnxruntime - torch| (plus --rtol x |torch|) on any output.")
    @click.option("--rtol", type=click.FloatRange(min=0), default=1e-4, show_default=True,
                  help="Relative part of the tolerance, for outputs with large values.")
    @click.option("--quantize", type=click.Choice(["int8"]), help="Also write model.int8.onnx and compare it with fp32.")
    @click.option("--int8-method", type=click.Choice(["auto", "dynamic", "static"]), default="auto", show_default=True,
                  help="static (calibrated on training data) suits CNNs, dynamic suits transformers; auto picks.")
    @click.option("--int8-max-loss", type=click.FloatRange(min=0), default=1.0, show_default=True,
                  help="int8 is rejected when it loses more of the task's metric on the validation data than this "
                       "(points for accuracy-like metrics, percent for error-like ones).")
    @click.option("--int8-min-agreement", type=click.FloatRange(0, 1), default=0.98, show_default=True,
                  help="int8 is rejected when it gives fp32's label on a smaller share of the validation data.")
    @click.option("--strict-int8", is_flag=True, help="Exit 1 when the int8 graph is rejected [a warning: fp32 stands].")
    @click.option("--all-axes-dynamic", is_flag=True,
                  help="Keep every named axis dynamic, even those the preprocessor never varies (image height/width).")
    @click.option("--no-validate", "no_validate", is_flag=True, help="Skip the onnxruntime validation.")
    @click.option("--allow-mismatch", is_flag=True, help="Keep a graph that differs from torch beyond the tolerance.")
    @click.option("--json", "as_json", is_flag=True, help="Print the report (export.json) as JSON.")
    @click.pass_obj
    def export_cmd(obj, model_dir, out, opset, atol, rtol, quantize, int8_method, int8_max_loss, int8_min_agreement,
                   strict_int8, all_axes_dynamic, no_validate, allow_mismatch, as_json):
        """Export a model directory to ONNX (backbone + head + the task's outputs) and validate
        it with onnxruntime at several input shapes against torch, on the stored validation
        data when present and on generated inputs. Writes MODEL_DIR/model.onnx and
        MODEL_DIR/export.json; a graph that differs beyond the tolerance is kept as
        model.onnx.rejected and the command fails. An int8 graph that breaks its bound is kept
        as model.int8.onnx.rejected with a warning (model.onnx stands; --strict-int8: fail).

        \b
        hub export runs/cls
        hub export runs/cls --quantize int8        # + model.int8.onnx, size/latency/metric table
        hub predict runs/cls "some text" --onnx    # then predict without torch
        """
        from hub_core.common.console import notice, print_json
        from hub_core.deploy.export import export_dir, int8_rejection, raise_if_rejected

        report = export_dir(obj.catalogue, Path(model_dir), out=out, opset=opset, atol=atol, rtol=rtol,
                            validate_graph=not no_validate, allow_mismatch=allow_mismatch, quantize=quantize,
                            int8_method=int8_method, all_axes_dynamic=all_axes_dynamic,
                            int8_bound={"max_metric_loss": int8_max_loss, "min_agreement": int8_min_agreement})
        if as_json:
            print_json(report)
        else:
            print_export(report)
        raise_if_rejected(report, strict_int8=strict_int8)
        if int8_rejection(report):
            notice(f"warning: {int8_rejection(report)}; model.onnx (fp32) is the export (--strict-int8 makes this an error)")

    add_bench_command(cli)


def add_bench_command(cli: click.Group) -> None:
    @cli.command("bench")
    @click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("--batch", "batches", default="1,16", show_default=True, help="Batch sizes, comma-separated.")
    @click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads for every engine [torch's default].")
    @click.option("--repeats", type=click.IntRange(min=5), default=30, show_default=True,
                  help="Timed runs per engine and batch (fewer if one takes long).")
    @click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs first.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.pass_obj
    def bench_cmd(obj, model_dir, batches, threads, repeats, warmup, as_json):
        """Latency and throughput of torch eager, onnxruntime fp32 and onnxruntime int8 (when
        model.int8.onnx exists), side by side: medians after warm-up, on the stored validation
        examples when present. Run 'hub export MODEL_DIR [--quantize int8]' first."""
        from hub_core.deploy.bench import bench_dir
        from hub_core.common.console import notice, print_json, print_table

        result = bench_dir(obj.catalogue, Path(model_dir), parse_batches(batches), threads, repeats, warmup)
        if as_json:
            print_json(result)
            return
        threads_used = result["threads"]
        print_table(f"median and interquartile range of up to {repeats} runs after {warmup} warm-up; intra-op "
                    f"threads: torch {threads_used['torch_intra_op']}, onnxruntime {threads_used['onnxruntime_intra_op']}; "
                    "vs torch: median ratio (range from the quartiles)",
                    ["engine", "batch", "median ms", "IQR ms", "runs", "examples/s", "vs torch", "inputs"],
                    [[r["engine"], r["batch"], f"{r['median_ms']:.2f}", f"{r['iqr_ms']:.2f}", r["runs"],
                      f"{r['examples_per_s']:.1f}", vs_torch(r), r["inputs"]] for r in result["results"]],
                    wrap=("vs torch", "inputs"))
        for note in result["notes"]:
            notice(f"warning: {note}")
        if result.get("int8_rejected"):
            notice(f"no int8 column: {result['int8_rejected']}")
        elif not result["int8"]:
            notice(f"no model.int8.onnx: 'hub export {model_dir} --quantize int8' adds the int8 column")
