"""AudioPreprocessor: a file (or a waveform) -> ``waveform`` + ``lengths`` at the backbone's rate.

Numpy only, so training, evaluation, torch prediction and the ONNX runtime share it.
Options (`hub finetune -p KEY=VALUE`; `--max-seconds S` sets max_seconds):

    sample_rate   the backbone's rate; every clip is resampled to it (set by the backbone)
    max_seconds   longer clips are cropped to this (a random window in training, the
                  centre otherwise); 0 or none: never crop
    fixed_length  pad every clip to exactly max_seconds (default: pad per batch, with lengths)
    normalize     zero mean, unit variance per clip (wav2vec2's custom; set by the backbone)
    min_samples   shorter clips are zero-padded to this (the backbone's receptive field)
    random_crop   draw the crop window at random in training (default true)
    long_clips    crop (default): a clip longer than max_seconds is cropped; refuse: it is a
                  DataError, and so is one shorter than min_samples (speech recognition sets
                  this: a cut clip no longer matches its transcript, a padded one has no frames)
"""
from __future__ import annotations

import difflib
import io
import os
from pathlib import Path

import numpy as np

from hub_core.api import Cell, DataError, Example, Preprocessor, UsageError, read_cell
from hub_speech.audio import read_audio, resample, to_mono

DEFAULTS = {
    "sample_rate": 16000,
    "max_seconds": 10.0,
    "fixed_length": False,
    "normalize": False,
    "min_samples": 1,
    "random_crop": True,
    "long_clips": "crop",
}
LONG_CLIPS = ("crop", "refuse")


