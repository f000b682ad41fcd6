"""Fast start: the catalogue commands import none of the heavy libraries, and the
entry-point cache is correct (it notices installs, uninstalls and edits by itself)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub_core.plugin import entrypoints
from tests.fixtures.inject import HUB, fake_site, hub_env

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "timm", "torchaudio", "torchvision", "onnxruntime", "onnx", "tokenizers"}


def imported_modules(args, env) -> set[str]:
    """Top-level packages the real ``hub`` script imports (python -X importtime's list)."""
    result = subprocess.run([sys.executable, "-X", "importtime", str(HUB), *args], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert len(lines) > 50, "no -X importtime output"
    return {name.split(".")[0] for name in lines}


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "--json"], ["plugins"], ["plugins", "--json"],
                                  ["info", "vision/resnet18"], ["finetune", "--help"]])
def test_catalogue_commands_import_no_heavy_library(tmp_path, args):
    heavy = imported_modules(args, hub_env(tmp_path)) & HEAVY
    assert not heavy, f"hub {' '.join(args)} imported {sorted(heavy)}"


def test_the_cache_spares_importlib_metadata(tmp_path):
    """On a warm cache `hub list` does not even import importlib.metadata (~20 ms)."""
    env = hub_env(tmp_path)
    subprocess.run([str(HUB), "list", "--json"], capture_output=True, env=env, check=True)  # fill the cache
    assert "importlib.metadata" not in imported_full(["list", "--json"], env)
    assert "importlib.metadata" in imported_full(["list", "--json"], {**env, "PLUGHUB_NO_CACHE": "1"})


def imported_full(args, env) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", str(HUB), *args], capture_output=True, text=True,
                            env=env, check=True)
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PLUGHUB_NO_CACHE", raising=False)
    return tmp_path / "cache"


def scanned(monkeypatch) -> list:
    """Count real scans (cache misses) from here on."""
    calls = []
    real = entrypoints._scan
    monkeypatch.setattr(entrypoints, "_scan", lambda: calls.append(1) or real())
    return calls


def test_entry_point_cache_hits_and_invalidates(cache, tmp_path, monkeypatch):
    site = fake_site(tmp_path / "a", {"first-plugin": {"first": "first_module"}})
    monkeypatch.syspath_prepend(str(site))
    scans = scanned(monkeypatch)
    before = entrypoints.plugin_entries()
    assert ("first", "first_module", "first-plugin", "1.0") in [tuple(vars(e).values()) for e in before]
    assert entrypoints.plugin_entries() == before and len(scans) == 1  # hit

    fake_site(tmp_path / "a", {"second-plugin": {"second": "second_module"}})  # "pip install" into the same folder
    assert "second" in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 2

    info = next(site.glob("first_plugin-*.dist-info"))
    entry_points = info / "entry_points.txt"
    entry_points.write_text("[plughub]\nrenamed = first_module\n")  # edited in place
    os.utime(entry_points, ns=(entry_points.stat().st_atime_ns, entry_points.stat().st_mtime_ns + 10**9))
    assert "renamed" in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 3

    for child in info.iterdir():  # "pip uninstall"
        child.unlink()
    info.rmdir()
    assert "renamed" not in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 4

    monkeypatch.syspath_prepend(str(fake_site(tmp_path / "b", {"third": {"third": "third_module"}})))  # a new path
    assert "third" in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 5
    assert entrypoints.plugin_entries() == entrypoints._scan()  # the cache never differs from a scan


def test_entry_point_cache_survives_corruption_and_read_only_homes(cache, monkeypatch):
    scans = scanned(monkeypatch)
    first = entrypoints.plugin_entries()
    cache_file = next(cache.iterdir())
    cache_file.write_bytes(b"\x00garbage")
    assert entrypoints.plugin_entries() == first and len(scans) == 2
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", "/proc/no-such-place")  # cannot be written
    assert entrypoints.plugin_entries() == first
    monkeypatch.setenv("PLUGHUB_NO_CACHE", "1")
    assert entrypoints.plugin_entries() == first


def test_entry_point_cache_keeps_a_few_fingerprints(cache, tmp_path, monkeypatch):
    """`hub` and `python -m hub_core` see different sys.paths; both stay cached."""
    scans = scanned(monkeypatch)
    entrypoints.plugin_entries()
    monkeypatch.syspath_prepend(str(tmp_path))
    entrypoints.plugin_entries()
    monkeypatch.undo()
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(cache))
    scans = scanned(monkeypatch)
    entrypoints.plugin_entries()
    assert scans == []


@pytest.mark.slow
def test_startup_benchmark_prints_its_figures():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--runs", "1"],
                            capture_output=True, text=True, check=True, timeout=300)
    figures = json.loads(result.stdout)
    for key in ("median_s", "median_s_no_bytecode_cache", "best_s", "median_cpu_s"):
        assert set(figures[key]) >= {"python -c pass", "hub --help", "hub list"}
        assert all(0 < t < 30 for t in figures[key].values())
    assert figures["budget_s"] == {"hub --help": 0.10, "hub list": 0.25}
    assert isinstance(figures["within_budget"], bool)
    assert set(figures["ratio_to_python"]) == {"hub --help", "hub list"}
    assert all(r > 0 for r in figures["ratio_to_python"].values())
    assert figures["machine"]["cpus"] >= 1 and "load_after" in figures["machine"]
