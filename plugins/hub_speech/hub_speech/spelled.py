"""Generated transcribed audio for tests, the demo and export checks, without a speech
synthesiser: words spelt out letter by letter, each letter a two-tone chord of its own (as
telephone keypads sound digits, DTMF), each word's letters followed by a pause.

Every clip varies in rate, letter length, pause, level and background noise, so a model
has to learn which chord is which letter and where letters repeat (a CTC blank between
them), not memorise one waveform. It proves the mechanism only: real-speech figures come
from benchmarks/asr.py.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LETTERS = "abcdefghijklmnopqrstuvwxyz'"
LOW = (300.0, 420.0, 560.0, 720.0, 900.0, 1100.0)  # a letter's chord: one low and one high tone
HIGH = (1300.0, 1550.0, 1850.0, 2200.0, 2600.0)
WORDS = ("cat", "dog", "sun", "moon", "tree", "bee", "see", "book", "all", "odd", "fish", "bird", "rain", "snow",
         "red", "blue", "green", "star", "ship", "hello", "world", "apple", "zoo", "jazz", "quick", "fox", "it's")


def chord(letter: str, seconds: float, rate: int) -> np.ndarray:
    index = LETTERS.index(letter)
    time = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * LOW[index % len(LOW)] * time) + np.sin(2 * np.pi * HIGH[index // len(LOW)] * time)
    fade = np.minimum(1.0, np.minimum(time, time[::-1]) / 0.005)  # 5 ms ramps: no clicks
    return tone * fade


def spell(text: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """float32 mono: each letter 60-90 ms with 15-30 ms between, 120-200 ms between words."""
    parts = [np.zeros(int(rng.uniform(0.05, 0.15) * rate))]
    for word in text.split():
        for letter in word:
            parts += [chord(letter, rng.uniform(0.06, 0.09), rate), np.zeros(int(rng.uniform(0.015, 0.03) * rate))]
        parts.append(np.zeros(int(rng.uniform(0.12, 0.2) * rate)))
    signal = np.concatenate(parts)
    signal = signal / (np.abs(signal).max() + 1e-9) + 10 ** (-rng.uniform(20, 35) / 20) * rng.standard_normal(signal.size)
    return (10 ** (-rng.uniform(1, 12) / 20) * signal / np.abs(signal).max()).astype(np.float32)


def sentences(count: int, rng: np.random.Generator, words=WORDS) -> list[str]:
    return [" ".join(rng.choice(words, size=int(rng.integers(1, 4)))) for _ in range(count)]


def write_transcribed(root: str | Path, count: int, *, seed: int = 0, rates=(8000, 16000, 22050)) -> list[Path]:
    """``root/clip_<i>.wav`` with ``root/clip_<i>.txt`` beside each (the words, capitalised and
    punctuated as people write them: normalisation takes it off)."""
    import soundfile

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for index, text in enumerate(sentences(count, rng)):
        rate = int(rng.choice(rates))
        path = root / f"clip_{index:04d}.wav"
        soundfile.write(str(path), spell(text, rate, rng), rate, subtype="PCM_16")
        path.with_suffix(".txt").write_text(text.capitalize() + ".\n", encoding="utf-8")
        written.append(path)
    return written


def make_data(folder: Path, seed: int) -> dict:
    """hub demo's speech-recognition row: 240 training and 40 validation clips."""
    write_transcribed(Path(folder) / "train", 240, seed=seed)
    val = write_transcribed(Path(folder) / "val", 40, seed=seed + 1)
    return {"train": Path(folder) / "train", "val": Path(folder) / "val", "inputs": [str(val[0]), str(val[1])]}
