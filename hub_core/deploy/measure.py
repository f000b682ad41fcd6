"""Engines side by side: latency (median and quartiles after warm-up) and the task's metric,
for ``hub bench`` and for ``hub export --quantize int8``'s comparison.

Latency is the median of timed runs after warm-up runs, on the stored validation examples
when there are some (generated inputs otherwise), every engine with the same number of
intra-op threads (stated in the result). The metric is the task's own, computed by the
task on the stored validation data, so int8's cost is measured on the user's data.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from hub_core.deploy.engine import GraphEngine, TorchEngine, evaluate as engine_metrics
from hub_core.model.directory import HubModel
from hub_core.data.sets import ExampleSet
from hub_core.model.metrics import scalars

WARMUP, REPEATS, BUDGET_S = 3, 30, 3.0


def latency_stats(run, arrays: dict, warmup: int = WARMUP, repeats: int = REPEATS,
                  budget_s: float = BUDGET_S) -> dict:
    """Seconds per call of ``run(arrays)`` (an engine's ``run``) after ``warmup`` calls
    over ``repeats`` runs (fewer if over ``budget_s``, at least 5): median, quartiles q1/q3
    (their gap is the spread) and the number of runs."""
    for _ in range(warmup):
        run(arrays)
    times, spent = [], 0.0
    while len(times) < repeats and (spent < budget_s or len(times) < 5):
        started = time.perf_counter()
        run(arrays)
        times.append(time.perf_counter() - started)
        spent += times[-1]
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return {"median": median, "q1": q1, "q3": q3, "runs": len(times)}


def median_latency(run, arrays: dict, warmup: int = WARMUP, repeats: int = REPEATS, budget_s: float = BUDGET_S) -> float:
    """Median seconds per call (see latency_stats)."""
    return latency_stats(run, arrays, warmup, repeats, budget_s)["median"]


def ratio_with_spread(base: dict, other: dict) -> dict:
    """base / other latency, its range from the quartiles, and whether it is beyond the noise
    (the two interquartile ranges do not overlap): a ratio from overlapping runs says nothing."""
    return {"speedup_vs_torch": round(base["median"] / other["median"], 2),
            "speedup_range": [round(base["q1"] / other["q3"], 2), round(base["q3"] / other["q1"], 2)],
            "beyond_spread": base["q1"] > other["q3"] or other["q1"] > base["q3"]}


def batch_of_inputs(model: HubModel, examples: list, batch: int, rng) -> tuple[dict, str]:
    """``batch`` stored examples (repeated when there are fewer), else generated inputs."""
    if examples:
        chosen = [examples[i % len(examples)] for i in range(batch)]
        data = ExampleSet(chosen, model.preprocessor, model.task, train=False, labelled=False)
        return data.collate(list(range(batch)))[0], "validation data"
    return model.preprocessor.synthetic(batch, 1.0, rng), "generated"


def compare_engines(model: HubModel, weights_path: Path, fp32_path: Path, int8_path: Path, val_examples: list,
                    data_source: str, rng, threads: int | None = None) -> dict:
    """Size, batch-1 latency and the task's metric of fp32 torch, fp32 ORT and int8 ORT."""
    threads = threads or torch.get_num_threads()
    engines = [(TorchEngine(model), weights_path),
               (GraphEngine("onnxruntime fp32", fp32_path, threads), fp32_path),
               (GraphEngine("onnxruntime int8", int8_path, threads), int8_path)]
    arrays, inputs = batch_of_inputs(model, val_examples, 1, rng)
    labelled = ExampleSet(val_examples, model.preprocessor, model.task, train=False) if val_examples else None
    monitor = model.task.monitor
    rows = []
    for engine, path in engines:
        row = {"engine": engine.name, "size_bytes": path.stat().st_size if path.is_file() else None,
               "latency_ms_batch1": round(median_latency(engine.run, arrays) * 1000, 3)}
        if labelled is not None:
            row["metrics"] = scalars(engine_metrics(engine, labelled, 32, model.task))
        rows.append(row)
    torch_ms = rows[0]["latency_ms_batch1"]
    for row in rows[1:]:
        row["speedup_vs_torch"] = round(torch_ms / row["latency_ms_batch1"], 2)
    rows[2]["speedup_vs_fp32_ort"] = round(rows[1]["latency_ms_batch1"] / rows[2]["latency_ms_batch1"], 2)
    result = {"threads": threads, "latency_inputs": inputs, "engines": rows,
              "metric_data": data_source if labelled is not None else "none: no stored validation data"}
    if labelled is not None and monitor in rows[0]["metrics"]:
        result["metric"] = monitor
        result["int8_metric_delta"] = rows[2]["metrics"][monitor] - rows[0]["metrics"][monitor]
    return result



