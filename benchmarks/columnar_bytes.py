"""Images stored as bytes in Parquet and a datasets folder (issue 16): memory flat in the
number of images, and what reading a row again costs in order and shuffled.

    python benchmarks/columnar_bytes.py [--small 2000] [--large 20000]

1. Peak RSS of reading N images as bytes (the reader's scan and check) and preprocessing
   every one once through the loader (in this process), in a fresh process each, for N small
   and 10x: the goal is growth <= 1.2x (the bytes are never all in memory; each example
   keeps a Cell).
2. Cells read again per second (``read_cell`` + decode), in order and drawn at random from
   the whole table, from a Parquet file with 256-row groups and from a datasets folder
   (memory-mapped).
Prints JSON; the machine's CPU flags and load before and after are in it.
"""
from __future__ import annotations

import argparse
import io
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

from benchmarks.machine import Machine  # noqa: E402

SIZE = 64
GROUP = 256

READ_ALL = """
import sys, time
from hub_core.model.contracts import ReadOptions
from hub_core.plugin.manager import load_hub
from hub_core.data.sets import ExampleSet, plan_batches, read_examples
from hub_core.data.loader import Loader
from hub_vision.preprocess import ImagePreprocessor
started = time.perf_counter()
examples = read_examples(load_hub().catalogue.modality("image"), sys.argv[1], ReadOptions(labelled=False))
read = time.perf_counter() - started
data = ExampleSet(examples, ImagePreprocessor({"image_size": 32}), None, train=False, labelled=False)
loader = Loader(data, 0, tensors=False)
for arrays, _ in loader(plan_batches(len(data), 64, shuffle=False, seed=0, epoch=0), 0):
    pass
print(len(examples), round(read, 2), round(time.perf_counter() - started, 2))
"""
# the peak of a child of a small launcher: a process forked from this one (which holds the
# images) and exec'd would report this one's size as its peak (Linux keeps it across exec)
LAUNCH = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
          "sys.stderr.write(done.stderr); print(done.stdout.strip(), "
          "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")


def images(n: int, seed: int = 0) -> list[bytes]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    out = []
    for i in range(n):  # a shifted, noisy copy: PNGs of a realistic size (~12 KB), quick to make
        image = np.roll(base, i % SIZE, axis=1) ^ rng.integers(0, 8, (SIZE, SIZE, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
        out.append(buffer.getvalue())
    return out


def write_parquet(blobs: list[bytes], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"image": blobs}), path, row_group_size=GROUP)
    return path


def write_folder(blobs: list[bytes], path: Path) -> Path:
    import datasets

    datasets.Dataset.from_dict({"image": [{"bytes": b, "path": f"{i}.png"} for i, b in enumerate(blobs)]}
                               ).save_to_disk(str(path))
    return path


def peak(table: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PLUGHUB_CACHE_LIMIT": "0"}  # no disk cache: every image decoded
    done = subprocess.run([sys.executable, "-c", LAUNCH, sys.executable, "-c", READ_ALL, str(table)],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    n, read_s, total_s, rss = done.stdout.split()
    return {"images": int(n), "read_s": float(read_s), "read_and_preprocess_s": float(total_s),
            "peak_rss_mb": round(int(rss) / 1024, 1)}


def reread(table: Path, n: int) -> dict:
    from hub_core.common import cells
    from hub_core.model.contracts import ReadOptions
    from hub_vision.data import read_examples
    from hub_vision.images import as_rgb

    examples = read_examples(table, ReadOptions(labelled=False))
    rates = {}
    for name, order in (("in_order", np.arange(n)),  # n rows drawn from the whole table, as a shuffled epoch does
                        ("shuffled", np.random.default_rng(0).choice(len(examples), n, replace=False))):
        cells._open = cells._Open()  # as a fresh worker
        started = time.perf_counter()
        for i in order:
            as_rgb(examples[i].input)
        rates[f"{name}_per_s"] = round(len(order) / (time.perf_counter() - started), 1)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    args = parser.parse_args()
    machine = Machine.now()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        large = images(args.large)
        small_pq = write_parquet(large[:args.small], tmp / "small.parquet")
        large_pq = write_parquet(large, tmp / "large.parquet")
        large_ds = write_folder(large, tmp / "large_ds")
        memory = {"small": peak(small_pq), "large": peak(large_pq), "large_datasets_folder": peak(large_ds)}
        memory["rss_growth"] = round(memory["large"]["peak_rss_mb"] / memory["small"]["peak_rss_mb"], 3)
        memory["goal"], memory["met"] = "<= 1.2", memory["rss_growth"] <= 1.2
        access = {"parquet_256_row_groups": reread(large_pq, 2000), "datasets_folder": reread(large_ds, 2000)}
        sizes = {"parquet_mb": round(large_pq.stat().st_size / 2**20, 1),
                 "png_kb_mean": round(sum(map(len, large)) / len(large) / 1024, 1)}
    print(json.dumps({"benchmark": "columnar_bytes", "image_px": SIZE, "sizes": sizes, "memory": memory,
                      "reread_2000": access, "machine": machine.report(None)}, indent=2))


if __name__ == "__main__":
    main()
