"""Fixtures of the robustness suite (plain helpers live in helpers.py): the tiny test plugin
loaded as if installed, an isolated hub, and one small real model per modality, trained
once per session with the very command users run.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.robustness.helpers import TINY, run_hub, write_data

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def hub_with_tiny_plugin(tmp_path_factory):
    """The tiny test plugin loaded as if installed; no user registry or entry-point cache of
    the machine running the tests; one torch thread (the CI machine is shared)."""
    import torch

    from hub_core.plugin import manager as plugins

    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(plugins.BUILTINS, "tiny", "tests.tinyplug")
        patch.setenv("PLUGHUB_HOME", str(home / "config"))
        patch.setenv("PLUGHUB_CACHE_DIR", str(home / "cache"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.delenv("PLUGHUB_PLUGINS", raising=False)
        patch.delenv("PLUGHUB_DEBUG", raising=False)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> dict[str, Path]:
    return write_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def models(tmp_path_factory, data) -> dict[str, Path]:
    """A trained model directory per modality (two optimizer steps each: enough to be real)."""
    root = tmp_path_factory.mktemp("models")
    made = {}
    for modality, model in TINY.items():
        out = root / modality
        code, _, err = run_hub("finetune", *model, "--data", data[modality], "--out", out, "--epochs", "1",
                               "--max-steps", "2", "--batch-size", "8", "--quiet")
        assert code == 0, f"{modality}: {err}"
        made[modality] = out
    return made


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A fresh working folder, the current directory while the test runs."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
