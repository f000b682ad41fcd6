"""hub demo: one row per registered demo, each a pipeline of stages (data, fine-tune, evaluate,
export, predict, latency) across training and deployment, so it sits with the commands.

Each plugin registers ``DemoSpec`` rows (hook ``register_demos``). For each row the demo
writes its sample data (generated deterministically, no network), fine-tunes the model,
evaluates it, exports it to ONNX with validation, predicts with onnxruntime alone and
times torch against onnxruntime. A row that fails keeps its error and the others still run.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from hub_core.common.errors import HubError, UsageError
from hub_core.plugin.specs import DemoSpec, call

SEED = 0
ERROR_WIDTH = 120  # an error cell in the table; --json keeps the whole message
LATENCY_REPEATS = 20  # batch-1 medians: enough for a stable figure, a second or two per row


@dataclass
class DemoRow:
    """One line of the summary table (and of ``hub demo --json``)."""

    name: str
    modality: str
    model: str
    task: str
    directory: str
    metric: str | None = None
    value: float | None = None
    export_max_diff: float | None = None
    torch_ms: float | None = None
    onnx_ms: float | None = None
    prediction: str | None = None
    seconds: float = 0.0
    error: str | None = None
    stages: dict = field(default_factory=dict)  # seconds per stage

    def to_json(self) -> dict:
        return asdict(self)


def select(catalogue, only: tuple[str, ...] = ()) -> list[DemoSpec]:
    """The registered demos, or those ``only`` names: a demo by its name, else every demo of a
    modality (``audio`` is the demo named so, not also the modality's speech-recognition row)."""
    specs = [catalogue.entries["demo"][name].spec for name in catalogue.names("demo")]
    if not only:
        return specs
    unknown = [o for o in only if not any(o in (s.name, s.modality) for s in specs)]
    if unknown:
        known = sorted({s.modality for s in specs} | {s.name for s in specs})
        raise UsageError(f"--only {unknown[0]!r}: no demo of that name or modality (installed: {', '.join(known) or 'none'})")
    names = {s.name for s in specs}
    return [s for s in specs if s.name in only or any(o == s.modality and o not in names for o in only)]


def run_demos(catalogue, specs: list[DemoSpec], out: Path, progress: Callable[[str], None]) -> list[DemoRow]:
    rows = []
    for number, spec in enumerate(specs, 1):
        progress(f"[{number}/{len(specs)}] {spec.name}: {spec.model} for {spec.task}")
        rows.append(run_demo(catalogue, spec, out / spec.name.replace("/", "-"), progress))
    return rows


def run_demo(catalogue, spec: DemoSpec, folder: Path, progress: Callable[[str], None]) -> DemoRow:
    """Every stage of the main job for one demo; the first failing stage ends the row."""
    row = DemoRow(spec.name, spec.modality, spec.model, spec.task, str(folder / "model"))
    started = time.perf_counter()
    stage, data = "data", {}
    try:
        for stage, step in STAGES:
            progress(f"    {stage} ...")
            begun = time.perf_counter()
            data = step(catalogue, spec, folder, data, row) or data
            row.stages[stage] = round(time.perf_counter() - begun, 1)
    except Exception as err:  # noqa: BLE001 - the row shows the error, the other demos still run
        # A HubError is already one line for people; anything else also names its type.
        row.error = f"{stage}: {err}" if isinstance(err, HubError) else f"{stage}: {type(err).__name__}: {err}"
        progress(f"    failed at {row.error}")
    row.seconds = round(time.perf_counter() - started, 1)
    return row


# ----------------------------------------------------------------------------- stages
def make_data(catalogue, spec, folder, data, row) -> dict:
    data = call(spec.make_data, folder / "data", SEED)
    missing = [key for key in ("train", "val", "inputs") if key not in data]
    if missing:
        raise HubError(f"demo {spec.name!r}: make_data returned no {', '.join(missing)}")
    return data


def finetune(catalogue, spec, folder, data, row) -> None:
    from hub_core.train.config import build_config
    from hub_core.model.contracts import ReadOptions
    from hub_core.train.loop import Job, run

    job = Job(model=spec.model, task=spec.task, data=str(data["train"]), val=str(data["val"]), out=row.directory,
              weights=data.get("weights"), read=ReadOptions(**data.get("read", {})), overwrite=True)
    # not quiet: a fine-tune of minutes says how far it is (epoch lines, a progress line every 10 s)
    run(catalogue, job, build_config(None, {"seed": SEED, "device": "cpu", **spec.options}))


def evaluate(catalogue, spec, folder, data, row) -> None:
    from hub_core.model.contracts import ReadOptions
    from hub_core.deploy.evaluation import evaluate_dir
    from hub_core.model.manifest import load_preprocessor_and_task

    metrics = evaluate_dir(catalogue, Path(row.directory), str(data["val"]), ReadOptions(**data.get("read", {})), 64)
    monitor = load_preprocessor_and_task(catalogue, Path(row.directory))[2].monitor
    row.metric, row.value = monitor, float(metrics[monitor])


def export(catalogue, spec, folder, data, row) -> None:
    from hub_core.deploy.export import export_dir, raise_if_rejected

    report = export_dir(catalogue, Path(row.directory))
    raise_if_rejected(report)
    diffs = [stats["max_abs"] for case in report["validation"]["cases"] for stats in case.get("outputs", {}).values()
             if "max_abs" in stats]
    row.export_max_diff = max(diffs) if diffs else None


def predict(catalogue, spec, folder, data, row) -> None:
    from hub_core.model.contracts import ReadOptions
    from hub_core.deploy.inputs import describe, existing_path
    from hub_core.deploy.evaluation import predict_dir

    read = ReadOptions(**{**data.get("read", {}), "labelled": False})
    examples, answers = predict_dir(catalogue, Path(row.directory), tuple(data["inputs"]), read, onnx=True)
    shown = str(examples[0].source or examples[0].input)
    path = existing_path(shown)
    shown = path.name if path is not None and path.is_file() else shown
    answer = answers[0]
    said = f"score {answer['score']:.3f}" if isinstance(answer, dict) and set(answer) == {"score"} else describe(answer)
    row.prediction = f"{shorten(shown, 24)} -> {shorten(said.split(chr(9))[0], 20)}"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def latency(catalogue, spec, folder, data, row) -> None:
    from hub_core.deploy.bench import bench_dir

    # One intra-op thread for both engines: comparable, and steady on a busy machine.
    result = bench_dir(catalogue, Path(row.directory), batches=(1,), threads=1, repeats=LATENCY_REPEATS, warmup=3)
    by_engine = {r["engine"]: r["median_ms"] for r in result["results"]}
    row.torch_ms = by_engine.get("torch eager fp32")
    row.onnx_ms = by_engine.get("onnxruntime fp32")


STAGES = [("data", make_data), ("finetune", finetune), ("evaluate", evaluate), ("export", export),
          ("predict", predict), ("latency", latency)]


def table_rows(rows: list[DemoRow]) -> list[list]:
    """The summary table: one line per demo, its error in place of the figures when it failed."""
    def fmt(value, pattern):
        return "" if value is None else pattern.format(value)

    lines = []
    for row in rows:
        metric = f"{row.metric} {row.value:.3f}" if row.value is not None else ""
        lines.append([row.modality, row.model, metric, fmt(row.export_max_diff, "{:.1e}"),
                      fmt(row.torch_ms, "{:.2f}") + (" / " + fmt(row.onnx_ms, "{:.2f}") if row.onnx_ms else ""),
                      shorten(row.error, ERROR_WIDTH) if row.error else row.prediction or "", f"{row.seconds:.0f}"])
    return lines


TABLE_COLUMNS = ["modality", "model", "val metric", "ONNX max diff", "torch / ORT ms", "ORT prediction (or error)", "s"]
TABLE_WRAP = ("val metric", "ORT prediction (or error)")  # free text; the other columns keep their cells whole
