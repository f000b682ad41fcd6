"""The speech backbones: features and masks, configs that rebuild them, and local weights."""
from __future__ import annotations

import argparse
import re

import numpy as np
import pytest
import torch
from conftest import TINY_WAV2VEC2
from safetensors.torch import save_file

from hub_core.common.errors import HubError, UsageError
from hub_speech.logmel import build_logmel_cnn
from hub_speech.preprocess import AudioPreprocessor
from hub_speech.wav2vec2 import build_wav2vec2


def batch_for(backbone, scale=1.0, size=3):
    pre = AudioPreprocessor(backbone.preprocessor_config())
    return {k: torch.from_numpy(v) for k, v in pre.synthetic(size, scale, np.random.default_rng(0)).items()}


@pytest.mark.parametrize("build, config", [(build_wav2vec2, TINY_WAV2VEC2), (build_logmel_cnn, {}),
                                           (build_logmel_cnn, {"pooling": "stats"})])
def test_features_have_the_declared_shapes_and_masks(build, config):
    backbone = build(config).eval()
    batch = batch_for(backbone)
    with torch.no_grad():
        out = backbone(**batch)
    assert out["pooled"].shape == (3, backbone.feature_dim)
    assert out["sequence"].shape[:2] == out["mask"].shape and out["sequence"].shape[2] == backbone.feature_dim
    frames = out["mask"].sum(1)
    assert frames[0] == out["mask"].shape[1] and (frames[1:] <= frames[0]).all() and (frames > 0).all()
    with torch.no_grad():  # no lengths: every sample is real
        assert backbone(waveform=batch["waveform"])["mask"].all()


@pytest.mark.parametrize("build, config", [
    (build_wav2vec2, TINY_WAV2VEC2),
    (build_wav2vec2, dict(TINY_WAV2VEC2, extractor_mode="layer_norm", encoder_layer_norm_first=True)),
    (build_logmel_cnn, {}),
    (build_logmel_cnn, {"pooling": "stats"}),
    (build_logmel_cnn, {"cmvn": "band", "freq_masks": 2, "time_masks": 2}),  # masks: training only
    (build_logmel_cnn, {"bands": "flatten", "pooling": "stats"}),
])
def test_features_do_not_depend_on_the_batch_padding(build, config):
    backbone = build(config).eval()
    batch = batch_for(backbone)
    with torch.no_grad():
        together = backbone(**batch)["pooled"]
        for row in range(3):
            n = int(batch["lengths"][row])
            alone = backbone(waveform=batch["waveform"][row:row + 1, :n], lengths=batch["lengths"][row:row + 1])
            torch.testing.assert_close(alone["pooled"][0], together[row], atol=1e-5, rtol=1e-4)


def test_stats_pooling_is_the_frames_mean_then_their_mean_absolute_deviation():
    torch.manual_seed(0)
    mean_cnn = build_logmel_cnn({"channels": [8]}).eval()
    stats_cnn = build_logmel_cnn({"channels": [8], "pooling": "stats"}).eval()
    stats_cnn.load_state_dict(mean_cnn.state_dict())
    batch = batch_for(mean_cnn)
    with torch.no_grad():
        plain, stats = mean_cnn(**batch), stats_cnn(**batch)
    assert stats_cnn.feature_dim == 16 and stats_cnn.hub_config()["pooling"] == "stats"
    torch.testing.assert_close(stats["pooled"][:, :8], plain["pooled"])
    n = int(stats["mask"][0].sum())
    frames = plain["sequence"][0, :n]
    torch.testing.assert_close(stats["pooled"][0, 8:], (frames - frames.mean(0)).abs().mean(0), atol=1e-5, rtol=1e-4)
    with pytest.raises(UsageError, match="pooling must be one of mean, stats, got 'max'"):
        build_logmel_cnn({"pooling": "max"})


