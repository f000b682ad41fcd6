"""``--overwrite`` loses nothing: the new run is written beside the old model directory and
swapped in only when it has succeeded; a failed or interrupted run leaves the old one whole
(an interrupted one is continued by ``--resume``). ``--out`` may neither hold ``--data`` nor
lie inside it.
"""
from __future__ import annotations

import pytest

from hub_core.common.errors import HubError, Interrupted
from hub_core.train import loop
from tests.robustness.helpers import run_hub, snapshot
from tests.tinyplug import make_blobs


def finetune(data, out, *extra):
    return run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", out, "--batch-size", "16",
                   "--epochs", "1", "--quiet", *extra)


@pytest.fixture
def trained(tmp_path):
    data = make_blobs(tmp_path / "train.csv", n=60, seed=1)
    out = tmp_path / "model"
    code, _, err = finetune(data, out)
    assert code == 0, err
    return data, out


def leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def test_a_run_that_fails_leaves_the_old_model_whole(trained, monkeypatch):
    data, out = trained
    before = snapshot(out)

    def fail(run, position, stop):
        raise HubError("the first step failed")

    monkeypatch.setattr(loop, "run_epochs", fail)
    code, _, err = finetune(data, out, "--overwrite")
    assert code == 1 and "the first step failed" in err, err
    assert snapshot(out) == before and not leftovers(out)


def test_a_run_that_succeeds_replaces_the_old_model(trained):
    data, out = trained
    old = (out / "model.safetensors").read_bytes()
    code, _, err = finetune(data, out, "--overwrite", "--seed", "7")
    assert code == 0, err
    assert (out / "hub.json").is_file() and (out / "model.safetensors").read_bytes() != old
    assert not (out / ".hub.lock").exists() and not leftovers(out)
    assert ".hub-new" not in (out / "run.json").read_text().replace(str(out), "")


def test_an_interrupted_overwrite_keeps_the_old_model_and_resumes(trained, monkeypatch):
    data, out = trained
    before = snapshot(out)
    epochs = loop.run_epochs

    def interrupt(run, position, stop):
        loop.checkpoint(run, position)
        raise Interrupted("stopped")

    monkeypatch.setattr(loop, "run_epochs", interrupt)
    code, _, err = finetune(data, out, "--overwrite")
    assert code == 130 and "still holds the previous model" in err and "--resume" in err, err
    assert snapshot(out) == before
    monkeypatch.setattr(loop, "run_epochs", epochs)
    code, _, err = finetune(data, out, "--resume")
    assert code == 0, err
    assert snapshot(out) != before and (out / "hub.json").is_file() and not leftovers(out)


@pytest.mark.parametrize("where", ["holds", "inside"])
def test_out_and_data_must_be_apart(tmp_path, where):
    folder = tmp_path / "data"
    folder.mkdir()
    data = make_blobs(folder / "train.csv", n=60, seed=1)
    out, data_arg = (folder, data) if where == "holds" else (folder / "run", folder)
    before = snapshot(folder)
    code, _, err = finetune(data_arg, out, "--overwrite")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert ("contains --data" if where == "holds" else "is inside --data") in err, err
    assert snapshot(folder) == before and not (folder / "run").exists()
