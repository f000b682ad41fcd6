"""``hub export`` and kills: SIGTERM during an export (what docker stop sends) is handled as
Ctrl-C, one line, exit 130, and leaves no temporary graph; the temporary a SIGKILLed export
leaves (nothing can clean up after SIGKILL) is removed by the next export of that model.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.robustness.helpers import ROOT, run_hub
from tests.tinyplug import make_blobs

RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def temporaries(model: Path) -> list[str]:
    return sorted(p.name for p in model.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export-kill")
    data = make_blobs(root / "train.csv", n=120, seed=0)
    code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", root / "model",
                           "--epochs", "1", "--quiet")
    assert code == 0, err
    return root / "model"


def kill_while_writing(model: Path, signum: int) -> subprocess.CompletedProcess:
    """Start an export, send ``signum`` once its temporary graph exists; retried if it finished first."""
    for _ in range(5):
        proc = subprocess.Popen(RUNNER + ["export", str(model)], env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        while proc.poll() is None and not any(n.endswith(".onnx") for n in temporaries(model)):
            time.sleep(0.001)
        if proc.poll() is None:
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        proc.communicate()
    raise AssertionError("every export finished before its temporary graph was seen")


def test_sigterm_during_export_leaves_no_temporary(model):
    done = kill_while_writing(model, signal.SIGTERM)
    assert done.returncode == 130 and done.stderr.strip() == "hub: interrupted", done.stderr
    assert temporaries(model) == []


def test_a_killed_exports_temporary_is_removed_by_the_next_export(model):
    done = kill_while_writing(model, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    left = temporaries(model)
    assert any(n.startswith(".model.onnx.") and n.endswith(".onnx") for n in left), left
    code, _, err = run_hub("export", model)
    assert code == 0, err
    assert temporaries(model) == [] and (model / "model.onnx").is_file()