@pytest.mark.parametrize("n_mels, channels, rows", [(40, [8, 8, 8], 5), (37, [8, 8], 10)])
def test_flattened_bands_keep_each_frequency_region_and_average_to_the_mean_bands(n_mels, channels, rows):
    torch.manual_seed(0)
    mean_cnn = build_logmel_cnn({"n_mels": n_mels, "channels": channels}).eval()
    flat_cnn = build_logmel_cnn({"n_mels": n_mels, "channels": channels, "bands": "flatten"}).eval()
    flat_cnn.load_state_dict(mean_cnn.state_dict())
    batch = batch_for(mean_cnn)
    with torch.no_grad():
        plain, flat = mean_cnn(**batch), flat_cnn(**batch)
    assert flat_cnn.feature_dim == 8 * rows == flat["pooled"].shape[1] == flat["sequence"].shape[2]
    torch.testing.assert_close(flat["pooled"].reshape(3, 8, rows).mean(2), plain["pooled"], atol=1e-5, rtol=1e-4)
    assert (flat["pooled"].reshape(3, 8, rows).std(2) > 1e-3).any()  # the regions differ: not a copy of the mean
    with pytest.raises(UsageError, match="bands must be one of mean, flatten, got 'max'"):
        build_logmel_cnn({"bands": "max"})


def test_band_cmvn_standardises_each_mel_band_over_the_real_frames_only():
    clip_cnn, band_cnn = build_logmel_cnn({}).eval(), build_logmel_cnn({"cmvn": "band"}).eval()
    batch = batch_for(band_cnn)
    frames = batch["lengths"] // 160 + 1
    with torch.no_grad():
        band, clip = band_cnn.log_mel(batch["waveform"], frames)[:, 0], clip_cnn.log_mel(batch["waveform"], frames)[:, 0]
        coloured = band_cnn.log_mel(torch.from_numpy(np.convolve(batch["waveform"][1].numpy(), [1.0, 0.9]))[None, :-1]
                                    .float(), frames[1:2])[0, 0]  # a microphone's tilt: a fixed filter
    for row in range(3):
        real = band[row, :, :int(frames[row])]
        torch.testing.assert_close(real.mean(1), torch.zeros(40), atol=1e-4, rtol=0)
        torch.testing.assert_close(real.std(1, unbiased=False), torch.ones(40), atol=2e-2, rtol=0)
        assert (band[row, :, int(frames[row]):] == 0).all()
    assert clip[0].mean(1).abs().max() > 0.3  # "clip" keeps the spectral shape: bands differ in mean
    n = int(frames[1])  # a fixed filter shifts each band's log-mel by a constant, which band CMVN removes
    assert (coloured[:, 2:n - 2] - band[1, :, 2:n - 2]).abs().mean() < 0.05 * band[1, :, 2:n - 2].abs().mean()
    with pytest.raises(UsageError, match="cmvn must be one of clip, band, got 'global'"):
        build_logmel_cnn({"cmvn": "global"})


def test_spec_augment_masks_bands_and_frames_in_training_only():
    backbone = build_logmel_cnn({"freq_masks": 2, "freq_mask_bands": 6, "time_masks": 3, "time_mask_fraction": 0.2})
    batch = batch_for(backbone, size=8)
    frames = batch["lengths"] // 160 + 1
    torch.manual_seed(0)
    with torch.no_grad():
        trained = backbone.train().log_mel(batch["waveform"], frames)[:, 0]
        plain = backbone.eval().log_mel(batch["waveform"], frames)[:, 0]
    masked = (trained == 0) & (plain != 0)
    bands_masked = frames_masked = 0
    for row in range(8):
        n = int(frames[row])
        whole_bands, whole_frames = masked[row, :, :n].all(1), masked[row, :, :n].all(0)
        assert whole_bands.sum() <= 2 * 6 and whole_frames.sum() <= 3 * int(n * 0.2), (row, n)
        assert (masked[row, :, :n] == (whole_bands[:, None] | whole_frames[None, :])).all()  # whole bands/frames only
        kept = ~masked[row, :, :n]
        torch.testing.assert_close(trained[row, :, :n][kept], plain[row, :, :n][kept])  # masks only, no other change
        bands_masked, frames_masked = bands_masked + int(whole_bands.sum()), frames_masked + int(whole_frames.sum())
    assert bands_masked and frames_masked, "8 clips and nothing masked"
    assert not (plain == 0)[:, :, :int(frames.min())].all(1).any()  # evaluation: nothing masked
    off = build_logmel_cnn({}).train()
    with torch.no_grad():
        torch.testing.assert_close(off.log_mel(batch["waveform"], frames), off.eval().log_mel(batch["waveform"], frames))
    for key, value, match in (("freq_masks", -1, "freq_masks must be a whole number from 0 to 100"),
                              ("freq_mask_bands", 41, r"freq_mask_bands must be a whole number from 1 to n_mels \(40\)"),
                              ("time_mask_fraction", 0, r"time_mask_fraction must be in \(0, 1\], got 0")):
        with pytest.raises(UsageError, match=match):
            build_logmel_cnn({key: value})


