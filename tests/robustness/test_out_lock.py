"""One writer per --out: a second ``hub finetune`` into the --out of a running one is refused
at once with one line naming the holder's PID, and writes nothing; the lock a SIGKILLed run
leaves behind is no blocker; a run that fails early leaves no empty --out; the lock file is
gone once a run ends.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.robustness.helpers import ROOT, run_hub, snapshot
from tests.tinyplug import make_blobs

RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
LOCK = ".hub.lock"


def finetune(data: Path, out: Path, *extra: str) -> list[str]:
    return ["finetune", "tiny/mlp", "-t", "classification", "-d", str(data), "-o", str(out), "--batch-size", "16",
            "--quiet", *extra]


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_run_into_the_same_out_is_refused_naming_the_holder(tmp_path):
    data = make_blobs(tmp_path / "train.csv", n=400, seed=1)
    out = tmp_path / "run"
    first = subprocess.Popen(RUNNER + finetune(data, out, "--epochs", "500"), env=ENV, stderr=subprocess.PIPE,
                             text=True)
    try:
        wait_for(lambda: (out / "run.json").is_file())  # past its checks: it is training
        assert (out / LOCK).read_text().strip() == str(first.pid)
        before = snapshot(out)
        for extra in ((), ("--overwrite",), ("--resume",)):
            code, _, err = run_hub(*finetune(data, out, "--epochs", "1", *extra))
            assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
            assert f"is in use by another hub process (PID {first.pid})" in err, err
        assert first.poll() is None
        changed = {k for k, v in snapshot(out).items() if before.get(k) != v and not k.endswith("metrics.jsonl")}
        assert not {k for k in changed if "checkpoints" not in k and "/tb/" not in k}, changed  # the first run's own writes only
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stderr.close()
    # the killed run's lock file stays behind; the kernel released its lock: no blocker
    assert (out / LOCK).is_file()
    code, _, err = run_hub(*finetune(data, out, "--epochs", "1", "--overwrite"))
    assert code == 0, err
    assert (out / "hub.json").is_file() and not (out / LOCK).exists()


def test_a_run_that_fails_early_leaves_no_out_folder(tmp_path):
    code, _, err = run_hub(*finetune(tmp_path / "missing.csv", tmp_path / "a" / "b" / "run", "--epochs", "1"))
    assert code == 1 and "no such file" in err, err
    assert not (tmp_path / "a").exists()


def test_the_lock_is_one_process_at_a_time_in_process_too(tmp_path):
    """Two holders in one process (hub tune's trial threads share a process): refused alike."""
    import pytest

    from hub_core.common.errors import UsageError
    from hub_core.common.lock import hold

    with hold(tmp_path / "x"):
        with pytest.raises(UsageError, match=f"PID {os.getpid()}"):
            with hold(tmp_path / "x"):
                pass
    assert not (tmp_path / "x").exists()  # made by the lock, empty: removed with it
