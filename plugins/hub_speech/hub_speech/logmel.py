"""A light CNN over a log-mel spectrogram that it computes itself, so an exported ONNX
graph takes the raw waveform.

The STFT is a matrix product of the frames with a fixed windowed DFT basis, not
``torch.stft``: ONNX's STFT operator, as onnxruntime computes it, differs from torch by up
to 0.15 in log-mel on quiet bins, while the product agrees to 3e-4 (and with torchaudio's
MelSpectrogram to 1e-5). Not a conv1d either: cuDNN convolutions run in TF32 by default on
recent GPUs, and the log of quiet bins does not survive 10-bit mantissas; float32 matrix
products stay float32 unless the user asks otherwise. Autocast is switched off here for
the same reason. The mel filterbank is torchaudio's.

Config: ``sample_rate`` (16000), ``n_mels`` (40), ``n_fft`` (400: 25 ms at 16 kHz),
``hop_length`` (160: 10 ms), ``f_min``/``f_max`` (0 / Nyquist), ``channels`` (one conv
block each: 3x3 conv, batch norm, ReLU, 2x2 max-pool), ``dropout`` (0), ``pooling`` ("mean":
the frames' mean; "stats": their mean and mean absolute deviation side by side, the x-vector's
statistics pooling for speaker and language recognition, Snyder et al. 2018, sec. 2.1, with
the deviation's robust form), ``bands`` (how the last block's mel-band rows become a frame's
features: "mean", averaged, channels wide; "flatten", kept side by side, channels x the
remaining bands wide, as the ResNet speaker and language embedders lay them out before
statistics pooling (WeSpeaker, Wang et al. 2023; the r-vector, Zeinali et al. 2019), so a
feature keeps which frequency region it came from), ``cmvn`` (how each clip's log-mel is standardised over its real
frames: "clip", one mean and deviation for the whole spectrogram, which keeps its spectral
tilt; "band", each mel band's own mean and deviation, per-utterance cepstral mean and variance
normalisation, which removes a fixed channel or microphone colouring), and SpecAugment
(Park et al. 2019), in training only: ``freq_masks`` bands of up to ``freq_mask_bands`` mel
bands each and ``time_masks`` spans of up to ``time_mask_fraction`` of each clip's frames
each are set to the clip's mean (0 after the standardisation). The masks are off (0) unless
a preset or the user asks, so a model saved before they existed loads unchanged.
"""
from __future__ import annotations

import difflib
import math

import torch
import torchaudio
from torch import nn

from hub_core.api import Backbone, UsageError
from hub_speech.pooling import frame_mask, masked_mean
from hub_speech.state_dict import load_into, read_state_dict

DEFAULTS = {"sample_rate": 16000, "n_mels": 40, "n_fft": 400, "hop_length": 160, "f_min": 0.0, "f_max": None,
            "channels": [16, 32, 64], "dropout": 0.0, "pooling": "mean", "bands": "mean", "cmvn": "clip",
            "freq_masks": 0, "freq_mask_bands": 8, "time_masks": 0, "time_mask_fraction": 0.1}
POOLINGS = ("mean", "stats")
CMVNS = ("clip", "band")
BANDS = ("mean", "flatten")


FRONT = ("sample_rate", "n_mels", "n_fft", "hop_length", "f_min", "f_max", "cmvn", "freq_masks", "freq_mask_bands",
         "time_masks", "time_mask_fraction")  # the log-mel front end's keys, shared with speech/conformer


def unknown_key(config: dict, defaults: dict, owner: str) -> None:
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], defaults, n=1)
        raise UsageError(f"{owner}: unknown config key {unknown[0]!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(defaults)}"))


def resolve_config(config: dict) -> dict:
    owner = "speech/logmel-cnn"
    unknown_key(config, DEFAULTS, owner)
    resolved = check_front({**DEFAULTS, **config}, owner)
    channels = resolved["channels"]
    if not isinstance(channels, list) or not channels or not all(_whole(c, 1) for c in channels):
        raise UsageError(f"{owner}: channels must be a non-empty list of positive sizes, got {channels!r}")
    resolved["channels"] = [int(c) for c in channels]
    if not _number(resolved["dropout"]) or not 0 <= resolved["dropout"] < 1:
        raise UsageError(f"{owner}: dropout must be in [0, 1), got {resolved['dropout']!r}")
    if resolved["pooling"] not in POOLINGS:
        raise UsageError(f"{owner}: pooling must be one of {', '.join(POOLINGS)}, got {resolved['pooling']!r}")
    if resolved["bands"] not in BANDS:
        raise UsageError(f"{owner}: bands must be one of {', '.join(BANDS)}, got {resolved['bands']!r}")
    return resolved


