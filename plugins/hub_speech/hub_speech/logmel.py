"""A light CNN over a log-mel spectrogram that it computes itself (torchaudio's
MelSpectrogram), so an exported ONNX graph takes the raw waveform.

Config: ``sample_rate`` (16000), ``n_mels`` (40), ``n_fft`` (400: 25 ms at 16 kHz),
``hop_length`` (160: 10 ms), ``f_min``/``f_max`` (0 / Nyquist), ``channels`` (one conv
block each: 3x3 conv, batch norm, ReLU, 2x2 max-pool), ``dropout`` (0).
"""
from __future__ import annotations

import difflib

import torch
import torchaudio
from torch import nn

from hub_core.errors import UsageError
from hub_core.interfaces import Backbone
from hub_speech.pooling import frame_mask, masked_mean
from hub_speech.state_dict import load_into, read_state_dict

DEFAULTS = {"sample_rate": 16000, "n_mels": 40, "n_fft": 400, "hop_length": 160, "f_min": 0.0, "f_max": None,
            "channels": [16, 32, 64], "dropout": 0.0}


def resolve_config(config: dict) -> dict:
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], DEFAULTS, n=1)
        raise UsageError(f"speech/logmel-cnn: unknown config key {unknown[0]!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(DEFAULTS)}"))
    resolved = {**DEFAULTS, **config}
    resolved["channels"] = [int(c) for c in resolved["channels"]]
    if not resolved["channels"] or min(resolved["channels"]) < 1:
        raise UsageError(f"speech/logmel-cnn: channels must be a non-empty list of positive sizes, got {config.get('channels')!r}")
    return resolved


def conv_block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU())


class LogMelCNN(Backbone):
    def __init__(self, config: dict):
        super().__init__()
        self.config = resolve_config(config)
        c = self.config
        # Zero ("constant") padding at the edges: reflection would need clips longer than n_fft / 2.
        self.melspec = torchaudio.transforms.MelSpectrogram(
            c["sample_rate"], n_fft=c["n_fft"], hop_length=c["hop_length"], f_min=c["f_min"], f_max=c["f_max"],
            n_mels=c["n_mels"], pad_mode="constant",
        )
        # torch's periodic Hann window is a view into a longer tensor; safetensors stores whole tensors.
        self.melspec.spectrogram.window = self.melspec.spectrogram.window.clone()
        sizes = [1, *c["channels"]]
        self.convs = nn.ModuleList(conv_block(a, b) for a, b in zip(sizes, sizes[1:]))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)  # ceil_mode keeps a frame however short the clip
        self.dropout = nn.Dropout(c["dropout"])
        self.feature_dim = sizes[-1]

    def log_mel(self, waveform: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """(B, 1, n_mels, T), standardised per clip over its real frames: level-invariant,
        spectral shape kept, padding frames set to zero."""
        features = torch.log(self.melspec(waveform) + 1e-6)
        mask = frame_mask(frames, features.shape[-1])[:, None, :].to(features.dtype)
        count = mask.sum((1, 2)) * features.shape[1]
        mean = (features * mask).sum((1, 2)) / count
        centred = (features - mean[:, None, None]) * mask
        std = torch.sqrt((centred ** 2).sum((1, 2)) / count + 1e-5)
        return (centred / std[:, None, None]).unsqueeze(1)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict:
        if lengths is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long, device=waveform.device)
        frames = torch.div(lengths, self.config["hop_length"], rounding_mode="floor") + 1  # centred STFT frames
        x = self.log_mel(waveform, frames)
        for block in self.convs:
            # Zero the padding frames before pooling, so a clip's features do not depend on its batch.
            x = block(x) * frame_mask(frames, x.shape[-1])[:, None, None, :].to(x.dtype)
            x = self.pool(x)
            frames = torch.div(frames + 1, 2, rounding_mode="floor")
        sequence = self.dropout(x.mean(2).transpose(1, 2))  # average over mel bands: (B, T', C)
        mask = frame_mask(frames, sequence.shape[1])
        return {"pooled": masked_mean(sequence, mask), "sequence": sequence, "mask": mask}

    def hub_config(self) -> dict:
        return dict(self.config)

    def preprocessor_config(self) -> dict:
        return {"sample_rate": self.config["sample_rate"], "normalize": False, "min_samples": 1}

    def blocks(self) -> list:
        return list(self.convs)

    def load_weights(self, source: str) -> None:
        state, path = read_state_dict(source)
        load_into(self, state, path)


def build_logmel_cnn(config: dict, weights: str | None = None) -> LogMelCNN:
    backbone = LogMelCNN(config)
    if weights:
        backbone.load_weights(weights)
    return backbone
