"""Torch eager against onnxruntime fp32 and int8, side by side, on one machine in one run.

Latency is the median of timed runs after warm-up runs, on the stored validation examples
when there are some (generated inputs otherwise), every engine with the same number of
intra-op threads (stated in the result). The metric is the task's own, computed by the
task on the stored validation data, so int8's cost is measured on the user's data.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from hub_core.train.data import ExampleSet, plan_batches, to_tensors
from hub_core.common.errors import UsageError
from hub_core.model.directory import HubModel, load_model
from hub_core.train.records import scalars
from hub_core.deploy.runtime import INT8_FILE, OnnxGraph, locate_onnx

WARMUP, REPEATS, BUDGET_S = 3, 30, 3.0


class TorchEngine:
    name = "torch eager fp32"

    def __init__(self, model: HubModel):
        self.model = model.eval()

    def __call__(self, arrays: dict) -> np.ndarray:
        with torch.inference_mode():
            return self.model(**to_tensors(arrays, "cpu")).float().numpy()


class OrtEngine:
    def __init__(self, name: str, path: Path, threads: int):
        self.name, self.path, self.graph = name, path, OnnxGraph(path, threads)

    def __call__(self, arrays: dict) -> np.ndarray:
        return self.graph.head_output(arrays)


def latency_stats(engine, arrays: dict, warmup: int = WARMUP, repeats: int = REPEATS,
                  budget_s: float = BUDGET_S) -> dict:
    """Seconds per call after ``warmup`` calls over ``repeats`` runs (fewer if over ``budget_s``,
    at least 5): median, quartiles q1/q3 (their gap is the spread) and the number of runs."""
    for _ in range(warmup):
        engine(arrays)
    times, spent = [], 0.0
    while len(times) < repeats and (spent < budget_s or len(times) < 5):
        started = time.perf_counter()
        engine(arrays)
        times.append(time.perf_counter() - started)
        spent += times[-1]
    q1, median, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return {"median": median, "q1": q1, "q3": q3, "runs": len(times)}


def median_latency(engine, arrays: dict, warmup: int = WARMUP, repeats: int = REPEATS, budget_s: float = BUDGET_S) -> float:
    """Median seconds per call (see latency_stats)."""
    return latency_stats(engine, arrays, warmup, repeats, budget_s)["median"]


def ratio_with_spread(base: dict, other: dict) -> dict:
    """base / other latency, its range from the quartiles, and whether it is beyond the noise
    (the two interquartile ranges do not overlap): a ratio from overlapping runs says nothing."""
    return {"speedup_vs_torch": round(base["median"] / other["median"], 2),
            "speedup_range": [round(base["q1"] / other["q3"], 2), round(base["q3"] / other["q1"], 2)],
            "beyond_spread": base["q1"] > other["q3"] or other["q1"] > base["q3"]}


def evaluate(engine, data: ExampleSet, task, batch_size: int = 32) -> dict:
    """The task's metrics over a labelled ExampleSet, from this engine's head outputs."""
    batches = []
    for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
        arrays, targets = data.collate(indices)
        batches.append((engine(arrays), targets))
    return scalars(task.metrics(batches))


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
               (OrtEngine("onnxruntime fp32", fp32_path, threads), fp32_path),
               (OrtEngine("onnxruntime int8", int8_path, threads), int8_path)]
    arrays, inputs = batch_of_inputs(model, val_examples, 1, rng)
    labelled = ExampleSet(val_examples, model.preprocessor, model.task, train=False) if val_examples else None
    monitor = model.task.monitor
    rows = []
    for engine, path in engines:
        row = {"engine": engine.name, "size_bytes": path.stat().st_size if path.is_file() else None,
               "latency_ms_batch1": round(median_latency(engine, arrays) * 1000, 3)}
        if labelled is not None:
            row["metrics"] = evaluate(engine, labelled, model.task)
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


def bench_dir(catalogue, directory: str | os.PathLike, batches=(1, 16), threads: int | None = None,
              repeats: int = REPEATS, warmup: int = WARMUP, seed: int = 0) -> dict:
    """``hub bench``: median latency and throughput of every engine at every batch size."""
    from hub_core.deploy.export import stored_examples

    directory = Path(directory)
    fp32_path, _ = locate_onnx(directory)
    threads = threads or torch.get_num_threads()
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = load_model(catalogue, directory)
        engines = [TorchEngine(model), OrtEngine("onnxruntime fp32", fp32_path, threads)]
        int8_path = directory / INT8_FILE
        if int8_path.is_file():
            engines.append(OrtEngine("onnxruntime int8", int8_path, threads))
        _, val_examples, _ = stored_examples(catalogue, model.manifest)
        rng = np.random.default_rng(seed)
        rows = []
        for batch in batches:
            arrays, source = batch_of_inputs(model, val_examples, batch, rng)
            base = None
            for engine in engines:
                stats = latency_stats(engine, arrays, warmup, repeats)
                base = base or stats
                rows.append({"engine": engine.name, "batch": batch, "median_ms": round(stats["median"] * 1000, 3),
                             "iqr_ms": round((stats["q3"] - stats["q1"]) * 1000, 3), "runs": stats["runs"],
                             "examples_per_s": round(batch / stats["median"], 1), **ratio_with_spread(base, stats),
                             "inputs": source})
    finally:
        torch.set_num_threads(previous)
    return {"model": str(directory), "threads": {"torch_intra_op": threads, "onnxruntime_intra_op": threads},
            "warmup": warmup, "repeats": repeats, "int8": int8_path.is_file(), "results": rows}
