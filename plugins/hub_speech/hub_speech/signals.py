"""Generated audio: labelled sets of tones, chirps and noise for smoke tests, examples and
export checks, written as real audio files at mixed rates and channel counts.

Each class is a kind of sound; every clip varies in length, level, onset, pitch and
background noise, so a model has to learn the kind, not memorise one waveform.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

KINDS = ("low", "high", "up", "down", "noise")
RATES = (8000, 16000, 22050, 44100)


def harmonics(frequency: np.ndarray, rate: int) -> np.ndarray:
    """A tone with two overtones following an instantaneous ``frequency`` track (Hz per sample)."""
    phase = 2 * np.pi * np.cumsum(frequency) / rate
    return np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)


def sound(kind: str, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One clip of ``kind``: float32 mono in [-1, 1]."""
    size = max(1, int(seconds * rate))
    top = min(3000.0, 0.45 * rate)  # stay below Nyquist at 8 kHz
    if kind == "low":
        track = np.full(size, rng.uniform(150, 400))
    elif kind == "high":
        track = np.full(size, rng.uniform(1200, top))
    elif kind in ("up", "down"):
        start, end = rng.uniform(200, 500), rng.uniform(1200, top)
        track = np.geomspace(start, end, size) if kind == "up" else np.geomspace(end, start, size)
    elif kind == "noise":
        white = rng.standard_normal(size + 64)
        signal = np.convolve(white, np.ones(8) / 8, mode="same")[:size]  # a soft low-pass
        return _finish(signal, size, rate, rng)
    else:
        raise ValueError(f"unknown sound kind {kind!r} (known: {', '.join(KINDS)})")
    return _finish(harmonics(track, rate), size, rate, rng)


def _finish(signal: np.ndarray, size: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Fade in/out, a random level and onset, and background noise at 15-35 dB SNR."""
    fade = min(size // 4, int(0.01 * rate))
    if fade:
        ramp = np.linspace(0, 1, fade)
        signal[:fade] *= ramp
        signal[-fade:] *= ramp[::-1]
    signal = signal / (np.abs(signal).max() + 1e-9)
    onset = int(rng.uniform(0, 0.2) * size)
    signal = np.concatenate([np.zeros(onset), signal[:size - onset]])
    noise_level = 10 ** (-rng.uniform(15, 35) / 20)
    signal = signal + noise_level * rng.standard_normal(size)
    level = 10 ** (-rng.uniform(1, 20) / 20)
    return (level * signal / (np.abs(signal).max() + 1e-9)).astype(np.float32)


def write_dataset(root: str | Path, per_class: int, *, kinds=KINDS, seconds=(0.5, 1.5), rates=RATES,
                  stereo_share: float = 0.2, seed: int = 0) -> list[Path]:
    """``root/<kind>/<kind>_<i>.wav`` (16-bit WAV) at random rates; some clips stereo."""
    import soundfile

    rng = np.random.default_rng(seed)
    written = []
    for kind in kinds:
        folder = Path(root) / kind
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            rate = int(rng.choice(rates))
            clip = sound(kind, rng.uniform(*seconds), rate, rng)
            if rng.random() < stereo_share:
                clip = np.stack([clip, 0.8 * clip], axis=1)
            path = folder / f"{kind}_{index:04d}.wav"
            soundfile.write(str(path), clip, rate, subtype="PCM_16")
            written.append(path)
    return written
