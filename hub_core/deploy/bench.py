"""``hub bench``: torch eager against onnxruntime fp32 (and int8), every batch size, one
machine, one run (the measuring is ``hub_core.deploy.measure``'s)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from hub_core.common.errors import UsageError
from hub_core.deploy.engine import GraphEngine, TorchEngine
from hub_core.deploy.inputs import stored_examples
from hub_core.deploy.measure import REPEATS, WARMUP, batch_of_inputs, latency_stats, ratio_with_spread
from hub_core.deploy.runtime import INT8_FILE, locate_onnx
from hub_core.model.build import load_model


def bench_dir(catalogue, directory: str | os.PathLike, batches=(1, 16), threads: int | None = None,
              repeats: int = REPEATS, warmup: int = WARMUP, seed: int = 0) -> dict:
    """``hub bench``: median latency and throughput of every engine at every batch size."""
    directory = Path(directory)
    fp32_path, _ = locate_onnx(directory)
    threads = threads or torch.get_num_threads()
    if threads < 1:
        raise UsageError(f"--threads must be at least 1, got {threads}")
    load_before = _load()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = load_model(catalogue, directory)
        engines = [TorchEngine(model), GraphEngine("onnxruntime fp32", fp32_path, threads)]
        int8_path = directory / INT8_FILE
        if int8_path.is_file():
            engines.append(GraphEngine("onnxruntime int8", int8_path, threads))
        _, val_examples, _ = stored_examples(catalogue, model.manifest)
        rng = np.random.default_rng(seed)
        rows = []
        for batch in batches:
            arrays, source = batch_of_inputs(model, val_examples, batch, rng)
            base = None
            for engine in engines:
                stats = latency_stats(engine.run, arrays, warmup, repeats)
                base = base or stats
                rows.append({"engine": engine.name, "batch": batch, "median_ms": round(stats["median"] * 1000, 3),
                             "iqr_ms": round((stats["q3"] - stats["q1"]) * 1000, 3), "runs": stats["runs"],
                             "examples_per_s": round(batch / stats["median"], 1), **ratio_with_spread(base, stats),
                             "inputs": source})
    finally:
        torch.set_num_threads(previous)
    return {"model": str(directory), "threads": {"torch_intra_op": threads, "onnxruntime_intra_op": threads},
            "warmup": warmup, "repeats": repeats, "int8": int8_path.is_file(),
            "int8_rejected": None if int8_path.is_file() else int8_rejected(directory), "results": rows,
            "notes": noise_notes(rows, threads, load_before)}


def noise_notes(rows: list[dict], threads: int, load_before: float | None) -> list[str]:
    """What makes this run's ratios unreliable, in words: runs whose spreads overlap torch's
    (the ratio says nothing), and a machine busier than its cores (the timings measure the
    neighbours: an OpenMP barrier waits for a descheduled thread, ratios swing 10-100x)."""
    notes = []
    within = [f"{r['engine']} at batch {r['batch']}" for r in rows
              if not r["engine"].startswith("torch") and not r["beyond_spread"]]
    if within:
        notes.append(f"within the runs' spread (marked ~, no speed-up can be read from them): {', '.join(within)}")
    cores = os.cpu_count() or 1
    if load_before is not None and load_before + threads > cores + 0.5:  # the load before measuring: the others'
        notes.append(f"load {load_before:.1f} on {cores} cores with {threads} threads per engine: the timings include "
                     "the other processes' (run on a quieter machine, or with --threads 1 for steadier ratios)")
    return notes


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # not every platform has it
        return None


def int8_rejected(directory: Path) -> str | None:
    """Why the directory has no int8 graph when ``hub export --quantize int8`` rejected one
    (export.json's verdict), so bench does not ask for the export the user just ran."""
    import json

    from hub_core.deploy.export import REPORT, int8_rejection

    try:
        return int8_rejection(json.loads((directory / REPORT).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
