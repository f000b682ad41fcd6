"""The task contract carries a generation-shaped task end to end (tests/seqplug.py): a model
exported as two graphs (an encoder, a decoder step with its state) run by one numpy greedy
loop, through finetune -> evaluate -> export -> predict --onnx -> serve, torch and
onnxruntime answering alike."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.seqplug import make_digits
from tests.test_runtime import predict_without_torch
from tests.test_serve import RUN_HUB, serving
from tests.test_task_shapes import hub, trained

pytestmark = pytest.mark.slow
INPUTS = ["3 1 4 1 5 9", "2 7 1 8 2 8", "0 0 0 0 0 1", "9 8 7 6 5 4"]


@pytest.fixture(scope="module")
def reverser(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("reverse"), make_digits, "seq/encoder", "seq/reverse", (600, 100), 12)


def test_a_two_graph_model_exports_and_validates_each_graph_and_the_loop(reverser):
    folder, model = reverser
    report = json.loads((model / "export.json").read_text())
    assert report["status"] == "ok" and report["program"] == "tests.seqplug:GreedyProgram"
    assert sorted(report["graphs"]) == ["decoder", "encoder"]
    assert (model / "encoder.onnx").is_file() and (model / "decoder.onnx").is_file()
    assert report["graphs"]["decoder"]["outputs"] == ["logits", "next_hidden"]
    case = report["validation"]["cases"][0]
    assert {"encoder.memory", "decoder.logits", "tokens", "score"} <= set(case["outputs"])  # each graph, then the loop
    on_torch = json.loads(hub("evaluate", model, "--data", folder / "test.jsonl", "--json"))
    on_onnx = json.loads(hub("evaluate", model, "--data", folder / "test.jsonl", "--onnx", "--json"))
    assert on_torch["exact_match"] > 0.9, on_torch  # it learnt the task: the greedy loop generates it
    assert on_onnx["exact_match"] == on_torch["exact_match"]


def test_torch_onnx_and_the_server_generate_the_same_text(reverser, tmp_path, monkeypatch):
    folder, model = reverser
    monkeypatch.setenv("PLUGHUB_TEST_SHAPES", "1")
    on_torch = [row["answer"] for row in json.loads(hub("predict", model, "--json", "--", *INPUTS))]
    on_onnx = predict_without_torch(tmp_path, RUN_HUB + ["predict", str(model), "--onnx", "--json", "--", *INPUTS])
    assert [a["text"] for a in on_torch] == [a["text"] for a in on_onnx]
    assert [a["score"] for a in on_torch] == pytest.approx([a["score"] for a in on_onnx], abs=1e-4)
    assert on_torch[0]["text"] == "9 5 1 4 1 3"
    with serving(tmp_path, model) as server:
        served = server.answers("model", INPUTS)
        status, _, metadata = server.request("/v2/models/model")  # several graphs: the entry graph's inputs
        assert status == 200 and [i["name"] for i in metadata["inputs"]][0] == "raw", metadata
        body = {"inputs": [{"name": "raw", "shape": [len(INPUTS)], "datatype": "BYTES", "data": INPUTS}]}
        status, _, answer = server.request("/v2/models/model/infer", body, method="POST")
        assert status == 200, answer
        generated = [json.loads(a) for a in answer["outputs"][0]["data"]]
        assert answer["outputs"][0]["name"] == "answer" and generated == served
    assert [a["text"] for a in served] == [a["text"] for a in on_onnx]


def test_a_swapped_graph_of_a_program_is_refused(reverser, tmp_path):
    _, model = reverser
    copy = tmp_path / "copy"
    shutil.copytree(model, copy)
    assert set(json.loads((copy / "export.json").read_text())["sha256"]) == {"encoder.onnx", "decoder.onnx"}
    shutil.copyfile(copy / "encoder.onnx", copy / "decoder.onnx")  # another graph under the decoder's name
    done = subprocess.run(RUN_HUB + ["predict", str(copy), "--onnx", "--", INPUTS[0]], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1", "PLUGHUB_TEST_SHAPES": "1"})
    assert done.returncode != 0 and "decoder.onnx: not the graph export.json validated" in done.stderr
    assert done.stderr.count("\n") == 1
