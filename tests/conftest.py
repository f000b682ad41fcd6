import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def tiny_hub(monkeypatch):
    """The hub with the tiny test plugin loaded as if it were installed."""
    from hub_core.testing import load_hub_with

    return load_hub_with(monkeypatch, tiny="tests.tinyplug")


@pytest.fixture
def hub_cli(tiny_hub):
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""


    from hub_core.testing import run_hub

    return run_hub