def test_log_mel_is_level_invariant_above_its_floor_and_handles_one_sample():
    backbone = build_logmel_cnn({}).eval()
    batch = batch_for(backbone)
    with torch.no_grad():
        torch.testing.assert_close(backbone(**batch)["pooled"], backbone(waveform=batch["waveform"] * 0.1,
                                                                        lengths=batch["lengths"])["pooled"],
                                   atol=1e-3, rtol=1e-3)
        assert backbone(waveform=torch.zeros(1, 1))["pooled"].isfinite().all()


def test_the_conv_stft_mel_features_equal_torchaudios_melspectrogram():
    import torchaudio

    from hub_speech.logmel import MelFeatures

    waveform = batch_for(build_logmel_cnn({}))["waveform"]
    ours = MelFeatures(16000, 400, 160, 40, 0.0, None)(waveform)
    reference = torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, n_mels=40, pad_mode="constant")(waveform)
    torch.testing.assert_close(ours, reference, rtol=1e-3, atol=1e-3)
    assert MelFeatures(16000, 400, 160, 40, 0.0, None)(torch.zeros(1, 1)).shape == (1, 40, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the log of quiet bins needs float32
        torch.testing.assert_close(MelFeatures(16000, 400, 160, 40, 0.0, None)(waveform), ours)


@pytest.mark.parametrize("build, config", [(build_wav2vec2, TINY_WAV2VEC2), (build_logmel_cnn, {"channels": [8, 8]})])
def test_hub_config_rebuilds_the_same_architecture(build, config):
    backbone = build(config)
    rebuilt = build(backbone.hub_config())
    assert {k: v.shape for k, v in backbone.state_dict().items()} == {k: v.shape for k, v in rebuilt.state_dict().items()}
    assert rebuilt.hub_config() == backbone.hub_config()
    import json

    json.dumps(backbone.hub_config())  # it goes to hub.json


def test_wav2vec2_named_architectures_and_variants():
    backbone = build_wav2vec2({"variant": "hubert_base", "encoder_layer_drop": 0.0})
    assert backbone.hub_config()["architecture"] == "hubert_base" and backbone.feature_dim == 768
    assert backbone.preprocessor_config()["min_samples"] == 400
    with pytest.raises(UsageError, match="did you mean 'wav2vec2_base'"):
        build_wav2vec2({"architecture": "wav2vec_base"})
    with pytest.raises(UsageError, match="unknown config key 'encoder_layers'.*'encoder_num_layers'"):
        build_wav2vec2({"encoder_layers": 2})


def test_wav2vec2_freezes_its_feature_encoder_by_default_only_when_pretrained(tmp_path):
    scratch = build_wav2vec2(TINY_WAV2VEC2)
    assert scratch.frozen_by_default() == []  # a random encoder left frozen learns nothing
    save_file({k: v.contiguous() for k, v in scratch.model.state_dict().items()}, tmp_path / "w.safetensors")
    pretrained = build_wav2vec2(TINY_WAV2VEC2, str(tmp_path / "w.safetensors"))
    assert pretrained.frozen_by_default() == [pretrained.model.feature_extractor]
    rebuilt = build_wav2vec2(pretrained.hub_config())  # a saved model directory keeps the choice
    assert rebuilt.frozen_by_default() == [rebuilt.model.feature_extractor]
    assert build_wav2vec2(dict(TINY_WAV2VEC2, freeze_feature_encoder=True)).frozen_by_default()


def test_wav2vec2_exposes_blocks_and_lora_targets():
    backbone = build_wav2vec2(TINY_WAV2VEC2)
    in_blocks = {id(p) for block in backbone.blocks() for p in block.parameters()}
    assert in_blocks == {id(p) for p in backbone.parameters()}  # last-N can reach every parameter
    assert len(backbone.blocks()) == 3 + TINY_WAV2VEC2["encoder_num_layers"]
    named = {name.rsplit(".", 1)[-1] for name, _ in backbone.named_modules()}
    assert set(backbone.lora_targets) <= named


def test_lora_adapters_start_as_the_identity_and_train():
    from peft import LoraConfig, inject_adapter_in_model

    backbone = build_wav2vec2(TINY_WAV2VEC2)
    batch = batch_for(backbone)
    backbone.eval()
    with torch.no_grad():
        before = backbone(**batch)["pooled"]
    backbone.requires_grad_(False)
    adapted = inject_adapter_in_model(LoraConfig(r=4, target_modules=list(backbone.lora_targets)), backbone)
    for name, param in adapted.named_parameters():
        param.requires_grad = "lora_" in name
    trainable = [p for p in adapted.parameters() if p.requires_grad]
    assert trainable and sum(p.numel() for p in trainable) < 0.1 * sum(p.numel() for p in adapted.parameters())
    with torch.no_grad():
        torch.testing.assert_close(adapted(**batch)["pooled"], before)  # LoRA starts as the identity
    optimizer = torch.optim.SGD(trainable, lr=0.5)
    adapted(**batch)["pooled"].pow(2).mean().backward()
    optimizer.step()
    with torch.no_grad():
        assert not torch.allclose(adapted(**batch)["pooled"], before)


# ----------------------------------------------------------------------------- weights
def outputs(backbone, batch):
    with torch.no_grad():
        return backbone.eval()(**batch)["sequence"]


def test_weights_from_safetensors_and_pth(tmp_path):
    source = build_wav2vec2(TINY_WAV2VEC2)
    batch = batch_for(source)
    state = {k: v.contiguous() for k, v in source.model.state_dict().items()}
    save_file(state, tmp_path / "w.safetensors")
    torch.save({"model": state}, tmp_path / "w.pth")
    for weights in (tmp_path / "w.safetensors", tmp_path / "w.pth"):
        torch.testing.assert_close(outputs(build_wav2vec2(TINY_WAV2VEC2, str(weights)), batch), outputs(source, batch))
    logmel = build_logmel_cnn({})
    save_file(logmel.state_dict(), tmp_path / "logmel.safetensors")
    loaded = build_logmel_cnn({}, str(tmp_path / "logmel.safetensors"))
    torch.testing.assert_close(outputs(loaded, batch), outputs(logmel, batch))


def test_weights_with_old_weight_norm_names_load(tmp_path):
    source = build_wav2vec2(TINY_WAV2VEC2)
    old = {k.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): v
           for k, v in source.model.state_dict().items()}
    assert any(k.endswith("weight_g") for k in old)
    torch.save(old, tmp_path / "old.pth")
    batch = batch_for(source)
    torch.testing.assert_close(outputs(build_wav2vec2(TINY_WAV2VEC2, str(tmp_path / "old.pth")), batch),
                               outputs(source, batch))