def _as_bool(key, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise UsageError(f"audio option {key} = {value!r} is not true or false")


def _as_number(key, value, kind, minimum, maximum):
    try:
        number = kind(value)
        if kind is int and float(value) != number:
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise UsageError(f"audio option {key} = {value!r} is not a {'whole ' if kind is int else ''}number") from None
    if not minimum <= number <= maximum:  # false for NaN too
        raise UsageError(f"audio option {key} = {value!r} must be from {minimum} to {maximum:,}")
    return number


def check_options(config: dict) -> dict:
    """DEFAULTS ⊕ ``config``, every value checked and of its proper type."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], DEFAULTS, n=1)
        raise UsageError(f"unknown audio option {unknown[0]!r}" + (f" (did you mean {hint[0]!r}?)" if hint else
                         f"; known: {', '.join(DEFAULTS)}"))
    merged = {**DEFAULTS, **config}
    max_seconds = merged["max_seconds"]
    if isinstance(max_seconds, str) and max_seconds.lower() in ("none", "null", ""):
        max_seconds = None
    if max_seconds is not None:
        max_seconds = _as_number("max_seconds", max_seconds, float, 0, 86_400) or None  # 0: no limit
    merged["max_seconds"] = max_seconds
    merged["sample_rate"] = _as_number("sample_rate", merged["sample_rate"], int, 1, 768_000)
    merged["min_samples"] = _as_number("min_samples", merged["min_samples"], int, 1, 100_000_000)
    for key in ("fixed_length", "normalize", "random_crop"):
        merged[key] = _as_bool(key, merged[key])
    if merged["long_clips"] not in LONG_CLIPS:
        raise UsageError(f"audio option long_clips = {merged['long_clips']!r} must be one of {', '.join(LONG_CLIPS)}")
    if merged["fixed_length"] and merged["max_seconds"] is None:
        raise UsageError("audio option fixed_length needs max_seconds (the length to pad every clip to)")
    return merged


class AudioPreprocessor(Preprocessor):
    """Raw input: a path to an audio file (from the reader or the command line), or a
    float waveform ``(samples,)`` / ``(samples, channels)`` already at ``sample_rate``."""

    def __init__(self, config: dict):
        super().__init__(check_options(config))
        self.rate = self.config["sample_rate"]
        seconds = self.config["max_seconds"]
        self.max_samples = max(self.config["min_samples"], round(seconds * self.rate)) if seconds else None
        #: whether training needs fresh arrays each epoch (only if some clip gets a random crop)
        self.augments = False

    def fit(self, examples: list[Example]) -> None:
        """Random crops change nothing unless a training clip is longer than max_seconds:
        look at the files' headers to know whether arrays can be computed once."""
        if self.max_samples is None or not self.config["random_crop"]:
            return
        import soundfile

        for example in examples:
            if isinstance(example.input, (str, os.PathLike, Cell)):
                try:  # a clip stored in a table: its bytes read again, in order (each row group once)
                    info = soundfile.info(io.BytesIO(read_cell(example.input)) if isinstance(example.input, Cell)
                                          else str(example.input))
                except (soundfile.LibsndfileError, RuntimeError, DataError):
                    continue  # reported, with its name, when the clip is read
                if info.frames * self.rate > self.max_samples * info.samplerate:
                    self.augments = True
                    return

    def read(self, raw) -> np.ndarray:
        """The whole clip, mono, at the backbone's rate."""
        if isinstance(raw, Cell):
            samples, rate = read_audio(raw)
            return resample(samples, rate, self.rate)
        if isinstance(raw, (str, os.PathLike)):
            samples, rate = read_audio(Path(raw))
            return resample(samples, rate, self.rate)
        if isinstance(raw, np.ndarray) and raw.dtype.kind == "f":
            samples = to_mono(raw)
            if samples.size == 0 or not np.isfinite(samples).all():
                raise DataError("a waveform must hold at least one sample and only finite values")
            return samples
        raise DataError(f"audio input must be a file path or a float waveform (or a clip stored in a table), "
                        f"got {type(raw).__name__}")

    def __call__(self, raw, *, train: bool = False, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        samples = self.read(raw)
        if self.config["long_clips"] == "refuse":
            self.check_duration(samples, raw)
        return self.finish(self.crop(samples, train, rng))

    def check_duration(self, samples: np.ndarray, raw) -> None:
        """A clip longer than max_seconds, or shorter than the backbone's receptive field, as a
        DataError naming it (its file, when it has one)."""
        where = raw if isinstance(raw, (str, os.PathLike, Cell)) else None
        seconds = samples.size / self.rate
        if self.max_samples is not None and samples.size > self.max_samples:
            raise DataError(f"the clip is {seconds:.2f} s, longer than --max-seconds {self.config['max_seconds']:g} "
                            "(a transcribed clip is never cut: split it, or raise --max-seconds)", file=where)
        if samples.size < self.config["min_samples"]:
            raise DataError(f"the clip is {samples.size} samples ({seconds * 1000:.1f} ms at {self.rate} Hz), shorter "
                            f"than the model's receptive field ({self.config['min_samples']} samples)", file=where)

    def crop(self, samples: np.ndarray, train: bool, rng) -> np.ndarray:
        if self.max_samples is None or samples.size <= self.max_samples:
            return samples
        spare = samples.size - self.max_samples
        if train and self.config["random_crop"] and rng is not None:
            start = int(rng.integers(0, spare + 1))
        else:
            start = spare // 2
        return samples[start:start + self.max_samples]

    def finish(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """Normalise the clip, then pad it: to min_samples (counted as signal: the backbone
        needs that many) and, with fixed_length, to max_seconds (masked by ``lengths``)."""
        if self.config["normalize"]:
            samples = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
        short = self.config["min_samples"] - samples.size
        if short > 0:
            samples = np.pad(samples, (0, short))
        length = samples.size
        if self.config["fixed_length"] and samples.size < self.max_samples:
            samples = np.pad(samples, (0, self.max_samples - samples.size))
        return {"waveform": samples.astype(np.float32), "lengths": np.asarray(length, dtype=np.int64)}

    def length(self, arrays: dict[str, np.ndarray]) -> int:
        return int(arrays["lengths"])

    def collate(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        longest = max(item["waveform"].size for item in items)
        waveform = np.zeros((len(items), longest), dtype=np.float32)
        for row, item in enumerate(items):
            waveform[row, :item["waveform"].size] = item["waveform"]
        return {"waveform": waveform, "lengths": np.stack([item["lengths"] for item in items]).astype(np.int64)}

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Clips of ``scale`` seconds (the first exactly, the others shorter, so padding is
        exercised) of generated tones, chirps and noise."""
        from hub_speech.signals import KINDS, sound

        longest = max(self.config["min_samples"], round(scale * self.rate))
        items = []
        for index in range(batch_size):
            size = longest if index == 0 else int(rng.integers(max(1, longest // 2), longest + 1))
            clip = sound(KINDS[index % len(KINDS)], size / self.rate, self.rate, rng)
            items.append(self.finish(np.pad(clip, (0, size - clip.size))))
        return self.collate(items)
