"""Checkpoints of a partly frozen model hold what trains: the frozen weights are referenced by
digest, resume is still exact, and other frozen weights are refused."""
import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from hub_core.common.errors import HubError
from hub_core.model.contracts import ReadOptions
from hub_core.train.config import TrainConfig
from hub_core.train.loop import Job, run
from hub_core.train.trained import load_trained, save_trained
from tests.tinyplug import make_blobs

ARCH = {"inputs": 8, "width": 64, "depth": 3, "dropout": 0.0}


def frozen_run(hub, data, out, **job):
    """A head-only fine-tune (features not cached: the loop runs the frozen backbone)."""
    spec = hub.catalogue.entries["backbone"]["tiny/mlp"].spec
    object.__setattr__(spec, "default_config", ARCH)
    config = TrainConfig(epochs=2, batch_size=16, freeze="backbone", cache_features=False, checkpoint_every=1,
                         val_split=0.2, preprocess={})
    return run(hub.catalogue, Job(model="tiny/mlp", task="classification", data=str(data), out=str(out), quiet=True,
                                  read=ReadOptions(), **job), config)


def test_a_frozen_backbone_checkpoint_holds_the_head_and_resumes_exactly(tiny_hub, tmp_path):
    data = make_blobs(tmp_path / "train.csv", n=200, seed=0)
    frozen_run(tiny_hub, data, tmp_path / "whole")
    last = tmp_path / "whole" / "checkpoints" / "last"
    saved = load_file(str(last / "model.safetensors"))
    assert saved and all(name.startswith("head.") for name in saved), sorted(saved)
    frozen = json.loads((last / "state.json").read_text())["frozen"]
    assert frozen["tensors"] == 2 + 2 * ARCH["depth"] and len(frozen["sha256"]) == 64  # stem + fc (weight, bias)
    assert all(name.startswith("head.") for name in load_file(str(tmp_path / "whole" / "checkpoints" / "best" /
                                                                   "model.safetensors")))

    class Stop(Exception):
        pass

    def stop_after_first(epoch, metrics):
        if epoch == 1:
            raise Stop  # before the end-of-epoch checkpoint: resume starts from the last mid-epoch one

    with pytest.raises(Stop):
        frozen_run(tiny_hub, data, tmp_path / "cut", on_epoch=stop_after_first)
    frozen_run(tiny_hub, data, tmp_path / "cut", resume=True)
    whole, cut = load_file(str(tmp_path / "whole" / "model.safetensors")), load_file(str(tmp_path / "cut" /
                                                                                         "model.safetensors"))
    assert whole.keys() == cut.keys() and any(name.startswith("backbone.") for name in whole)  # the model dir: all
    for name in whole:
        assert whole[name].equal(cut[name]), name


def test_other_frozen_weights_are_refused_and_older_whole_checkpoints_load(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    record = save_trained(model, tmp_path / "trained.safetensors")
    assert set(load_file(str(tmp_path / "trained.safetensors"))) == {
        "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "2.weight", "2.bias"}
    expected = model[2].weight.detach().clone()
    with torch.no_grad():
        model[2].weight.zero_()
    load_trained(model, tmp_path / "trained.safetensors", record)
    assert model[2].weight.equal(expected)
    with torch.no_grad():
        model[0].weight.add_(1e-3)  # the frozen part is not what the checkpoint was made with
    from hub_core.train import trained

    trained._digests.clear()
    with pytest.raises(HubError, match="frozen weights differ"):
        load_trained(model, tmp_path / "trained.safetensors", record)
    from safetensors.torch import save_model

    save_model(model, str(tmp_path / "whole.safetensors"))  # a checkpoint from before: every tensor
    load_trained(model, tmp_path / "whole.safetensors", None)
    model[2].requires_grad_(False)
    model[0].requires_grad_(True)  # now a trainable tensor is missing from the file
    with pytest.raises(HubError, match="missing"):
        load_trained(model, tmp_path / "trained.safetensors", None)
