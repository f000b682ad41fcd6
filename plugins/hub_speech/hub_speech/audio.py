"""Decode audio files with soundfile and bring them to one mono rate. Numpy only (no torch):
the ONNX runtime path uses the very same code.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from hub_core.api import Cell, DataError, check_limit, read_cell

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def read_audio(path: str | Path | Cell, data: bytes | None = None) -> tuple[np.ndarray, int]:
    """``(samples, sample_rate)``: float32 in [-1, 1], mixed down to mono.

    ``path`` is a file or a Cell (a clip stored as bytes in a table; ``data``: its bytes,
    when the caller has them). Any clip soundfile cannot decode, an empty one, or one
    holding NaN or infinite samples is a DataError naming the file (or the table and row).
    """
    import soundfile

    if isinstance(path, Cell):
        source = io.BytesIO(data if data is not None else read_cell(path))
    else:
        path = Path(path)
        if not path.is_file():
            raise DataError("no such audio file" if not path.exists() else "is not a file", file=path)
        source = str(path)
    try:
        with soundfile.SoundFile(source) as clip:
            check_header(clip.samplerate, clip.frames, clip.channels, path)  # before a sample is decoded
            samples, rate = clip.read(dtype="float32", always_2d=True), clip.samplerate
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = getattr(err, "error_string", None) or str(err)  # libsndfile's own words, without the path
        raise DataError(f"not a readable audio file ({reason.strip().rstrip('.')})", file=path) from None
    if samples.shape[0] == 0:
        raise DataError("the audio file holds zero samples", file=path)
    if not np.isfinite(samples).all():
        raise DataError("the audio file holds NaN or infinite samples", file=path)
    return to_mono(samples), int(rate)


def check_header(rate: int, frames: int, channels: int, path) -> None:
    """The sizes a header declares, against the input limits: a rate of 1 Hz would be resampled
    16,000-fold, a rate of 2 GHz asks for hundreds of GiB (``hub_core.api.check_limit``)."""
    check_limit("audio_rate_min", rate, path, low=True)
    check_limit("audio_rate_max", rate, path)
    check_limit("audio_seconds", frames / rate, path)
    check_limit("audio_samples", frames * channels, path)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples,) float32, averaging the channels."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"a waveform must be (samples,) or (samples, channels), got shape {samples.shape}")
    return samples


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (scipy), exact for any pair of integer rates."""
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    divisor = math.gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor).astype(np.float32)
