"""Data at scale (issue 16): memory flat in the data size, workers, the disk cache.

    .venv/bin/python benchmarks/data_scale.py [--images 2000 20000] [--rows 100000 1000000]

Prints JSON. Every figure is measured here, in this run, each command in a fresh process
whose peak RSS (the largest process of its tree: the hub or one of its workers) is read
from rusage:

- peak RSS of ``hub evaluate`` and of ``hub finetune vision/tiny -p image_size=224
  --max-steps 20`` (its validation pass included) on N vs 10 N generated 224-px JPEGs
  (goal: growth <= 1.2x);
- steps/s with augmentation on, ``--workers 2`` vs ``--workers 0`` (goal >= 1.4x): the time
  of 40 minus 10 optimizer steps, so start-up is left out;
- a deterministic text pipeline (``nlp/bert-tiny``) fine-tuned twice on the same data:
  time to the first step, cold vs a disk-cache hit (goal >= 5x; the best of three hits), beside
  the floor of any hit: a bare script that imports torch and transformers and builds the model;
- peak RSS of ``hub evaluate`` (a text model) on a CSV and a Parquet table of 100 k vs 1 M
  text rows (goal <= 1.2x).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HUB = [sys.executable, str(ROOT / "tests" / "run_hub.py")]  # hub with the tiny test plugin (tiny/mlp)
MEASURE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def hub(*args, env=None) -> float:
    """Run hub ARGS in a fresh process tree; its peak RSS in MB."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *HUB, *map(str, args)], capture_output=True, text=True,
                          env=env)
    if done.returncode != 0:
        raise SystemExit(f"hub {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return round(int(done.stdout.strip().splitlines()[-1]) / 1024, 1)


def timed(*args, env=None) -> float:
    started = time.perf_counter()
    hub(*args, env=env)
    return time.perf_counter() - started


def machine(load_before: list[float]) -> dict:
    """The CPU flags that decide speed, the cores, the load average before and after."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    return {"flags": [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile") if f in flags],
            "cpus": os.cpu_count(), "load_before": load_before, "load_after": [round(x, 2) for x in os.getloadavg()]}


# ----------------------------------------------------------------------------- data
def write_images(folder: Path, n: int, seed: int = 0) -> Path:
    """n 224-px JPEGs in 4 class folders (16 distinct pictures a class, written as bytes: fast)."""
    from io import BytesIO

    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(4):
        (folder / f"c{c}").mkdir(parents=True, exist_ok=True)
    encoded = []
    for i in range(64):
        base = rng.integers(0, 255, (28, 28, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        buffer = BytesIO()
        Image.fromarray(base).save(buffer, "JPEG", quality=85)
        encoded.append(buffer.getvalue())
    for i in range(n):
        (folder / f"c{i % 4}" / f"{i:06d}.jpg").write_bytes(encoded[(i % 4) * 16 + (i // 4) % 16])
    return folder


def write_texts(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    words = np.array("the a movie film was great good bad awful plot actors music long short fun boring".split())
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(n):
            text = " ".join(rng.choice(words, int(rng.integers(8, 40))))
            writer.writerow([text, "pos" if "great" in text or "good" in text else "neg"])
    return path


def as_parquet(csv_path: Path) -> Path:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = csv_path.with_suffix(".parquet")
    pq.write_table(pacsv.read_csv(csv_path), out)
    return out


# ----------------------------------------------------------------------------- measurements
def image_memory(tmp: Path, counts: list[int]) -> dict:
    small = write_images(tmp / "img-small", 200)
    model = tmp / "img-model"
    hub("finetune", "vision/tiny", "-t", "classification", "-d", small, "-o", model, "-p", "image_size=224",
        "--max-steps", "2", "--quiet")
    out = {}
    for n in counts:
        folder = write_images(tmp / f"img-{n}", n)
        out[f"evaluate_{n}_rss_mb"] = hub("evaluate", model, "-d", folder, "--json")
        out[f"finetune_{n}_rss_mb"] = hub("finetune", "vision/tiny", "-t", "classification", "-d", folder, "-o",
                                          tmp / f"ft-{n}", "-p", "image_size=224", "--max-steps", "20", "--quiet")
    a, b = counts
    out["evaluate_growth"] = round(out[f"evaluate_{b}_rss_mb"] / out[f"evaluate_{a}_rss_mb"], 3)
    out["finetune_growth"] = round(out[f"finetune_{b}_rss_mb"] / out[f"finetune_{a}_rss_mb"], 3)
    out["goal"] = "growth <= 1.2 for both"
    return out


def worker_speed(tmp: Path) -> dict:
    folder = write_images(tmp / "img-speed", 2000, seed=1)
    times = {}
    for workers in (0, 2):
        for steps in (10, 40):
            times[workers, steps] = timed("finetune", "vision/tiny", "-t", "classification", "-d", folder, "-o",
                                          tmp / f"speed-{workers}-{steps}", "-p", "image_size=224", "--val-split",
                                          "0.01", "--max-steps", steps, "--batch-size", "32", "--workers", workers,
                                          "--quiet")
    rate = {w: 30 / max(1e-6, times[w, 40] - times[w, 10]) for w in (0, 2)}
    return {"workers_0_steps_per_s": round(rate[0], 3), "workers_2_steps_per_s": round(rate[2], 3),
            "speedup": round(rate[2] / rate[0], 3), "goal": ">= 1.4",
            "setup": "vision/tiny at 224 px, augmentation on, batch 32; (40 - 10 steps) / time difference"}


def first_step(tmp: Path, data: Path, out: Path, env) -> float:
    """Seconds from launch to the first line the loop prints once training starts."""
    started = time.perf_counter()
    proc = subprocess.Popen([*HUB, "finetune", "nlp/bert-tiny", "-t", "classification", "-d", str(data), "-o",
                             str(out), "--max-steps", "1", "--val-split", "0.1"], stderr=subprocess.PIPE, text=True,
                            env=env)
    seen, said = None, []
    for line in proc.stderr:
        said.append(line)
        if "trainable" in line and "train /" in line:  # describe_start: the data is ready, the first step next
            seen = time.perf_counter() - started
            break
    proc.kill()  # what follows (the epoch, the final evaluation) is not start-up
    proc.wait()
    if seen is None:
        raise SystemExit("the text fine-tune failed:\n" + "".join(said[-20:]))
    return seen


# the floor of any cached start in a process of its own: the libraries a BERT fine-tune imports, and the model
BARE_BERT = ("import torch; from transformers import BertConfig, BertModel; BertModel(BertConfig(hidden_size=128, "
             "num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)); import os; os._exit(0)")


def cache_hit(tmp: Path, rows: int) -> dict:
    data = write_texts(tmp / "texts.csv", rows)
    env = {**os.environ, "PLUGHUB_CACHE": str(tmp / "text-cache")}
    cold = first_step(tmp, data, tmp / "text-1", env)
    warm = min(first_step(tmp, data, tmp / f"text-{i}", env) for i in (2, 3, 4))  # start-up swings with the neighbours
    floor = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_BERT], check=True, env=env)
        floor.append(time.perf_counter() - started)
    return {"rows": rows, "cold_to_first_step_s": round(cold, 2), "cached_to_first_step_s": round(warm, 2),
            "speedup": round(cold / warm, 2), "goal": ">= 5",
            "bare_import_and_build_s": round(min(floor), 2), "bare_speedup": round(cold / min(floor), 2)}


TINY_TEXT = ["--backbone-option", "hidden_size=16", "--backbone-option", "num_hidden_layers=1", "--backbone-option",
             "intermediate_size=32", "--backbone-option", "num_attention_heads=1", "-p", "max_length=16", "-p",
             "vocab_size=500"]  # a text model whose forward pass is cheap next to reading a million rows


def table_memory(tmp: Path, rows: list[int]) -> dict:
    model = tmp / "text-model"
    hub("finetune", "nlp/bert-tiny", "-t", "classification", "-d", write_texts(tmp / "text-train.csv", 2000), "-o",
        model, "--max-steps", "5", *TINY_TEXT, "--quiet")
    out = {}
    for n in rows:
        table = write_texts(tmp / f"text-{n}.csv", n, seed=2)
        out[f"csv_{n}_rss_mb"] = hub("evaluate", model, "-d", table, "--json")
        out[f"parquet_{n}_rss_mb"] = hub("evaluate", model, "-d", as_parquet(table), "--json")
    a, b = rows
    out["csv_growth"] = round(out[f"csv_{b}_rss_mb"] / out[f"csv_{a}_rss_mb"], 3)
    out["parquet_growth"] = round(out[f"parquet_{b}_rss_mb"] / out[f"parquet_{a}_rss_mb"], 3)
    out["goal"] = "growth <= 1.2"
    out["setup"] = "hub evaluate of nlp/bert-tiny (1 layer, 16 wide, max_length 16) on generated review texts"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs=2, default=[5000, 50000])
    parser.add_argument("--rows", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--text-rows", type=int, default=100_000)
    parser.add_argument("--only", nargs="*", choices=["images", "workers", "cache", "tables"],
                        default=["images", "workers", "cache", "tables"])
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    report = {"benchmark": "data_scale"}
    with tempfile.TemporaryDirectory(prefix="data-scale-") as folder:
        tmp = Path(folder)
        os.environ.setdefault("PLUGHUB_CACHE", str(tmp / "cache"))  # never the user's cache
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        jobs = {"images": lambda: image_memory(tmp, args.images), "workers": lambda: worker_speed(tmp),
                "cache": lambda: cache_hit(tmp, args.text_rows), "tables": lambda: table_memory(tmp, args.rows)}
        for name in args.only:
            started = time.perf_counter()
            report[name] = jobs[name]()
            report[name]["seconds"] = round(time.perf_counter() - started, 1)
            print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    report["machine"] = machine(load_before)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
