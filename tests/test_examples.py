"""Every example under examples/ runs with the one command its README gives, in CI (slow).

The examples go through the ``hub`` command line exactly as a user would; they write only
into a temporary folder. examples/hub-plugin-example, a plugin rather than a script, is
installed and exercised by tests/test_example_plugin.py.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: example folder -> the one command that runs it (OUT: a fresh temporary folder)
COMMANDS = {
    "nlp": [sys.executable, "examples/nlp/pretrain_transfer.py", "OUT"],
    "vision": ["bash", "examples/vision/run.sh", "OUT"],
    "speech": ["bash", "examples/speech/run.sh", "OUT"],
    "recsys": ["bash", "examples/recsys/run.sh", "OUT"],
    "fusion": [sys.executable, "examples/fusion/run.py", "OUT"],
    "serving": [sys.executable, "examples/serving/run.py", "OUT"],
}
TESTED_ELSEWHERE = {"hub-plugin-example": "tests/test_example_plugin.py"}


def test_every_example_has_its_command():
    folders = {p.name for p in (ROOT / "examples").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders <= set(COMMANDS) | set(TESTED_ELSEWHERE), "an example without its command here"
    for name in folders & set(COMMANDS):
        assert (ROOT / COMMANDS[name][1]).is_file(), COMMANDS[name][1]


@pytest.mark.slow
@pytest.mark.examples  # minutes each: `make test-examples`, not `make test` (CI's time budget)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_example_runs(name, tmp_path):
    if not (ROOT / COMMANDS[name][1]).is_file():
        pytest.skip(f"{COMMANDS[name][1]} is not in this checkout")
    command = [str(tmp_path / "out") if part == "OUT" else part for part in COMMANDS[name]]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHON": sys.executable,
           "HF_HUB_OFFLINE": "1", "PLUGHUB_CACHE_DIR": str(tmp_path / "cache"), "PLUGHUB_HOME": str(tmp_path / "home")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert any((tmp_path / "out").rglob("hub.json")), "the example wrote no model directory"
