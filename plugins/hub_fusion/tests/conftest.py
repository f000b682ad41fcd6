"""Fixtures of the fusion tests: the hub with the core's tiny test plugin (tests/tinyplug.py,
numeric vectors and an MLP) loaded as if installed, so two tiny parts fuse in milliseconds."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.tinyplug
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def tiny_hub(monkeypatch):
    from hub_core.testing import load_hub_with

    return load_hub_with(monkeypatch, tiny="tests.tinyplug")


@pytest.fixture
def hub_cli(tiny_hub):
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from hub_core.testing import run_hub

    return run_hub
