"""No network at run time: fine-tune, export and predict (torch and ONNX) run in a process
whose sockets refuse to connect and whose name lookups fail, without HF_HUB_OFFLINE or
TRANSFORMERS_OFFLINE set. Every attempt to reach the network is logged by the blocking
sitecustomize; the log must stay empty, not merely the commands succeed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.robustness.helpers import TINY

BLOCKER = '''
"""Loaded at start-up (sitecustomize): the network is gone; attempts are logged."""
import os
import socket

LOG = os.environ["PLUGHUB_TEST_NETWORK_LOG"]


def _refuse(what):
    with open(LOG, "a") as log:
        log.write(what + "\\n")
    raise OSError(f"network disabled by the test: {what}")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse(f"connect {address!r}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse(f"connect_ex {address!r}")
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo = lambda host, *args, **kwargs: _refuse(f"getaddrinfo {host!r}")
socket.gethostbyname = lambda host: _refuse(f"gethostbyname {host!r}")
'''

DRIVER = '''
"""Run hub commands one after the other in this process; command i's stdout goes to out-i.txt."""
import contextlib, json, sys
from hub_core.cli.main import main

for index, argv in enumerate(json.loads(sys.argv[1])):
    with open(f"out-{index}.txt", "w") as out, contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as done:
            if done.code:
                sys.exit(f"hub {' '.join(argv)} exited {done.code}")
'''


@pytest.mark.slow
def test_finetune_export_and_predict_with_the_network_blocked(tmp_path, data):
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(BLOCKER)
    log = tmp_path / "network.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(PYTHONPATH=str(tmp_path / "blocker"), PLUGHUB_TEST_NETWORK_LOG=str(log), OMP_NUM_THREADS="1",
               PLUGHUB_HOME=str(tmp_path / "home"), PLUGHUB_CACHE_DIR=str(tmp_path / "cache"))
    model = tmp_path / "text-model"
    commands = [
        ["finetune", *TINY["text"], "--data", str(data["text"]), "--out", str(model), "--epochs", "1", "--quiet"],
        ["export", str(model)],
        ["predict", str(model), "a match in the stadium", "--json"],
        ["predict", str(model), "a match in the stadium", "--onnx", "--json"],
    ]
    result = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not log.exists(), f"the hub tried to reach the network:\n{log.read_text()}"
    torch_answer, onnx_answer = (json.loads((tmp_path / f"out-{i}.txt").read_text()) for i in (2, 3))
    assert torch_answer[0]["answer"]["label"] == onnx_answer[0]["answer"]["label"]
    # the blocker works: the same interpreter cannot reach anything
    probe = subprocess.run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen('http://example.com')"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "network disabled by the test" in probe.stderr
