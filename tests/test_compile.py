"""--compile: the model trains through torch.compile and what it writes is unchanged."""
import json

import pytest
from safetensors.torch import load_file

from hub_core.model.contracts import ReadOptions
from hub_core.train import loop
from hub_core.train.config import TrainConfig
from tests.tinyplug import make_blobs


@pytest.mark.slow
def test_compile_trains_the_compiled_model_and_writes_the_usual_keys(tiny_hub, tmp_path, monkeypatch):
    compiled = []
    real = loop.compile_model

    def spy(run):
        real(run)
        compiled.append(run.model.backbone._compiled_call_impl is not None)

    monkeypatch.setattr(loop, "compile_model", spy)
    data = make_blobs(tmp_path / "train.csv", n=120, seed=0)
    out = tmp_path / "run"
    config = TrainConfig(epochs=1, batch_size=16, compile=True, group_by_length=False)
    loop.run(tiny_hub.catalogue, loop.Job(model="tiny/mlp", task="classification", data=str(data), out=str(out),
                                          quiet=True, read=ReadOptions()), config)
    assert compiled == [True]
    assert json.loads((out / "run.json").read_text())["config"]["compile"] is True
    keys = set(load_file(str(out / "model.safetensors")))
    assert keys and not any("_orig_mod" in k for k in keys)
    assert set(load_file(str(out / "checkpoints" / "last" / "model.safetensors"))) == keys
