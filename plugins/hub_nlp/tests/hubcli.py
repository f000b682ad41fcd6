"""``hub`` in a subprocess for the text tasks' end-to-end tests (the tiny test plugin loaded,
offline): ``hub`` gives the finished process, ``ok`` its stdout once it has succeeded."""
from __future__ import annotations

import os
import subprocess

from tests.test_serve import RUN_HUB

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def hub(*args) -> subprocess.CompletedProcess:
    # generous: a loaded CI machine trains these models for minutes
    return subprocess.run(RUN_HUB + [str(a) for a in args], capture_output=True, text=True, timeout=900, env=ENV)


def ok(*args) -> str:
    done = hub(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
