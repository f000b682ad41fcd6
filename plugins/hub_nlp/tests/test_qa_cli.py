"""Extractive QA end to end through ``hub``: finetune (SQuAD v2 JSON) -> evaluate -> export (and int8) ->
``predict --onnx`` (torch not importable) -> ``serve``, with a context long enough to be cut into
windows, torch and onnxruntime giving the identical span."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT
from qagen import qa_rows, write_jsonl, write_squad

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.test_serve, tests.test_runtime: the torch-free runners

from tests.test_runtime import predict_without_torch  # noqa: E402
from hubcli import hub, ok  # noqa: E402
from tests.test_serve import RUN_HUB, serving  # noqa: E402

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qa")
    # one fact a context: a tiny model from scratch learns where the answer is in a few epochs
    write_squad(folder / "train.json", qa_rows(400, seed=0, facts=1, unanswerable=0.2))
    write_jsonl(folder / "test.jsonl", qa_rows(80, seed=1, facts=1, unanswerable=0.2))
    ok("finetune", "nlp/bert-tiny", "--task", "extractive-qa", "--data", folder / "train.json", "--out",
       folder / "model", "--max-length", "64", "--epochs", "4", "--lr", "1e-3", "--patience", "0", "-q")
    ok("export", folder / "model", "--quantize", "int8")
    return folder, folder / "model"


def questions() -> list[str]:
    """Typed-in pairs; the last context is cut into windows (64 tokens each)."""
    rows = qa_rows(3, seed=2, facts=1) + qa_rows(1, seed=3, facts=9)
    return [f"{row['question']} ||| {row['context']}" for row in rows]


def test_qa_trains_evaluates_and_exports_one_graph_scored_alike_by_torch_and_onnx(reader):
    folder, model = reader
    manifest = json.loads((model / "hub.json").read_text())
    assert manifest["task"]["output_names"] == ["start_logits", "end_logits"]
    assert manifest["preprocessor"]["config"]["qa"] is True
    assert manifest["task"]["state"]["options"]["unanswerable"] is True  # v2 data: it may abstain
    report = json.loads((model / "export.json").read_text())
    assert report["status"] == "ok" and report["outputs"] == ["start_logits", "end_logits"]
    judged = report["int8"]["judgement"]  # int8 judged by the task's own metric on the validation windows
    assert judged["metric"] == "f1" and judged["fp32"] > 0.5 and judged["ok"] == (report["int8"]["status"] == "ok")
    on_torch = json.loads(ok("evaluate", model, "--data", folder / "test.jsonl", "--json"))
    on_onnx = json.loads(ok("evaluate", model, "--data", folder / "test.jsonl", "--onnx", "--json"))
    # it learnt to find the span (abstaining on every question would score 0.2, the unanswerable share)
    assert on_torch["questions"] == 80 and on_torch["f1"] > 0.7, on_torch
    assert on_onnx["exact_match"] == on_torch["exact_match"] and on_onnx["f1"] == pytest.approx(on_torch["f1"])


def test_torch_onnx_and_the_server_answer_the_same_span(reader, tmp_path):
    _, model = reader
    asked = questions()
    on_torch = [row["answer"] for row in json.loads(ok("predict", model, "--json", "--", *asked))]
    on_onnx = predict_without_torch(tmp_path, RUN_HUB + ["predict", str(model), "--onnx", "--json", "--", *asked])
    spans = [(a["text"], a["start"], a["end"]) for a in on_torch]
    assert spans == [(a["text"], a["start"], a["end"]) for a in on_onnx]
    assert [a["score"] for a in on_torch] == pytest.approx([a["score"] for a in on_onnx], abs=1e-4)
    for text, answer in zip(asked, on_torch):  # each answer is cut from its own context
        context = text.split("|||", 1)[1].strip()
        assert answer["text"] == (context[answer["start"]:answer["end"]] if answer["start"] >= 0 else "")
    with serving(tmp_path, model) as server:
        served = server.answers("model", [text.split(" ||| ") for text in asked])
    assert [(a["text"], a["start"], a["end"]) for a in served] == spans


def test_a_bad_answer_start_stops_finetune_with_one_line_naming_the_row(tmp_path):
    rows = qa_rows(30, seed=4)
    rows[6]["answer_start"] = rows[6]["answer_start"] + 2
    done = hub("finetune", "nlp/bert-tiny", "--task", "extractive-qa", "--data", write_jsonl(tmp_path / "bad.jsonl", rows),
               "--out", tmp_path / "m", "-q")
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    assert f"bad.jsonl:7: answer_start {rows[6]['answer_start']} does not point at the answer" in done.stderr
