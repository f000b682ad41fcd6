"""A small Conformer (Gulati et al. 2020) for speech recognition trained from scratch on a CPU:
log-mel features computed in the graph (``logmel.log_mel``: the same front end, CMVN and
SpecAugment as speech/logmel-cnn), a convolutional subsampling to 40 ms frames (two 3x3
convolutions of stride 2, as the paper's), then torchaudio's Conformer blocks.

Config: the log-mel keys of speech/logmel-cnn (``sample_rate``, ``n_mels`` 80, ``n_fft``,
``hop_length``, ``f_min``, ``f_max``, ``cmvn``, SpecAugment's ``freq_masks``...), plus
``subsampling`` (4: 40 ms frames; 2: 20 ms, for fast speech or a finer alignment),
``conv_channels`` (of the subsampling), ``d_model``, ``num_layers``, ``num_heads``,
``ffn_dim``, ``kernel_size`` (the depthwise convolution's, odd) and ``dropout``.

Padding: each clip's frames past its length are zeroed after the subsampling, and
attention never looks at them (torchaudio's key padding mask); the depthwise convolution
of the blocks does see the zeros of a padded batch within half a kernel of a clip's end, so
a clip's last frames can differ slightly between batched and single runs (torch and ONNX
run the same batches and agree).
"""
from __future__ import annotations

import torch
import torchaudio
from torch import nn

from hub_core.api import Backbone, UsageError
from hub_speech.logmel import DEFAULTS as LOGMEL, FRONT, MelFeatures, _whole, check_front, log_mel, unknown_key
from hub_speech.pooling import frame_mask, masked_mean
from hub_speech.state_dict import load_into, read_state_dict

OWNER = "speech/conformer"
DEFAULTS = {**{key: LOGMEL[key] for key in FRONT}, "n_mels": 80, "subsampling": 4, "conv_channels": 64,
            "d_model": 144, "num_layers": 4, "num_heads": 4, "ffn_dim": 576, "kernel_size": 15, "dropout": 0.1}
SIZES = ("conv_channels", "d_model", "num_layers", "num_heads", "ffn_dim", "kernel_size")


def resolve_config(config: dict) -> dict:
    unknown_key(config, DEFAULTS, OWNER)
    resolved = check_front({**DEFAULTS, **config}, OWNER)
    for key in SIZES:
        if not _whole(resolved[key], 1):
            raise UsageError(f"{OWNER}: {key} must be a positive whole number, got {resolved[key]!r}")
        resolved[key] = int(resolved[key])
    if resolved["subsampling"] not in (2, 4):
        raise UsageError(f"{OWNER}: subsampling must be 2 or 4, got {resolved['subsampling']!r}")
    if resolved["d_model"] % resolved["num_heads"]:
        raise UsageError(f"{OWNER}: d_model ({resolved['d_model']}) must be a multiple of num_heads "
                         f"({resolved['num_heads']})")
    if resolved["kernel_size"] % 2 == 0:
        raise UsageError(f"{OWNER}: kernel_size must be odd, got {resolved['kernel_size']}")
    if not isinstance(resolved["dropout"], (int, float)) or not 0 <= resolved["dropout"] < 1:
        raise UsageError(f"{OWNER}: dropout must be in [0, 1), got {resolved['dropout']!r}")
    return resolved


def halved(frames: torch.Tensor) -> torch.Tensor:
    """Frames after a 3x3 convolution of stride 2 and padding 1."""
    return torch.div(frames - 1, 2, rounding_mode="floor") + 1


class ConformerBackbone(Backbone):
    def __init__(self, config: dict):
        super().__init__()
        self.config = c = resolve_config(config)
        self.mel = MelFeatures(c["sample_rate"], c["n_fft"], c["hop_length"], c["n_mels"], c["f_min"], c["f_max"])
        steps = 2 if c["subsampling"] == 4 else 1
        channels = [1] + [c["conv_channels"]] * steps
        self.subsample = nn.ModuleList(nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU())
                                       for a, b in zip(channels, channels[1:]))
        bands = c["n_mels"]
        for _ in range(steps):
            bands = (bands - 1) // 2 + 1
        self.project = nn.Sequential(nn.Linear(c["conv_channels"] * bands, c["d_model"]), nn.Dropout(c["dropout"]))
        self.conformer = torchaudio.models.Conformer(
            input_dim=c["d_model"], num_heads=c["num_heads"], ffn_dim=c["ffn_dim"], num_layers=c["num_layers"],
            depthwise_conv_kernel_size=c["kernel_size"], dropout=c["dropout"])
        self.feature_dim = c["d_model"]
        # the samples the front end needs for one frame after subsampling: one STFT window
        self.min_samples = c["n_fft"]

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict:
        if lengths is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long, device=waveform.device)
        frames = torch.div(lengths, self.config["hop_length"], rounding_mode="floor") + 1  # centred STFT frames
        x = log_mel(self.mel, self.config, waveform, frames, self.training)
        for block in self.subsample:
            x, frames = block(x), halved(frames)
            x = x * frame_mask(frames, x.shape[-1])[:, None, None, :].to(x.dtype)  # padding stays zero
        x = self.project(x.flatten(1, 2).transpose(1, 2))  # (B, C, F', T') -> (B, T', d_model)
        sequence, frames = self.conformer(x, frames)
        mask = frame_mask(frames, sequence.shape[1])
        return {"pooled": masked_mean(sequence, mask), "sequence": sequence, "mask": mask}

    def hub_config(self) -> dict:
        return dict(self.config)

    def preprocessor_config(self) -> dict:
        return {"sample_rate": self.config["sample_rate"], "normalize": False, "min_samples": self.min_samples}

    def blocks(self) -> list:
        return [nn.ModuleList([self.subsample, self.project]), *self.conformer.conformer_layers]

    def load_weights(self, source: str) -> None:
        state, path = read_state_dict(source)
        load_into(self, state, path)


def build_conformer(config: dict, weights: str | None = None) -> ConformerBackbone:
    backbone = ConformerBackbone(config)
    if weights:
        backbone.load_weights(weights)
    return backbone
