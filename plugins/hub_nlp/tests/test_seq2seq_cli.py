"""Text to text end to end through ``hub``: finetune a tiny BART (tokenizer trained on the
corpus) -> evaluate -> export as an encoder graph and a decoder-step graph with an explicit
key/value cache -> ``predict --onnx`` (torch not importable) -> ``serve``; greedy and beam
translations identical token for token on torch and onnxruntime."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import ROOT
from s2sgen import pairs, write_csv, write_parallel

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.test_serve, tests.test_runtime: the torch-free runners

from tests.test_runtime import predict_without_torch  # noqa: E402
from hubcli import hub, ok  # noqa: E402
from tests.test_serve import RUN_HUB, serving  # noqa: E402

pytestmark = pytest.mark.slow
TINY = ("--backbone-option", "d_model=64", "--backbone-option", "encoder_layers=2", "--backbone-option",
        "decoder_layers=2", "--backbone-option", "encoder_ffn_dim=128", "--backbone-option", "decoder_ffn_dim=128")
SOURCES = ["3 1 4", "2 7 1 8", "0 0 5", "9"]



@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s2s")
    source, target = write_parallel(folder, pairs(500, seed=0))  # the two-file form; tables in test_seq2seq.py
    write_csv(folder / "test.csv", pairs(60, seed=1))
    ok("finetune", "nlp/seq2seq", *TINY, "--task", "seq2seq", "--data", source, "--read-option", f"target={target}",
       "--out", folder / "model", "--epochs", "12", "--lr", "3e-3", "--patience", "0", "-p", "vocab_size=60",
       "--task-option", "max_new_tokens=12", "-q")
    ok("export", folder / "model")
    return folder, folder / "model"


def test_the_model_exports_two_graphs_with_an_explicit_cache_validated_with_the_loop(translator):
    folder, model = translator
    report = json.loads((model / "export.json").read_text())
    assert report["status"] == "ok" and report["program"] == "hub_nlp.seq2seq:Seq2SeqProgram", report.get("error")
    assert report["graphs"]["decoder"]["outputs"] == ["logits", "keys", "values"]
    assert [i["name"] for i in report["graphs"]["decoder"]["inputs"]][-2:] == ["past_keys", "past_values"]
    assert all(graph["exporter"] in ("dynamo", "torchscript") for graph in report["graphs"].values())
    assert {"decoder.keys", "tokens", "score"} <= set(report["validation"]["cases"][0]["outputs"])
    on_torch = json.loads(ok("evaluate", model, "--data", folder / "test.csv", "--json"))
    on_onnx = json.loads(ok("evaluate", model, "--data", folder / "test.csv", "--onnx", "--json"))
    assert on_torch["chrf"] > 0.5, on_torch  # it learnt to spell digits in German
    assert on_onnx["bleu"] == on_torch["bleu"] and on_onnx["chrf"] == on_torch["chrf"]


@pytest.mark.parametrize("beams", [1, 3])
def test_torch_onnx_and_the_server_translate_token_for_token_alike(translator, tmp_path, beams):
    _, model = translator
    if beams > 1:  # the same model, decoding with a beam: a task option kept in hub.json
        manifest = json.loads((model / "hub.json").read_text())
        assert manifest["task"]["state"]["options"]["num_beams"] == 1
        model = retuned(model, tmp_path / "beam", num_beams=beams)
    on_torch = [row["answer"] for row in json.loads(ok("predict", model, "--json", "--", *SOURCES))]
    on_onnx = predict_without_torch(tmp_path, RUN_HUB + ["predict", str(model), "--onnx", "--json", "--", *SOURCES])
    assert [a["text"] for a in on_torch] == [a["text"] for a in on_onnx]
    assert [a["score"] for a in on_torch] == pytest.approx([a["score"] for a in on_onnx], abs=1e-4)
    assert all(a["text"] and 0 < a["score"] <= 1 for a in on_torch), on_torch  # (how good: the chrF of the test above)
    with serving(tmp_path, model) as server:
        assert [a["text"] for a in server.answers(model.name, SOURCES)] == [a["text"] for a in on_onnx]


def retuned(model, copy, **options):
    """A copy of the model directory whose task decodes with other options (its graphs unchanged)."""
    import shutil

    shutil.copytree(model, copy)
    manifest = json.loads((copy / "hub.json").read_text())
    manifest["task"]["state"]["options"].update(options)
    (copy / "hub.json").write_text(json.dumps(manifest))
    return copy


def test_an_empty_target_stops_finetune_with_one_line_naming_file_and_line(tmp_path):
    rows = pairs(20, seed=3)
    rows[4] = (rows[4][0], " ")
    source, target = write_parallel(tmp_path, rows)
    done = hub("finetune", "nlp/seq2seq", *TINY, "--task", "seq2seq", "--data", source, "--read-option",
               f"target={target}", "--out", tmp_path / "m", "-q")
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr
    assert f"{target}:5: empty target" in done.stderr
