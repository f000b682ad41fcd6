"""Data workers frozen mid-run (stopped, perhaps halfway through sending a batch) do not hang
training: past PLUGHUB_WORKER_TIMEOUT they are stopped (killed, if need be) and the run ends
with the rest of its batches prepared in the training process."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.tinyplug import make_blobs

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        path = task / "children"
        if path.exists():
            found += [int(p) for p in path.read_text().split()]
    return found


def test_workers_frozen_mid_run_are_given_up_and_the_run_finishes(tmp_path):
    make_blobs(tmp_path / "train.csv", n=20000, seed=0)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PLUGHUB_WORKER_TIMEOUT": "2", "PLUGHUB_CACHE_LIMIT": "0"}
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "tests" / "run_hub.py"), "finetune", "tiny/mlp", "-t",
         "classification", "-d", str(tmp_path / "train.csv"), "-o", str(tmp_path / "run"), "--epochs", "2",
         "--workers", "1", "--batch-size", "8", "--patience", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not children(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # batches are flowing
        workers = children(process.pid)
        assert workers, "no worker process started"
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)  # frozen: alive, silent, perhaps halfway through a message
        _, stderr = process.communicate(timeout=150)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr[-2000:]
    assert "the data workers sent no batch in 2 s" in stderr and (tmp_path / "run" / "hub.json").is_file()
