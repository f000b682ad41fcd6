"""Peak memory of `hub finetune` on interaction logs of growing size; prints JSON.

For each size, a log of implicit interactions (Zipf-distributed items) is written to a
temporary folder and `hub finetune recsys/mf --task retrieval` trains one epoch on it in a
child process, with a small validation file; the child's peak resident memory
(ru_maxrss) is recorded. The smallest size gives the fixed cost (Python, torch and the
other libraries); what grows beyond it is the data's footprint, reported per interaction
beside the model's size and the CSV's size.

    python benchmarks/recsys_memory.py [--sizes 10000,1000000] [--users 20000 --items 5000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def write_log(path: Path, rows: int, users: int, items: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, rows)
    item = np.minimum(rng.zipf(1.3, rows) - 1, items - 1)  # a long tail of items, like real logs
    item = (item * 7919 + user % 13) % items  # spread the popular items over the ID space
    with open(path, "w") as handle:
        handle.write("user,item\n")
        for start in range(0, rows, 100_000):
            block = "\n".join(f"u{u},i{i}" for u, i in zip(user[start:start + 100_000], item[start:start + 100_000]))
            handle.write(block + "\n")


def peak_rss_mb(command: list[str], env: dict) -> tuple[float, int, float]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, *command], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if not result.stdout.strip():
        raise SystemExit(f"benchmark child failed:\n{result.stderr[-2000:]}")
    kilobytes, code = result.stdout.split()[-2:]
    if int(code) != 0:
        raise SystemExit(f"hub finetune failed (exit {code}):\n{result.stderr[-2000:]}")
    return int(kilobytes) / 1024, int(code), seconds


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000", help="interaction counts, comma-separated")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4096)
    args = parser.parse_args()
    hub = str(Path(sys.executable).with_name("hub"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_log(tmp / "val.csv", 2_000, args.users, args.items, seed=1)
        for size in [int(s) for s in args.sizes.split(",")]:
            data = tmp / f"train-{size}.csv"
            write_log(data, size, args.users, args.items, seed=0)
            out = tmp / f"run-{size}"
            command = [hub, "finetune", "recsys/mf", "--task", "retrieval", "--data", str(data), "--val",
                       str(tmp / "val.csv"), "--out", str(out), "--epochs", "1", "--batch-size", str(args.batch_size),
                       "--lr", "0.01", "--quiet", "--overwrite", "-p", "negatives=4"]
            peak, _, seconds = peak_rss_mb(command, env)
            manifest = json.loads((out / "hub.json").read_text())
            config = manifest["backbone"]["config"]
            parameters = (config["num_users"] + config["num_items"]) * (config["dim"] + 1)
            runs.append({"interactions": size, "csv_mb": round(data.stat().st_size / 2**20, 1),
                         "users": config["num_users"] - 1, "items": config["num_items"] - 1,
                         "model_parameters": parameters, "model_mb": round(parameters * 4 / 2**20, 2),
                         "peak_rss_mb": round(peak, 1), "seconds": round(seconds, 1),
                         "ndcg@10": round(manifest["metrics"].get("ndcg@10", 0.0), 4)})
            data.unlink()
    base = runs[0]
    for run in runs[1:]:
        grown = run["peak_rss_mb"] - base["peak_rss_mb"]
        run["growth_over_smallest_mb"] = round(grown, 1)
        run["growth_bytes_per_interaction"] = round(grown * 2**20 / (run["interactions"] - base["interactions"]), 1)
        run["growth_over_csv"] = round(grown / run["csv_mb"], 2)
    print(json.dumps({"machine": machine.report(),
                      "benchmark": "recsys_memory", "model": "recsys/mf", "task": "retrieval", "epochs": 1,
                      "batch_size": args.batch_size, "negatives": 4, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
