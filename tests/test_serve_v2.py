"""``hub serve``'s Open Inference Protocol (KServe v2) routes, called by a client no one here
wrote (tritonclient, binary tensors on and off) against a real server process, and fuzzed by
schemathesis from the server's own OpenAPI document."""
from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.test_serve import _labels_close, serving, tiny_models  # noqa: F401 - the fixture, shared

import tritonclient.http as th
from tritonclient.utils import InferenceServerException, np_to_triton_dtype


def client(server):
    return th.InferenceServerClient(f"127.0.0.1:{server.port}", connection_timeout=60, network_timeout=60)


def infer_raw(server, model, values: np.ndarray, binary: bool, names=("answer",)):
    tensor = th.InferInput("raw", list(values.shape), np_to_triton_dtype(values.dtype))
    tensor.set_data_from_numpy(values, binary_data=binary)
    outputs = [th.InferRequestedOutput(n, binary_data=binary) for n in names]
    return client(server).infer(model, [tensor], outputs=outputs)


def test_tritonclient_binary_and_json_get_v1_answers_batched(tiny_models, tmp_path):  # noqa: F811
    vectors = np.array(tiny_models["vectors"][:12], dtype=np.float32)
    with serving(tmp_path, tiny_models["mlp"], tiny_models["fused"], args=["--max-delay-ms", "20"]) as server:
        connection = client(server)
        assert connection.is_server_live() and connection.is_server_ready() and connection.is_model_ready("mlp")
        assert "binary_tensor_data" in connection.get_server_metadata()["extensions"]
        meta = connection.get_model_metadata("mlp")
        names = [i["name"] for i in meta["inputs"]]
        assert names[0] == "raw" and len(names) == 2 and meta["versions"] == ["1"]
        assert {"answer", "logits"} <= {o["name"] for o in meta["outputs"]}
        want = server.answers("mlp", vectors.tolist())
        for binary in (True, False):
            got = infer_raw(server, "mlp", vectors, binary, ("answer", "label", "score"))
            assert [json.loads(a) for a in got.as_numpy("answer")] == want
            labels = [v.decode() if isinstance(v, bytes) else v for v in got.as_numpy("label")]
            assert labels == [a["label"] for a in want]
            assert np.allclose(got.as_numpy("score"), [a["score"] for a in want], atol=1e-6)
        # one row per request, sent together: batched, the same answers
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda row: json.loads(infer_raw(server, "mlp", row[None], True)
                                                            .as_numpy("answer")[0]), vectors))
        assert together == want
        # the graph's own tensor, by the version route: the task's outputs, as onnxruntime gives them
        graph_input = meta["inputs"][1]
        tensor = th.InferInput(graph_input["name"], list(vectors.shape), "FP32")
        tensor.set_data_from_numpy(vectors)
        logits = connection.infer("mlp", [tensor], model_version="1").as_numpy("logits")
        assert np.allclose(logits, onnx_logits(tiny_models["mlp"], graph_input["name"], vectors), atol=1e-5)
        with pytest.raises(InferenceServerException, match="no version '2'"):
            connection.infer("mlp", [tensor], model_version="2")
        # a fusion model's parts, one raw.FIELD tensor each
        parts = {"a": vectors[:3, :8], "b": vectors[3:6, :8]}
        tensors = []
        for part, values in parts.items():
            tensors.append(th.InferInput(f"raw.{part}", list(values.shape), "FP32"))
            tensors[-1].set_data_from_numpy(values)
        fused = [json.loads(a) for a in connection.infer("fused", tensors).as_numpy("answer")]
        rows = [{"a": a.tolist(), "b": b.tolist()} for a, b in zip(parts["a"], parts["b"])]
        assert fused == server.answers("fused", rows)


def onnx_logits(model_dir: Path, name: str, values: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {name: values})[0]


def test_the_api_key_applies_to_v2(tiny_models, tmp_path):  # noqa: F811
    vectors = np.array(tiny_models["vectors"][:2], dtype=np.float32)
    with serving(tmp_path, tiny_models["mlp"], args=["--api-key", "s3cret"]) as server:
        connection = client(server)
        assert connection.is_server_live()  # health stays open, as /healthz does
        with pytest.raises(InferenceServerException, match="API key"):
            infer_raw(server, "mlp", vectors, True)
        tensor = th.InferInput("raw", list(vectors.shape), "FP32")
        tensor.set_data_from_numpy(vectors)
        got = connection.infer("mlp", [tensor], headers={"Authorization": "Bearer s3cret"})
        assert len(got.as_numpy("answer")) == 2


def binary_request(header: dict, blobs: list[bytes]) -> tuple[bytes, dict]:
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head)),
                                    "Content-Type": "application/octet-stream"}


