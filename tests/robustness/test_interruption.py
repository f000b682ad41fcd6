"""Interruptions: a fine-tune killed with SIGKILL at many moments, three of them inside
checkpoint writes, resumes every time, and its final weights equal an uninterrupted run's,
bit for bit; Ctrl-C (SIGINT) and SIGTERM stop cleanly after saving a checkpoint that resumes
exactly.

Real processes (tests/run_hub.py: ``hub`` with the tiny test plugin), real signals. The run
checkpoints after every optimizer step, so most random kills land in a checkpoint write;
die_in_checkpoint.py kills itself at the three delicate moments of one for certain.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.robustness.helpers import ROOT, assert_identical
from tests.tinyplug import make_blobs

HERE = Path(__file__).resolve().parent
RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
DYING = [sys.executable, str(HERE / "die_in_checkpoint.py")]
RANDOM_KILLS = 6
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def command(data: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "tiny/mlp", "-t", "classification", "-d", str(data), "-o", str(out), "--epochs", "2",
            "--batch-size", "16", "--checkpoint-every", "1", "--quiet", *extra]


def checkpoint_step(out: Path) -> int:
    """The optimizer step of the last complete checkpoint (0 if none yet)."""
    for folder in ("last", "last.old"):
        try:
            return json.loads((out / "checkpoints" / folder / "state.json").read_text())["position"]["step"]
        except (OSError, ValueError, KeyError):
            continue  # being swapped right now, or not written yet
    return 0


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Training data and an uninterrupted run of the same command."""
    root = tmp_path_factory.mktemp("interruption")
    data = make_blobs(root / "train.csv", n=800, seed=4)
    subprocess.run(RUNNER + command(data, root / "straight"), check=True, env=ENV, timeout=300)
    return data, root / "straight"


def wait_for_progress(proc: subprocess.Popen, out: Path, beyond: int, timeout: float = 60) -> int:
    """Wait until the run has checkpointed past step ``beyond`` (or finished)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step = checkpoint_step(out)
        if step > beyond or proc.poll() is not None:
            return step
        time.sleep(0.002)
    raise AssertionError(f"no checkpoint past step {beyond} within {timeout} s")


@pytest.mark.slow
def test_kill_9_at_many_moments_then_resume_gives_the_uninterrupted_weights(straight):
    data, expected = straight
    out = expected.parent / "killed"
    # 1. die inside checkpoint writes, at the three moments that matter
    folder = out / "checkpoints"

    def temporary(complete: bool) -> bool:
        return any((tmp / "state.json").is_file() == complete for tmp in folder.glob(".last.tmp-*"))

    left_behind = {  # what each moment leaves, beside the previous complete checkpoint
        "inside": lambda: (folder / "last").is_dir() and temporary(complete=False),
        "before-swap": lambda: (folder / "last").is_dir() and temporary(complete=True),
        "mid-swap": lambda: (folder / "last.old").is_dir() and not (folder / "last").exists() and temporary(True),
    }
    for number, where in enumerate(left_behind):
        resume = ["--resume"] if number else []
        died = subprocess.run(DYING + [where, "5"] + command(data, out, *resume), env=ENV, capture_output=True,
                              text=True, timeout=300)
        assert died.returncode == -signal.SIGKILL, died.stderr
        assert left_behind[where](), f"killed {where}, but the checkpoint folder does not show it"
    # 2. SIGKILL from outside at random moments (mostly inside a write: one is written every step)
    rng, step, kills = random.Random(0), checkpoint_step(out), 0
    while kills < RANDOM_KILLS:
        proc = subprocess.Popen(RUNNER + command(data, out, "--resume"), env=ENV, stderr=subprocess.PIPE, text=True)
        step = wait_for_progress(proc, out, beyond=step)
        if proc.poll() is not None:  # it finished first: nothing left to interrupt
            assert proc.returncode == 0, proc.stderr.read()
            break
        time.sleep(rng.uniform(0, 0.02))
        proc.kill()
        proc.wait()
        proc.stderr.close()
        kills += 1
    assert kills >= 3, "the run finished before it could be interrupted a few times"
    # 3. the last resume finishes: the weights are the uninterrupted run's, and no debris is left
    subprocess.run(RUNNER + command(data, out, "--resume"), check=True, env=ENV, timeout=300)
    assert_identical(expected, out)
    leftovers = [p.name for p in out.rglob(".*")]
    assert leftovers == [], leftovers


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_resumes_exactly(straight, signum):
    """SIGTERM is what docker stop, systemd and Slurm send: it stops as Ctrl-C does."""
    data, expected = straight
    out = expected.parent / f"interrupted-{signum.name}"
    proc = subprocess.Popen(RUNNER + command(data, out), env=ENV, stderr=subprocess.PIPE, text=True)
    wait_for_progress(proc, out, beyond=20)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith("hub: error: interrupted after optimizer step ") and "--resume" in stderr
    stopped_at = int(stderr.split("optimizer step ")[1].split(":")[0])
    assert checkpoint_step(out) == stopped_at  # the checkpoint is of the very step it reported
    assert not (out / "model.safetensors").exists()
    subprocess.run(RUNNER + command(data, out, "--resume"), check=True, env=ENV, timeout=300)
    assert_identical(expected, out)
