"""A run whose loss becomes NaN or infinite stops with one line and a non-zero exit, writes no
model directory, and keeps its last good checkpoint (never one of NaN weights)."""
from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from hub_core.train import loop
from tests.robustness.helpers import run_hub
from tests.tinyplug import make_blobs


def finetune(data, out, *extra):
    return run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", out, "--batch-size", "16",
                   "--quiet", *extra)


def test_a_huge_learning_rate_is_an_error_not_a_model(tmp_path):
    out = tmp_path / "run"
    code, _, err = finetune(make_blobs(tmp_path / "t.csv", n=64, seed=1), out, "--lr", "1e30", "--epochs", "2")
    assert code == 1 and err.count("\n") == 1 and "training diverged" in err and "--lr" in err, err
    assert not (out / "hub.json").exists() and not (out / "model.safetensors").exists()


def test_the_last_good_checkpoint_is_kept(tmp_path, monkeypatch):
    out = tmp_path / "run"
    step = loop.step

    def poisoned(run, position):  # a step of the second epoch turns the weights to NaN
        step(run, position)
        if position.epoch == 1:
            with torch.no_grad():
                next(iter(loop.trainable(run))).fill_(float("nan"))

    monkeypatch.setattr(loop, "step", poisoned)
    code, _, err = finetune(make_blobs(tmp_path / "t.csv", n=64, seed=1), out, "--epochs", "3")
    assert code == 1 and "training diverged" in err, err
    state = json.loads((out / "checkpoints" / "last" / "state.json").read_text())
    assert state["position"]["epoch"] == 1, state  # the end of the first epoch, before the poison
    weights = load_file(str(out / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert not (out / "hub.json").exists()
