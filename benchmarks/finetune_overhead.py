"""The engine's overhead, side by side in one run; prints JSON.

(a) per-step speed of `hub finetune`'s loop against a bare hand-written AdamW loop on the
    same model and fixed-shape data (goal: >= 0.97x the bare loop's samples/s);
(c) 5 epochs with a frozen backbone, features cached against recomputed (goal: >= 4x);
(d) peak memory (max RSS) of training on a file 1x and 10x as large (goal: <= 1.2x growth).
(b), the comparison with transformers.Trainer on text, is benchmarks/finetune_vs_trainer.py.

Uses the tiny test plugin's residual MLP (tests/tinyplug.py) sized to make compute real.
Run: .venv/bin/python benchmarks/finetune_overhead.py
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hub_core.plugin import manager as plugins  # noqa: E402

plugins.BUILTINS["tiny"] = "tests.tinyplug"

from hub_core.train.config import TrainConfig  # noqa: E402
from hub_core.model.contracts import ReadOptions  # noqa: E402
from hub_core.train.loop import Job, run  # noqa: E402

DIMS, WIDTH, DEPTH, BATCH = 64, 512, 4, 32
REPEATS = 3


def write_data(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, DIMS))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    header = ",".join(f"x{i}" for i in range(DIMS)) + ",label"
    lines = [",".join(f"{v:.4f}" for v in row) + f",{'ab'[t]}" for row, t in zip(x, y)]
    path.write_text(header + "\n" + "\n".join(lines) + "\n")
    return path


def hub_run(hub, data: Path, out: Path, **config) -> float:
    config = {"batch_size": BATCH, "val_split": 0.0, "group_by_length": False, "clip": None,
              "preprocess": {}, **config}
    job = Job(model="tiny/mlp", task="classification", data=str(data), out=str(out), quiet=True, overwrite=True,
              read=ReadOptions())
    arch = {"inputs": DIMS, "width": WIDTH, "depth": DEPTH, "dropout": 0.0}
    preset = hub.catalogue.entries["backbone"]["tiny/mlp"].spec
    object.__setattr__(preset, "default_config", arch)
    started = time.perf_counter()
    run(hub.catalogue, job, TrainConfig(**config))
    return time.perf_counter() - started


def bare_loop(data: Path, epochs: int) -> float:
    """What a careful user writes by hand: tensors in memory, AdamW, no extras."""
    from tests.tinyplug import build_mlp

    raw = np.loadtxt(data, delimiter=",", skiprows=1, usecols=range(DIMS), dtype=np.float32)
    x = torch.from_numpy((raw - raw.mean(0)) / raw.std(0))
    y = torch.from_numpy((np.loadtxt(data, delimiter=",", skiprows=1, usecols=[DIMS], dtype=str) == "b").astype(np.int64))
    model = build_mlp({"inputs": DIMS, "width": WIDTH, "depth": DEPTH, "dropout": 0.0}, None)
    head = torch.nn.Linear(WIDTH, 2)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.01)
    started = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(head(model(x=x[idx])["pooled"]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def per_step_overhead(hub, tmp: Path) -> dict:
    data = write_data(tmp / "a.csv", 2048)
    steps_per_epoch = 2048 // BATCH
    # The difference of a 4-epoch and a 1-epoch run is 3 epochs of pure loop (setup cancels).
    hub_run(hub, data, tmp / "warm", epochs=1)
    bare_loop(data, 1)
    hub_times, bare_times = [], []
    for _ in range(REPEATS):
        short = hub_run(hub, data, tmp / "a1", epochs=1)
        long = hub_run(hub, data, tmp / "a4", epochs=4)
        hub_times.append((long - short) / (3 * steps_per_epoch))
        bare_times.append(bare_loop(data, 3) / (3 * steps_per_epoch))
    hub_sps, bare_sps = BATCH / float(np.median(hub_times)), BATCH / float(np.median(bare_times))
    return {"hub_samples_per_s": round(hub_sps, 1), "bare_samples_per_s": round(bare_sps, 1),
            "ratio": round(hub_sps / bare_sps, 3), "goal": ">= 0.97",
            "model": f"residual MLP {DIMS}->{WIDTH}x{DEPTH}, batch {BATCH}"}


def cached_vs_uncached(hub, tmp: Path) -> dict:
    global WIDTH, DEPTH
    WIDTH, DEPTH = 1024, 8
    data = write_data(tmp / "c.csv", 2048)
    uncached = hub_run(hub, data, tmp / "c0", epochs=5, freeze="backbone", cache_features=False)
    cached = hub_run(hub, data, tmp / "c1", epochs=5, freeze="backbone", cache_features=True)
    WIDTH, DEPTH = 512, 4
    return {"uncached_s": round(uncached, 2), "cached_s": round(cached, 2), "speedup": round(uncached / cached, 2),
            "goal": ">= 4", "model": "residual MLP 64->1024x8, frozen, 5 epochs, 2048 examples"}


def peak_memory(tmp: Path) -> dict:
    """Each size trains in a fresh process; max RSS read from the child's rusage."""
    out = {}
    for factor in (1, 10):
        data = write_data(tmp / f"m{factor}.csv", 20_000 * factor)
        code = (f"import sys; sys.argv=['x']; sys.path.insert(0, {str(ROOT)!r}); import benchmarks.finetune_overhead as b;"
                f"from hub_core.plugin import manager as plugins; hub = plugins.load_hub();"
                f"b.hub_run(hub, __import__('pathlib').Path({str(data)!r}), __import__('pathlib').Path({str(tmp / 'mem')!r}),"
                f" epochs=1, max_steps=50)")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run([sys.executable, "-c", code], check=True)
        out[f"x{factor}_rows"] = 20_000 * factor
        out[f"x{factor}_file_mb"] = round(data.stat().st_size / 2**20, 1)
        out[f"x{factor}_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
        assert out[f"x{factor}_max_rss_mb"] >= before / 1024 - 1
    out["growth"] = round(out["x10_max_rss_mb"] / out["x1_max_rss_mb"], 3)
    out["goal"] = "<= 1.2"
    return out


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    hub = plugins.load_hub()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        result = {
            "load_average": __import__("os").getloadavg()[0],
            "threads": torch.get_num_threads(),
            "a_per_step_overhead": per_step_overhead(hub, tmp),
            "c_frozen_backbone_cache": cached_vs_uncached(hub, tmp),
            "d_peak_memory": peak_memory(tmp),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
