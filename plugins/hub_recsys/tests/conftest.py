import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples" / "recsys"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    import torch

    torch.set_num_threads(1)  # tiny models; the CI machine has 2 cores shared by everyone


@pytest.fixture(scope="session")
def catalogue():
    from hub_core.plugin.manager import load_hub

    return load_hub().catalogue


@pytest.fixture
def hub():
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""

    from hub_core.testing import run_hub

    return run_hub


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """A small interaction log with a planted structure, split leave-last-out."""
    from generate import generate

    from hub_core.model.contracts import ReadOptions
    from hub_recsys.data import read_examples
    from hub_recsys.split import assign, write_splits

    folder = tmp_path_factory.mktemp("planted")
    generate(folder, users=300, items=200, per_user=20, popularity=0.4, seed=3)
    log = read_examples(folder / "interactions.csv", ReadOptions())
    write_splits(log, assign(log, "last", 0.1, 0.1), folder)
    return folder


@pytest.fixture
def table(tmp_path):
    """``table("name.csv", text)`` writes a small data file and returns its path."""
    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text.lstrip("\n"))
        return path

    return write