BAD = [  # (what is wrong, body, extra headers, expected status, words in the one-line error)
    ("no inputs", {"inputs": []}, 400, "non-empty"),
    ("shape and data disagree", {"inputs": [{"name": "raw", "shape": [2, 8], "datatype": "FP32", "data": [1.0]}]},
     400, "holds 16 elements"),
    ("unknown datatype", {"inputs": [{"name": "raw", "shape": [1], "datatype": "FP99", "data": [1]}]}, 400, "FP99"),
    ("raw and graph tensors mixed", {"inputs": [{"name": "raw", "shape": [1, 8], "datatype": "FP32", "data": [0.0] * 8},
                                                {"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [0.0] * 8}]},
     400, "not a mix"),
    ("a graph input missing", {"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
     400, "the graph reads"),
    ("wrong datatype for the graph", {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "INT64", "data": [1] * 8}]},
     400, "datatype INT64"),
    ("wrong fixed axis", {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP32", "data": [0.0] * 5}]},
     400, "shape [1, 5]"),
    ("an output not given", {"inputs": [{"name": "raw", "shape": [1, 8], "datatype": "FP32", "data": [0.0] * 8}],
                             "outputs": [{"name": "nope"}]}, 400, "output 'nope'"),
    ("too many rows", {"inputs": [{"name": "raw", "shape": [65, 1], "datatype": "FP32", "data": [0.0] * 65}]},
     413, "--max-items"),
    ("an integer out of range", {"inputs": [{"name": "raw", "shape": [1], "datatype": "UINT8", "data": [300]}]},
     400, "UINT8"),
]


def test_bad_v2_requests_get_one_line_4xx(tiny_models, tmp_path):  # noqa: F811
    with serving(tmp_path, tiny_models["mlp"]) as server:
        for what, body, status, words in BAD:
            got, _, answer = server.request("/v2/models/mlp/infer", body, method="POST")
            assert got == status and words in answer["error"], (what, got, answer)
            assert "\n" not in answer["error"] and "Traceback" not in answer["error"], what
        # binary data: a length header past the body, a BYTES element cut short, bytes left over
        raw, headers = binary_request({"inputs": [{"name": "raw", "shape": [1], "datatype": "BYTES",
                                                   "parameters": {"binary_data_size": 8}}]},
                                      [struct.pack("<I", 100) + b"abcd"])
        assert server.request("/v2/models/mlp/infer", raw=raw, method="POST", headers=headers)[0] == 400
        headers["Inference-Header-Content-Length"] = "99999"
        assert server.request("/v2/models/mlp/infer", raw=raw, method="POST", headers=headers)[0] == 400
        raw, headers = binary_request({"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32",
                                                   "parameters": {"binary_data_size": 32}}]}, [b"\0" * 40])
        status, _, answer = server.request("/v2/models/mlp/infer", raw=raw, method="POST", headers=headers)
        assert status == 400 and "after the binary tensors" in answer["error"], answer
        assert server.request("/v2/models/nope/infer", {"inputs": []}, method="POST")[0] == 404
        # after all that, a good binary request still gets its answer
        raw, headers = binary_request({"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32",
                                                   "parameters": {"binary_data_size": 32}}],
                                       "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]},
                                      [np.zeros((1, 8), np.float32).tobytes()])
        request = urllib.request.Request(server.url + "/v2/models/mlp/infer", data=raw, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            length, body = int(response.headers["Inference-Header-Content-Length"]), response.read()
        header = json.loads(body[:length])
        assert header["outputs"][0]["parameters"]["binary_data_size"] == 12 and len(body) == length + 12
        assert np.allclose(np.frombuffer(body[length:], "<f4"),
                           onnx_logits(tiny_models["mlp"], "x", np.zeros((1, 8), np.float32))[0], atol=1e-5)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(tiny_models, tmp_path):  # noqa: F811
    st = Path(sys.executable).with_name("st")  # schemathesis, a test dependency (requirements-dev.txt)
    with serving(tmp_path, tiny_models["mlp"]) as server:
        operations = sum(len(methods) for methods in server.request("/openapi.json")[2]["paths"].values())
        done = subprocess.run([str(st), "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
                               "--phases", "coverage,fuzzing", "--max-examples", "30", "--generation-deterministic",
                               "--request-timeout", "30"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        assert f"Tested: {operations}" in done.stdout and operations >= 15, done.stdout[-2000:]


def check_each_modality(server, modality: str, inputs: list, alone: list, rows: list | None = None) -> None:
    """tritonclient gets ``alone`` (the /v1 answers, one input a request) for the same inputs,
    binary and JSON: texts as BYTES, files as their bytes (base64 in JSON), (user, item) pairs
    as [N, 2]; called by test_serve's per-modality test, which has trained and served the model."""
    if modality == "text":
        values = np.array([t.encode() for t in inputs], dtype=object)
    elif modality == "interactions":
        values = np.array([[str(v).encode() for v in row] for row in rows], dtype=object)
    else:
        values = np.array([Path(p).read_bytes() for p in inputs], dtype=object)
    for binary in (True, False):
        sent = values
        if not binary and modality in ("image", "audio"):
            sent = np.array([base64.b64encode(v) for v in values], dtype=object)
        got = [json.loads(a) for a in infer_raw(server, "model", sent, binary).as_numpy("answer")]
        assert _labels_close(got, alone), (modality, binary, got[:2], alone[:2])
    if modality == "interactions":  # a user's top-K by raw.user, as /v1's {"user": ID}
        user = th.InferInput("raw.user", [1], "BYTES")
        user.set_data_from_numpy(np.array([str(rows[0][0]).encode()], dtype=object))
        ranked = json.loads(client(server).infer("model", [user], parameters={"top_k": 3}).as_numpy("answer")[0])
        assert ranked == server.answers("model", [{"user": rows[0][0]}], top_k=3)[0]
