"""hub demo's audio row: tones, chirps and noise from hub_speech.signals (no downloads)."""
from __future__ import annotations

from pathlib import Path

from hub_speech.signals import write_dataset


def make_data(folder: Path, seed: int) -> dict:
    """The demo's data: 24 training and 8 validation clips per sound kind, at mixed rates."""
    write_dataset(Path(folder) / "train", 24, seed=seed)
    val = write_dataset(Path(folder) / "val", 8, seed=seed + 1)
    return {"train": Path(folder) / "train", "val": Path(folder) / "val", "inputs": [str(val[0]), str(val[-1])]}
