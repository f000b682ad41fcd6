"""Storage: an --out that cannot be written (a path too long, a file in the way, a read-only
folder) or a file system nearly full fails before the data and the model load, with one
line; a write that fails mid-run (the file system fills up: a real OS file-size limit,
tests/robustness/fill_disk.py) is one ``hub: error:`` line that leaves no temporary file or
folder and the last good checkpoint, from which ``--resume`` ends with the weights an
uninterrupted run gives, bit for bit.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from tests.robustness.helpers import ROOT, assert_identical, run_hub
from tests.tinyplug import make_blobs

HERE = Path(__file__).resolve().parent
RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
FILLING = [sys.executable, str(HERE / "fill_disk.py")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def finetune(data, out, *extra) -> list[str]:
    return ["finetune", "tiny/mlp", "-t", "classification", "-d", str(data), "-o", str(out), "--epochs", "2",
            "--batch-size", "16", "--checkpoint-every", "1", "--quiet", *extra]


def one_line(code, err, expected_code, says):
    assert code == expected_code and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("hub: error: ") and says in err, err


@pytest.mark.parametrize("make_out, says", [
    (lambda root: root / ("x" * 250) / ("y" * 250) / ("z" * 5000), "the path is too long"),
    (lambda root: (root / "a-file").write_text("") or root / "a-file" / "run", "a part of the path is a file"),
    (lambda root: (root / "a-file").write_text("") or root / "a-file", "it is a file, not a folder"),
], ids=["5000-characters", "file-in-the-path", "out-is-a-file"])
def test_an_unusable_out_fails_before_the_data_is_read(workdir, make_out, says):
    out = make_out(workdir)
    code, _, err = run_hub(*finetune(workdir / "no-such-data.csv", out))  # the data would fail next: it is not reached
    one_line(code, err, 2, says)
    assert len(err) < 400  # a 5,000-character path is not repeated whole


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_fails_before_the_data_is_read(workdir):
    (workdir / "ro").mkdir(mode=0o555)
    code, _, err = run_hub(*finetune(workdir / "no-such-data.csv", workdir / "ro" / "run"))
    one_line(code, err, 2, "not writable")


def test_a_nearly_full_file_system_fails_before_the_data_is_read(workdir, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    code, _, err = run_hub(*finetune(workdir / "no-such-data.csv", workdir / "run"))
    one_line(code, err, 1, "1.0 MiB free on its file system, this needs about 16.0 MiB")
    assert not (workdir / "run").exists()


def test_the_model_size_is_checked_against_the_free_space_before_training(workdir, monkeypatch):
    """16 MiB pass the first check; the model's checkpoints and weights are what the second weighs."""
    data = make_blobs(workdir / "train.csv", n=100, seed=0)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(2**30, 2**30 - 17 * 2**20, 17 * 2**20))
    code, _, err = run_hub(*finetune(data, workdir / "run", "--backbone-option", "width=1024"))
    one_line(code, err, 1, "17.0 MiB free on its file system, this needs about")
    assert not (workdir / "run" / "run.json").exists()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    root = tmp_path_factory.mktemp("full-disk")
    data = make_blobs(root / "train.csv", n=200, seed=3)
    subprocess.run(RUNNER + finetune(data, root / "straight"), check=True, env=ENV, timeout=300)
    return data, root / "straight"


@pytest.mark.parametrize("where, nth, says", [
    ("checkpoint", 5, "hub: error: writing the checkpoint {out}/checkpoints/last failed: File too large; the previous "
                      "checkpoint ({out}/checkpoints/last) is intact: free some space and continue with --resume"),
    ("model", 0, "hub: error: writing the model directory {out} failed: File too large; the checkpoint is kept: free "
                 "some space and run the same command with --resume"),
])
def test_a_file_system_that_fills_up_leaves_the_run_resumable(straight, where, nth, says):
    data, expected = straight
    out = expected.parent / f"full-{where}"
    died = subprocess.run(FILLING + [where, str(nth)] + finetune(data, out), env=ENV, capture_output=True, text=True,
                          timeout=300)
    assert died.returncode == 1 and died.stderr.count("\n") == 1, died.stderr
    assert died.stderr.strip() == says.format(out=out)
    assert [p.name for p in out.rglob(".*")] == []  # no temporary file or folder, no lock
    assert not (out / "hub.json").exists()
    resumed = subprocess.run(RUNNER + finetune(data, out, "--resume"), env=ENV, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(expected, out)
