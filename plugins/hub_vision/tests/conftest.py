"""Shared fixtures: the example's shapes generator, image files of every kind, a CLI runner."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def make_shapes():
    """examples/vision/make_shapes.py: coloured shapes in class folders."""
    spec = importlib.util.spec_from_file_location("vision_make_shapes", ROOT / "examples" / "vision" / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_shapes


@pytest.fixture(scope="session")
def shapes(make_shapes, tmp_path_factory):
    """A small shapes folder: 3 classes x 20 images of 32 px."""
    return make_shapes(tmp_path_factory.mktemp("shapes"), per_class=20, size=32, seed=3)


@pytest.fixture
def picture():
    """A 48 x 64 RGB uint8 array with structure (a gradient and a square)."""
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)
    image[10:30, 20:40] = (250, 20, 20)
    return image


@pytest.fixture(scope="session")
def hub():
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""

    from hub_core.testing import run_hub

    return run_hub
