"""``hub serve``: a real server process on 127.0.0.1, real HTTP requests.

Every server runs with torch, transformers, timm and torchaudio blocked (the sitecustomize of
tests/test_runtime.py), so each test also proves the server never imports them. Servers are
killed in ``finally`` and every request has a timeout: nothing outlives a test.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.test_runtime import BLOCKER, MODALITY_CASES, _close
from tests.tinyplug import make_blobs, make_xor

ROOT = Path(__file__).resolve().parents[1]
RUN_HUB = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
TIMEOUT = 60  # generous: CI machines run this beside other work, and a slow answer is not what these tests judge


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, process, port, log, blocked):
        self.process, self.port, self.log, self.blocked = process, port, log, blocked
        self.url = f"http://127.0.0.1:{port}"

    def request(self, path, body=None, *, method=None, headers=None, raw=None):
        """(status, headers, parsed JSON or text) of one request; never raises on an HTTP status."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                status, got, text = response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
        except urllib.error.HTTPError as err:
            status, got, text = err.code, {k.lower(): v for k, v in err.headers.items()}, err.read().decode()
        try:
            return status, got, json.loads(text)
        except ValueError:
            return status, got, text

    def predict(self, name, inputs, **extra):
        return self.request(f"/v1/models/{name}:predict", {"inputs": inputs, **extra})

    def answers(self, name, inputs, **extra):
        status, _, body = self.predict(name, inputs, **extra)
        assert status == 200, body
        return [row["answer"] for row in body["predictions"]]

    def stderr(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def attempted_imports(self) -> list[str]:
        return sorted(set(self.blocked.read_text().split())) if self.blocked.exists() else []


@contextlib.contextmanager
def serving(tmp_path: Path, *model_dirs, args=(), ready=True):
    """``hub serve MODEL_DIRS ARGS`` on a free port with heavy imports blocked, stopped at the end."""
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    port, log, blocked = free_port(), tmp_path / f"serve-{time.monotonic_ns()}.log", tmp_path / "blocked.log"
    path = os.pathsep.join([str(blocker), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "HUB_BLOCKED_LOG": str(blocked), "HF_HUB_OFFLINE": "1"}
    with log.open("w") as err:
        process = subprocess.Popen(RUN_HUB + ["serve", *map(str, model_dirs), "--port", str(port), *args],
                                   stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=tmp_path)
    server = Server(process, port, log, blocked)
    try:
        if ready:
            wait_ready(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)
    assert not server.attempted_imports(), f"the server tried to import {server.attempted_imports()}"


def wait_ready(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"the server exited: {server.stderr()[-2000:]}"
        try:
            if server.request("/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server was not ready in {seconds} s: {server.stderr()[-2000:]}")


def hub(*args, cwd=None):
    done = subprocess.run(RUN_HUB + [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def batch_sizes(server: Server, name: str) -> dict[str, float]:
    text = server.request("/metrics")[2]
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line.startswith("hub_batch_size_") and f'model="{name}"' in line}


# ----------------------------------------------------------------------------- tiny models (fast)
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny vector classifier and a two-part fusion of them, trained and exported."""
    folder = tmp_path_factory.mktemp("models")
    mlp, fused = folder / "mlp", folder / "fused"
    hub("finetune", "tiny/mlp", "--task", "classification", "--data", make_blobs(folder / "train.csv", n=200, seed=2),
        "--out", mlp, "--epochs", "3", "--lr", "3e-3", "--quiet")
    hub("finetune", "fusion", "--model", "a=tiny/mlp", "--model", "b=tiny/mlp", "--task", "classification",
        "--data", make_xor(folder / "xor.jsonl", 200, 0), "--out", fused, "--epochs", "2", "--quiet")
    for model in (mlp, fused):
        hub("export", model, "--no-validate")
    inputs = [line.split(",")[:-1] for line in make_blobs(folder / "in.csv", n=40, seed=9).read_text().splitlines()[1:]]
    return {"mlp": mlp, "fused": fused, "vectors": [[float(v) for v in row] for row in inputs]}


def test_endpoints_answers_and_batched_equals_one_by_one(tiny_models, tmp_path):
    vectors = tiny_models["vectors"]
    expected = json.loads(hub("predict", tiny_models["mlp"], _csv(tmp_path, vectors), "--onnx", "--json", "--top-k", "2"))
    with serving(tmp_path, tiny_models["mlp"], tiny_models["fused"], args=["--max-delay-ms", "20"]) as server:
        assert server.request("/healthz")[:3:2] == (200, {"status": "ok"})
        assert server.request("/readyz")[2] == {"status": "ready", "models": ["mlp", "fused"]}
        listed = server.request("/v1/models")[2]["models"]
        assert [(m["name"], m["modality"]) for m in listed] == [("mlp", "vectors"), ("fused", "multimodal")]
        shown = server.request("/v1/models/mlp")[2]
        assert shown["labels"] == ["a", "b", "c"] and shown["inputs"] == [{"name": "x", "dtype": "float32"}]
        assert "accuracy" in shown["metrics"] and shown["export"]["status"] == "not-validated"
        spec = server.request("/openapi.json")[2]
        assert spec["openapi"].startswith("3.") and "/v1/models/{name}:predict" in spec["paths"]

        # one by one (each request alone in its batch) = the CLI's answers
        alone = [server.answers("mlp", [v], top_k=2)[0] for v in vectors]
        assert _close(alone, [row["answer"] for row in expected])
        before = batch_sizes(server, "mlp")
        with ThreadPoolExecutor(16) as pool:  # concurrent: batched together
            together = list(pool.map(lambda v: server.answers("mlp", [v], top_k=2)[0], vectors))
        after = batch_sizes(server, "mlp")
        runs = after['hub_batch_size_count{model="mlp"}'] - before['hub_batch_size_count{model="mlp"}']
        assert runs < len(vectors), "concurrent requests were never batched"
        assert _close(together, alone)
        # a request of several inputs, and fusion: one field per part (a missing part is null)
        assert _close(server.answers("mlp", vectors[:5], top_k=2), alone[:5])
        row = {"a": vectors[0], "b": vectors[1]}
        fused = server.answers("fused", [row, {"a": vectors[0], "b": None}])
        assert all(a["label"] in ("yes", "no") for a in fused)
        metrics = server.request("/metrics")[2]
        for name in ("hub_requests_total", "hub_errors_total", "hub_request_latency_seconds_bucket",
                     "hub_batch_size_bucket", "hub_queue_depth"):
            assert name in metrics, name


def _csv(folder: Path, vectors) -> Path:
    path = folder / "in.csv"
    path.write_text("x0,x1,x2,x3,x4,x5,x6,x7\n" + "".join(",".join(map(str, v)) + "\n" for v in vectors))
    return path


BAD_REQUESTS = [
    ({"top_k": 2}, 400, "missing field 'inputs'"),
    ({"inputs": []}, 400, "non-empty list"),
    ({"inputs": [True]}, 400, "inputs[0]: expected a string"),
    ({"inputs": ["1,2"]}, 400, "inputs[0]:"),
    ({"inputs": [[1.0] * 8], "top_k": 0}, 400, "top_k"),
    ({"inputs": [{"base64": "***"}]}, 400, "not valid base64"),
    ({"inputs": [[1.0] * 8] * 9}, 413, "at most 8 (--max-items)"),
    ({"inputs": ["/etc/hostname"]}, 400, "inputs[0]:"),  # a text (a bad vector), never a path
    ({"inputs": [[1.0] * 8], "extra": 1}, 400, "unknown field 'extra'"),
]


def test_bad_requests_get_a_4xx_with_one_line_json(tiny_models, tmp_path):
    with serving(tmp_path, tiny_models["mlp"], args=["--max-items", "8", "--max-body-mb", "0.01",
                                                     "--api-key", "s3cret"]) as server:
        key = {"Authorization": "Bearer s3cret"}
        assert server.request("/v1/models")[0] == 401
        assert server.request("/v1/models", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert server.request("/healthz")[0] == 200  # probes need no key
        for body, status, message in BAD_REQUESTS:
            got, _, answer = server.request("/v1/models/mlp:predict", body, headers=key)
            assert got == status and message in answer["error"] and "\n" not in answer["error"], (body, answer)
        cases = [(b"{not json", 400, "not valid JSON"), (b"[1, 2]", 400, "JSON object"),
                 (json.dumps({"inputs": ["x" * 20000]}).encode(), 413, "--max-body-mb")]
        for raw, status, message in cases:
            got, _, answer = server.request("/v1/models/mlp:predict", raw=raw, method="POST", headers=key)
            assert got == status and message in answer["error"], (raw[:40], answer)
        assert server.request("/v1/models/nope:predict", {"inputs": ["x"]}, headers=key)[0] == 404
        assert server.request("/nowhere", headers=key)[0] == 404
        assert server.request("/v1/models/mlp:predict", {"inputs": [[1.0] * 8]}, headers=key)[0] == 200
        errors = server.request("/metrics", headers=key)[2]
        assert 'hub_errors_total{model="mlp",reason="bad_input"}' in errors
    assert "Traceback" not in server.stderr()


def test_overload_answers_503_with_retry_after(tiny_models, tmp_path):
    vector = tiny_models["vectors"][0]
    with serving(tmp_path, tiny_models["mlp"], args=["--max-queue", "4", "--max-batch", "4"]) as server:
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda _: server.predict("mlp", [vector] * 4), range(96)))
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    refused = next(r for r in results if r[0] == 503)
    assert refused[1].get("retry-after") == "1" and "--max-queue" in refused[2]["error"]


def test_sigterm_drains_requests_in_flight_then_exits_0(tiny_models, tmp_path):
    body = json.dumps({"inputs": [tiny_models["vectors"][0]]}).encode()
    with serving(tmp_path, tiny_models["mlp"]) as server:
        # a request in flight: headers and half of the body sent when SIGTERM arrives
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        sock.sendall(b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None, "the server quit with a request in flight"
        sock.sendall(body[10:])
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        sock.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["predictions"][0]["answer"]["label"] in "abc"
        assert server.process.wait(timeout=TIMEOUT) == 0, server.stderr()


def test_a_model_directory_that_cannot_load_is_one_line_at_start(tiny_models, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "hub.json").write_text("{}")
    for target, message in [(broken, "no model.onnx"), (tmp_path, "no model.onnx")]:
        done = subprocess.run(RUN_HUB + ["serve", str(tiny_models["mlp"]), str(target), "--port", str(free_port())],
                              capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# ----------------------------------------------------------------------------- each modality (slow)
def upload(path) -> dict:
    return {"base64": base64.b64encode(Path(path).read_bytes()).decode(), "filename": Path(path).name}


def multipart(files: list[Path]) -> tuple[bytes, str]:
    boundary = "hubserveboundary"
    parts = [b"--%s\r\nContent-Disposition: form-data; name=\"inputs\"; filename=\"%s\"\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n%s\r\n" % (boundary.encode(), f.name.encode(), f.read_bytes())
             for f in files]
    return b"".join(parts) + b"--%s--\r\n" % boundary.encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.slow
@pytest.mark.parametrize("modality", sorted(MODALITY_CASES))
def test_each_modality_serves_what_predict_onnx_answers(tmp_path, modality):
    package, make_case = MODALITY_CASES[modality]
    pytest.importorskip(package)
    finetune, inputs = make_case(tmp_path)
    model_dir = tmp_path / "model"
    hub("finetune", *finetune, "--out", model_dir, "--quiet", "--seed", "0")
    hub("export", model_dir, "--no-validate")
    if modality == "interactions":  # the CLI reads a table of (user, item) rows; the server takes pairs
        rows = [line.split(",")[:2] for line in Path(inputs[0]).read_text().splitlines()[1:]]
        items = [list(row) for row in rows]
    elif modality == "text":
        items = list(inputs)
    else:
        items = [upload(p) for p in inputs]
    expected = [row["answer"] for row in json.loads(hub("predict", model_dir, *inputs, "--onnx", "--json"))]
    with serving(tmp_path, model_dir) as server:
        alone = [server.answers("model", [item])[0] for item in items]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda item: server.answers("model", [item])[0], items))
        if modality in ("image", "audio"):
            raw, kind = multipart([Path(p) for p in inputs])
            status, _, body = server.request("/v1/models/model:predict", raw=raw, method="POST",
                                             headers={"Content-Type": kind})
            assert status == 200, body
            assert _close([r["answer"] for r in body["predictions"]], alone)
            status, _, body = server.predict("model", [{"base64": base64.b64encode(b"not a file").decode()}])
            assert status == 400 and "inputs[0]" in body["error"] and "hub-serve-" not in body["error"], body
            assert "inputs[0]: inputs[0]" not in body["error"], body  # the input named once, as its prefix
        if modality == "interactions":  # a user -> the top-K items, as hub recommend --onnx ranks them
            user = rows[0][0]
            want = json.loads(hub("recommend", model_dir, "--user", user, "--k", "3", "--onnx", "--json"))[0]
            got = server.answers("model", [{"user": user}, {"user": "nobody-at-all"}], top_k=3)
            assert [i["item"] for i in got[0]["items"]] == [i["item"] for i in want["items"]]
            assert got[1]["source"] == "popularity" and len(got[1]["items"]) == 3
        if modality == "text":  # a pair: one input of two texts
            assert len(server.answers("model", [[inputs[0], inputs[1]]])) == 1
        from tests.test_serve_v2 import check_each_modality  # the Open Inference Protocol, by tritonclient

        check_each_modality(server, modality, inputs, alone, rows if modality == "interactions" else None)
    assert _labels_close(alone, expected)
    assert _labels_close(together, alone)


def _labels_close(got, want) -> bool:
    """Same labels and scores to 1e-4 (a batch pads differently from a lone input)."""
    for g, w in zip(got, want):
        if "label" in w:
            if g["label"] != w["label"] or abs(g["score"] - w["score"]) > 1e-4:
                return False
        elif not _close(g, w):
            return False
    return len(got) == len(want)


def test_an_upload_is_named_once_in_an_error(tmp_path):
    from hub_core.deploy.serve.decode import Uploads

    uploads = Uploads(tmp_path)
    private = uploads.add(b"not an image", "photo.png", "inputs[0]")
    assert uploads.tidy(f"inputs[0]: {private}: cannot read image") == "inputs[0]: cannot read image"
    assert uploads.tidy(f"cannot read {private}") == "cannot read inputs[0]"
    uploads.close()
