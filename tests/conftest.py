import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# this process has threads of its own (pytest's, tqdm's monitor): a DataLoader worker forked
# from it that hangs on an inherited lock is given up after 2 minutes, not the default 10
os.environ.setdefault("PLUGHUB_WORKER_TIMEOUT", "120")
# the disk cache of preprocessed data (hub_core.common.diskcache): one per test session, never the user's
if "PLUGHUB_CACHE" not in os.environ:
    os.environ["PLUGHUB_CACHE"] = tempfile.mkdtemp(prefix="plughub-cache-")
    atexit.register(shutil.rmtree, os.environ["PLUGHUB_CACHE"], ignore_errors=True)


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