FAIRSEQ_NAMES = [  # torchaudio name -> fairseq name (the inverse of torchaudio's import_fairseq)
    (r"^feature_extractor\.conv_layers\.0\.layer_norm\.", "feature_extractor.conv_layers.0.2."),
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"^encoder\.feature_projection\.projection\.", "post_extract_proj."),
    (r"^encoder\.feature_projection\.layer_norm\.", "layer_norm."),
    (r"^encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", "encoder.pos_conv.0.weight_g"),
    (r"^encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", "encoder.pos_conv.0.weight_v"),
    (r"^encoder\.transformer\.pos_conv_embed\.conv\.bias", "encoder.pos_conv.0.bias"),
    (r"^encoder\.transformer\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"^encoder\.transformer\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"^encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
    (r"^encoder\.transformer\.", "encoder."),
]


def fairseq_name(key: str) -> str:
    for pattern, replacement in FAIRSEQ_NAMES:
        renamed = re.sub(pattern, replacement, key)
        if renamed != key:
            return renamed
    return key


def test_fairseq_checkpoint_names_load(tmp_path):
    source = build_wav2vec2(TINY_WAV2VEC2)
    state = {"w2v_model." + fairseq_name(k): v for k, v in source.model.state_dict().items()}
    state["w2v_model.mask_emb"] = torch.zeros(16)
    state["w2v_model.quantizer.vars"] = torch.zeros(1, 4, 8)
    state["proj.weight"] = torch.zeros(30, 32)  # a CTC head of a fine-tuned checkpoint: not ours
    torch.save({"model": state}, tmp_path / "fairseq.pt")
    batch = batch_for(source)
    torch.testing.assert_close(outputs(build_wav2vec2(TINY_WAV2VEC2, str(tmp_path / "fairseq.pt")), batch),
                               outputs(source, batch))


