"""``hub serve`` under SIGTERM and against slow or keyless clients, as a real process on
127.0.0.1: SIGTERM under load stops accepting, answers every request sent on a connection it
accepted, then exits 0 (no request lost); a client trickling its headers is cut off; an empty
API key is refused at start. Every server is killed in ``finally``; every loop is bounded.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.robustness.helpers import ROOT, run_hub
from tests.tinyplug import make_blobs

RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
TIMEOUT = 60


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    model = folder / "mlp"
    code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", make_blobs(folder / "t.csv", n=60),
                           "-o", model, "--epochs", "1", "--quiet")
    assert code == 0, err
    code, _, err = run_hub("export", model, "--no-validate")
    assert code == 0, err
    return model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(model, *args, env=None):
    port = free_port()
    process = subprocess.Popen(RUNNER + ["serve", str(model), "--port", str(port), *args], env={**ENV, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return process, port
        except OSError:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the server did not start")


def read_response(sock) -> bytes | None:
    """One whole response, or None when the connection ended first (reset or closed)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
    except OSError:
        return None
    return head


def client(port: int, body: bytes, until: float, tally: dict, lock: threading.Lock) -> None:
    """Requests back to back on keep-alive connections, a new one when the server closes one,
    until a connection is refused (the server stopped accepting) or ``until``."""
    request = (b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
    while time.monotonic() < until:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        except OSError:
            return  # refused: nothing was sent, nothing lost
        with sock:
            while time.monotonic() < until:
                try:
                    sock.sendall(request)
                except OSError:
                    head = None
                else:
                    head = read_response(sock)
                with lock:
                    if head is None:
                        tally["lost"] += 1
                    else:
                        tally["answered"] += 1
                        tally["ok"] += head.startswith(b"HTTP/1.1 200")
                if head is None or b"connection: close" in head.lower():
                    break


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_under_load_answers_every_request_then_exits_0(exported, workers):
    body = json.dumps({"inputs": [[0.5] * 8]}).encode()
    process, port = start(exported, "--workers", workers)
    tally, lock = {"lost": 0, "answered": 0, "ok": 0}, threading.Lock()
    until = time.monotonic() + 30
    threads = [threading.Thread(target=client, args=(port, body, until, tally, lock)) for _ in range(24)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = dict(tally)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(TIMEOUT)
        code = process.wait(TIMEOUT)
    finally:
        process.kill()
        process.wait()
    err = process.stderr.read()
    assert before["ok"] > 24, before  # it was under load when the signal came
    assert tally["lost"] == 0 and tally["answered"] == tally["ok"], (tally, err)
    assert code == 0 and "Traceback" not in err, err


def test_a_client_trickling_its_headers_is_cut_off(exported):
    process, port = start(exported, "--header-timeout", "1")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as slow:
            started = time.monotonic()
            closed = False
            for byte in b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100:
                try:
                    slow.sendall(bytes([byte]))
                    time.sleep(0.05)
                except OSError:
                    closed = True
                    break
            if not closed:
                slow.settimeout(5)
                closed = slow.recv(1) == b""
            assert closed and time.monotonic() - started < 8
        # the server still answers others
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as reply:
            assert reply.status == 200
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("how", ["option", "variable"])
def test_an_empty_api_key_is_refused_at_start(exported, how):
    args, env = (["--api-key", ""], {}) if how == "option" else ([], {"PLUGHUB_API_KEY": ""})
    done = subprocess.run(RUNNER + ["serve", str(exported), "--port", str(free_port()), *args],
                          env={**ENV, **env}, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 2 and "is empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
        done.stderr
