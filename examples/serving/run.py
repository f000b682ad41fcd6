"""Serve a text classifier and call it as Triton's and KServe's clients do: the Open
Inference Protocol (KServe v2) with tritonclient, binary tensors, next to hub's own /v1.

    python examples/serving/run.py [WORK]

Fine-tunes nlp/bert-tiny on generated topic sentences, exports it, starts ``hub serve`` on a
free port of 127.0.0.1, asks it for new sentences through /v1 and through /v2 (the raw texts
as a BYTES tensor), prints both, checks they agree, and stops the server.
"""
from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

HUB = [sys.executable, "-m", "hub_core"]


def hub(*args) -> None:
    print("$ hub " + shlex.join(map(str, args)), flush=True)
    subprocess.run(HUB + [str(a) for a in args], check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def main(work: Path) -> None:
    from hub_nlp.demo import topic_rows, write_csv

    work.mkdir(parents=True, exist_ok=True)
    write_csv(work / "train.csv", topic_rows(400, seed=2))
    texts = [text for text, _ in topic_rows(4, seed=11)]  # new sentences of the same topics
    model = work / "topics"
    hub("finetune", "nlp/bert-tiny", "--task", "classification", "--data", work / "train.csv", "--out", model,
        "--max-length", "32", "--epochs", "6", "--lr", "2e-3", "--quiet", "--overwrite")
    hub("export", model)
    port = free_port()
    server = subprocess.Popen(HUB + ["serve", str(model), "--port", str(port)])
    try:
        wait_ready(port, server)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/topics:predict",
                                         json.dumps({"inputs": texts}).encode(), {"Content-Type": "application/json"})
        v1 = [row["answer"] for row in json.load(urllib.request.urlopen(request, timeout=60))["predictions"]]
        client = httpclient.InferenceServerClient(f"127.0.0.1:{port}")
        raw = httpclient.InferInput("raw", [len(texts)], "BYTES")
        raw.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=object))
        result = client.infer("topics", [raw])
        labels = [label.decode() for label in result.as_numpy("label")]
        for text, label, score, mine in zip(texts, labels, result.as_numpy("score"), v1):
            print(f"{text!r}: v2 {label} {score:.3f} | v1 {mine['label']} {mine['score']:.3f}")
        assert labels == [a["label"] for a in v1], "v1 and v2 disagree"
        print("model metadata:", json.dumps(client.get_model_metadata("topics"))[:300], "...")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/serving-example"))