def check_front(resolved: dict, owner: str) -> dict:
    """The log-mel front end's keys (FRONT) of a complete config, checked and typed."""
    for key in ("sample_rate", "n_mels", "n_fft", "hop_length"):
        if not _whole(resolved[key], 1):
            raise UsageError(f"{owner}: {key} must be a positive whole number, got {resolved[key]!r}")
        resolved[key] = int(resolved[key])
    nyquist = resolved["sample_rate"] / 2
    f_min, f_max = resolved["f_min"], resolved["f_max"]
    if not _number(f_min) or not (f_max is None or _number(f_max)) or not 0 <= f_min < (f_max or nyquist) <= nyquist:
        raise UsageError(f"{owner}: need 0 <= f_min < f_max <= sample_rate / 2, got f_min {f_min!r}, "
                         f"f_max {f_max!r}, sample_rate {resolved['sample_rate']!r}")
    if resolved["cmvn"] not in CMVNS:
        raise UsageError(f"{owner}: cmvn must be one of {', '.join(CMVNS)}, got {resolved['cmvn']!r}")
    for key in ("freq_masks", "time_masks"):
        if not _whole(resolved[key], 0) or resolved[key] > 100:
            raise UsageError(f"{owner}: {key} must be a whole number from 0 to 100, got {resolved[key]!r}")
        resolved[key] = int(resolved[key])
    if not _whole(resolved["freq_mask_bands"], 1) or resolved["freq_mask_bands"] > resolved["n_mels"]:
        raise UsageError(f"{owner}: freq_mask_bands must be a whole number from 1 to n_mels "
                         f"({resolved['n_mels']}), got {resolved['freq_mask_bands']!r}")
    resolved["freq_mask_bands"] = int(resolved["freq_mask_bands"])
    if not _number(resolved["time_mask_fraction"]) or not 0 < resolved["time_mask_fraction"] <= 1:
        raise UsageError(f"{owner}: time_mask_fraction must be in (0, 1], got {resolved['time_mask_fraction']!r}")
    return resolved


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value, minimum: int) -> bool:
    return _number(value) and float(value).is_integer() and value >= minimum


def conv_block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU())


