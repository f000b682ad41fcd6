"""Helpers of the robustness suite: the hub run in-process, the smallest real model of every
modality, data from the examples' own generators, and file snapshots that prove a failed
command wrote nothing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from hub_core.testing import run_hub  # noqa: F401 - the suite's modules take it from here

ROOT = Path(__file__).resolve().parents[2]

# Each modality's smallest real configuration (a few thousand to a few hundred thousand parameters).
TINY = {
    "text": ["nlp/bert-tiny", "-t", "classification", "--backbone-option", "hidden_size=32", "--backbone-option",
             "intermediate_size=64", "-p", "vocab_size=300"],
    "image": ["vision/timm:test_resnet", "-t", "classification", "--backbone-option", "image_size=32"],
    "audio": ["speech/logmel-tiny", "-t", "classification", "--backbone-option", "channels=[4, 8]"],
    "interactions": ["recsys/mf", "-t", "recsys/rating", "--backbone-option", "dim=4"],
    "vectors": ["tiny/mlp", "-t", "classification"],
}


def example_module(path: str):
    """A generator script of examples/ (two are called generate.py, so not by import name)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{path.replace('/', '_')[:-3]}", ROOT / "examples" / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_data(root: Path) -> dict[str, Path]:
    """Small labelled data of every modality, mostly from the examples' own generators."""
    import numpy as np
    from PIL import Image

    from hub_speech.signals import write_dataset
    from tests.tinyplug import make_blobs

    root.mkdir(parents=True, exist_ok=True)
    nlp = example_module("nlp/generate.py")
    nlp.write_csv(root / "text.csv", nlp.topic_rows(80, seed=0))
    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("blue", 2)):  # a colour per class, with noise
        (root / "images" / name).mkdir(parents=True)
        for index in range(6):
            pixels = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
            pixels[..., channel] += 180
            Image.fromarray(pixels).save(root / "images" / name / f"{index}.png")
    write_dataset(root / "audio", 6, kinds=("low", "high"), seconds=(0.2, 0.4), seed=0)
    example_module("recsys/generate.py").generate(root / "interactions", users=40, items=30, per_user=8, seed=0)
    make_blobs(root / "vectors.csv", n=120, seed=0)
    return {"text": root / "text.csv", "image": root / "images", "audio": root / "audio",
            "interactions": root / "interactions" / "interactions.csv", "vectors": root / "vectors.csv"}


def snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` with its size and modification time."""
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for root in roots if root.exists() for path in sorted(root.rglob("*")) if path.is_file()}


def clone_model(source: Path, target: Path) -> Path:
    """A copy of a model directory (without its training records), to damage."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("tb", "checkpoints", "*.png", "metrics.jsonl"))
    return target


def assert_identical(expected: Path, got: Path) -> None:
    """The two runs' model weights are equal, tensor for tensor (resume promises bit-identity)."""
    from safetensors.torch import load_file

    first, second = load_file(str(expected / "model.safetensors")), load_file(str(got / "model.safetensors"))
    assert first.keys() == second.keys()
    for name in first:
        assert first[name].equal(second[name]), f"{name} differs from the uninterrupted run"