def test_hugging_face_wav2vec2_weights_load_and_agree():
    pytest.importorskip("transformers")
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    layers = TINY_WAV2VEC2["extractor_conv_layer_config"]
    hf = Wav2Vec2Model(Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=[c for c, _, _ in layers], conv_kernel=[k for _, k, _ in layers], conv_stride=[s for _, _, s in layers],
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, feat_extract_norm="group", conv_bias=False,
        do_stable_layer_norm=False, layerdrop=0.0,
    )).eval()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        save_file({f"wav2vec2.{k}": v.contiguous() for k, v in hf.state_dict().items()}, Path(folder) / "model.safetensors")
        ours = build_wav2vec2(TINY_WAV2VEC2, folder).eval()
    waveform = torch.from_numpy(AudioPreprocessor({"normalize": True}).synthetic(1, 0.5, np.random.default_rng(1))["waveform"])
    with torch.no_grad():
        torch.testing.assert_close(ours(waveform=waveform)["sequence"], hf(waveform).last_hidden_state, atol=1e-4, rtol=1e-4)


def test_bad_weights_are_clear_errors(tmp_path):
    source = build_wav2vec2(TINY_WAV2VEC2)
    wide = dict(TINY_WAV2VEC2, encoder_embed_dim=64, encoder_ff_interm_features=128)
    save_file({k: v.contiguous() for k, v in source.model.state_dict().items()}, tmp_path / "w.safetensors")
    with pytest.raises(HubError, match=r"projection.bias. has shape \(32,\), the model expects \(64,\)"):
        build_wav2vec2(wide, str(tmp_path / "w.safetensors"))
    deeper = dict(TINY_WAV2VEC2, encoder_num_layers=3)
    with pytest.raises(HubError, match="tensors are missing .*layers.2"):
        build_wav2vec2(deeper, str(tmp_path / "w.safetensors"))
    torch.save({"model": source.model.state_dict(), "args": argparse.Namespace(lr=1)}, tmp_path / "pickled.pt")
    with pytest.raises(HubError, match="cannot be loaded safely with weights_only=True"):
        build_wav2vec2(TINY_WAV2VEC2, str(tmp_path / "pickled.pt"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(HubError, match="not a readable safetensors file"):
        build_wav2vec2(TINY_WAV2VEC2, str(tmp_path / "junk.safetensors"))
    with pytest.raises(HubError, match="no such file"):
        build_wav2vec2(TINY_WAV2VEC2, str(tmp_path / "absent.pth"))