class MelFeatures(nn.Module):
    """Waveform (B, S) -> mel power (B, n_mels, 1 + S // hop): a centred, Hann-windowed STFT
    with zero padding at the edges (so a clip of any length has frames)."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, f_min: float, f_max: float | None):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        # A frame is cut as `hops` whole hop-long chunks side by side (no unfold, which ONNX
        # lacks); the basis has zero rows for the samples past n_fft.
        self.hops = -(-n_fft // hop_length)
        bins = n_fft // 2 + 1
        time = torch.arange(n_fft, dtype=torch.float64)
        angle = 2 * math.pi * time[:, None] * torch.arange(bins, dtype=torch.float64)[None, :] / n_fft
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)[:, None]
        basis = torch.zeros(self.hops * hop_length, 2 * bins, dtype=torch.float64)
        basis[:n_fft] = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window], dim=1)  # real, imaginary
        # Derived from the config, so not part of the weights (persistent=False).
        self.register_buffer("basis", basis.float(), persistent=False)
        filters = torchaudio.functional.melscale_fbanks(bins, f_min, f_max or sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("filters", filters.T.contiguous(), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled(waveform.device.type):
            with torch.autocast(waveform.device.type, enabled=False):
                return self.forward(waveform.float())
        batch, frames = waveform.shape[0], waveform.shape[1] // self.hop_length + 1
        half = self.n_fft // 2
        padded = nn.functional.pad(waveform, (half, half + self.hops * self.hop_length))
        count = frames + self.hops - 1
        chunks = padded[:, :count * self.hop_length].reshape(batch, count, self.hop_length)
        framed = torch.cat([chunks[:, i:i + frames] for i in range(self.hops)], dim=-1)  # (B, T, hops * hop)
        real, imaginary = torch.matmul(framed, self.basis).transpose(1, 2).chunk(2, dim=1)
        return torch.matmul(self.filters, real ** 2 + imaginary ** 2)


def log_mel(mel: MelFeatures, config: dict, waveform: torch.Tensor, frames: torch.Tensor,
            training: bool) -> torch.Tensor:
    """(B, 1, n_mels, T), standardised per clip over its real frames (cmvn: as a whole or per
    band): level-invariant, padding frames set to zero; SpecAugment's masks in training.
    Shared by every backbone that computes log-mel features in its graph (``config`` holds
    cmvn and the SpecAugment keys of DEFAULTS)."""
    features = torch.log(mel(waveform) + 1e-6)
    mask = frame_mask(frames, features.shape[-1])[:, None, :].to(features.dtype)
    axes = (1, 2) if config["cmvn"] == "clip" else (2,)
    count = mask.sum(axes, keepdim=True) * (features.shape[1] if len(axes) == 2 else 1)
    mean = (features * mask).sum(axes, keepdim=True) / count
    centred = (features - mean) * mask
    std = torch.sqrt((centred ** 2).sum(axes, keepdim=True) / count + 1e-5)
    normalised = centred / std
    if training and (config["freq_masks"] or config["time_masks"]):
        normalised = normalised * spec_augment_mask(config, frames, *normalised.shape[1:])
    return normalised.unsqueeze(1)


def spec_augment_mask(config: dict, frames: torch.Tensor, bands: int, total: int) -> torch.Tensor:
    """(B, bands, total) of 0 on the masked bands and frames, 1 elsewhere; widths drawn
    uniformly from 0 to the limit, positions uniformly where the mask fits, per clip."""
    c, device, batch = config, frames.device, frames.shape[0]
    keep = torch.ones(batch, bands, total, device=device)
    for count, size, limit, axis in ((c["freq_masks"], torch.full_like(frames, bands), None, 1),
                                     (c["time_masks"], frames, c["time_mask_fraction"], 2)):
        if not count:
            continue
        top = torch.full_like(size, c["freq_mask_bands"]) if limit is None else (size * limit).long()
        width = (torch.rand(batch, count, device=device) * (top[:, None] + 1)).long()  # 0..top
        start = (torch.rand(batch, count, device=device) * (size[:, None] - width + 1).clamp(min=1)).long()
        place = torch.arange(bands if axis == 1 else total, device=device)[None, None, :]
        masked = ((place >= start[..., None]) & (place < (start + width)[..., None])).any(1)  # (B, size)
        keep = keep * (~masked).to(keep.dtype).unsqueeze(3 - axis)
    return keep


class LogMelCNN(Backbone):
    def __init__(self, config: dict):
        super().__init__()
        self.config = resolve_config(config)
        c = self.config
        self.mel = MelFeatures(c["sample_rate"], c["n_fft"], c["hop_length"], c["n_mels"], c["f_min"], c["f_max"])
        sizes = [1, *c["channels"]]
        self.convs = nn.ModuleList(conv_block(a, b) for a, b in zip(sizes, sizes[1:]))
        self.pool = nn.MaxPool2d(2, ceil_mode=True)  # ceil_mode keeps a frame however short the clip
        self.dropout = nn.Dropout(c["dropout"])
        rows = c["n_mels"]
        for _ in c["channels"]:
            rows = -(-rows // 2)  # each 2x2 max-pool, ceil_mode
        self.feature_dim = sizes[-1] * (rows if c["bands"] == "flatten" else 1) * (2 if c["pooling"] == "stats" else 1)

    def log_mel(self, waveform: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        return log_mel(self.mel, self.config, waveform, frames, self.training)

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
        if self.config["bands"] == "flatten":  # (B, C, F', T') -> (B, T', C * F')
            sequence = self.dropout(x.flatten(1, 2).transpose(1, 2))
        else:
            sequence = self.dropout(x.mean(2).transpose(1, 2))  # average over mel bands: (B, T', C)
        mask = frame_mask(frames, sequence.shape[1])
        if self.config["pooling"] == "stats":
            # Each frame beside its distance from the clip's mean: the pooled mean is then the
            # mean and the mean absolute deviation, and the sequence stays feature_dim wide.
            spread = (sequence - masked_mean(sequence, mask)[:, None, :]).abs() * mask[..., None].to(sequence.dtype)
            sequence = torch.cat([sequence, spread], dim=-1)
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
