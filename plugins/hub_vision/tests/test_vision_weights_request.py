"""A timm pretrained tag on the command line (``vision/timm:NAME.TAG``) is a request for those
weights: loaded from the local cache, or refused with one line naming where it looked, never
dropped into random init; hub.json and the model card say where the weights came from."""
import json

import pytest
import torch

from hub_core.common.errors import HubError
from hub_vision.backbone import build

TAGGED = "test_resnet.r160_in1k"
RUN = ["-t", "classification", "--epochs", "1", "--batch-size", "16", "-q", "-p", "image_size=32"]


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in a temporary folder (never the user's; nothing downloads)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_weights(cache, repo: str, state: dict) -> str:
    """Put ``state`` in ``cache`` the way huggingface_hub lays out a downloaded repository."""
    from safetensors.torch import save_file

    snapshot = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    save_file({k: v.clone().contiguous() for k, v in state.items()}, snapshot / "model.safetensors")
    return str(snapshot / "model.safetensors")


def test_a_tag_without_cached_weights_is_refused_naming_where_it_looked(hf_cache):
    with pytest.raises(HubError) as caught:
        build({"model_name": "resnet18", "variant": TAGGED})
    message = str(caught.value)
    assert "\n" not in message and "not in the local cache" in message
    assert f"timm/{TAGGED} in the Hugging Face cache {hf_cache}" in message and "--weights FILE" in message


def test_a_tag_loads_cached_weights_and_a_saved_model_rebuilds_without_the_cache(hf_cache):
    torch.manual_seed(1)
    reference = build({"model_name": TAGGED})  # the architecture alone: no request, random init
    assert reference.weights_from is None
    found = cache_weights(hf_cache, f"timm/{TAGGED}", reference.model.state_dict())
    torch.manual_seed(2)
    loaded = build({"model_name": "resnet18", "variant": TAGGED})
    pairs = zip(loaded.model.state_dict().values(), reference.model.state_dict().values())
    assert all(torch.equal(a, b) for a, b in pairs)
    assert loaded.weights_from == f"timm ({found})"
    (hf_cache / f"models--timm--{TAGGED}").rename(hf_cache / "gone")
    rebuilt = build(loaded.hub_config())  # what load_model does with hub.json: the weights come from the directory
    assert rebuilt.hub_config()["model_name"] == TAGGED and rebuilt.weights_from is None


def test_finetune_with_a_tag_fails_in_one_line_or_records_the_weights(hub, shapes, hf_cache, tmp_path):
    code, _, err = hub("finetune", f"vision/timm:{TAGGED}", "-d", shapes, "-o", tmp_path / "none", *RUN)
    assert code == 1 and "not in the local cache" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "none" / "hub.json").exists()

    found = cache_weights(hf_cache, f"timm/{TAGGED}", build({"model_name": TAGGED}).model.state_dict())
    code, _, err = hub("finetune", f"vision/timm:{TAGGED}", "-d", shapes, "-o", tmp_path / "cached", *RUN)
    assert code == 0, err
    source = json.loads((tmp_path / "cached" / "hub.json").read_text())["source"]
    assert source["weights"] == f"timm ({found})"
    assert f"weights `timm ({found})`" in (tmp_path / "cached" / "README.md").read_text()

    code, _, err = hub("finetune", "vision/timm:test_resnet", "-d", shapes, "-o", tmp_path / "random", *RUN)
    assert code == 0, err
    assert json.loads((tmp_path / "random" / "hub.json").read_text())["source"]["weights"] is None
    assert "no pretrained weights (random init)" in (tmp_path / "random" / "README.md").read_text()


def test_download_fetches_only_when_asked(hub, shapes, hf_cache, tmp_path, monkeypatch):
    """--download lets a user with a network fetch a tag's weights into the HF cache; without it
    nothing is fetched. The hub is faked here: nothing downloads in tests."""
    import huggingface_hub

    state = build({"model_name": TAGGED}).model.state_dict()
    fetched = []

    def fake_download(repo, name, **_):
        fetched.append((repo, name))
        if name != "model.safetensors":
            raise FileNotFoundError(name)
        return cache_weights(hf_cache, repo, state)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setenv("PLUGHUB_DOWNLOAD", "0")  # restored after the test: the CLI sets it for its process
    code, _, err = hub("finetune", f"vision/timm:{TAGGED}", "-d", shapes, "-o", tmp_path / "no", *RUN)
    assert code == 1 and "--download" in err and fetched == []
    code, _, err = hub("finetune", f"vision/timm:{TAGGED}", "-d", shapes, "-o", tmp_path / "yes", "--download", *RUN)
    assert code == 0, err
    assert fetched[0] == (f"timm/{TAGGED}", "model.safetensors")
    assert str(hf_cache) in json.loads((tmp_path / "yes" / "hub.json").read_text())["source"]["weights"]
