"""The Python API (hub_core.python, reachable as ``import hub_core as hub``): the CLI's own calls,
so a keyword means what its flag means and the answers are the CLI's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hub_core as hub
from hub_core import python
from hub_core.common.errors import HubError, UsageError
from tests.tinyplug import make_blobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def api(tiny_hub, monkeypatch):
    """hub_core.python with the tiny test plugin installed (its catalogue loaded afresh)."""
    monkeypatch.setattr(python, "_CATALOGUE", tiny_hub.catalogue)
    return hub


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobs")
    return make_blobs(folder / "train.csv", n=200, seed=0), make_blobs(folder / "test.csv", n=60, seed=0)


def test_finetune_evaluate_export_load_predict_agree_with_the_cli(api, blobs, tmp_path, hub_cli):
    train, test = blobs
    out = tmp_path / "m"
    metrics = api.finetune("tiny/mlp", task="classification", data=train, out=out, epochs=4, lr=3e-3, quiet=True)
    assert metrics["accuracy"] > 0.9
    training = json.loads((out / "hub.json").read_text())["training"]
    assert training["epochs"] == 4 and training["lr"] == 3e-3 and training["recipe"]["epochs"] == "flag"
    # the same run from the CLI gives the same weights: one call path
    code, _, err = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", train, "-o", tmp_path / "cli",
                           "--epochs", "4", "--lr", "3e-3", "-q")
    assert code == 0, err
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "cli" / "model.safetensors").read_bytes()

    assert api.evaluate(out, test)["accuracy"] > 0.9
    report = api.export(out)
    assert report["status"] == "ok" and (out / "model.onnx").is_file()
    assert api.evaluate(out, test, onnx=True)["accuracy"] == pytest.approx(api.evaluate(out, test)["accuracy"])

    rows = [line.split(",") for line in test.read_text().splitlines()[1:4]]
    inputs = [",".join(row[:-1]) for row in rows]
    on_onnx, on_torch = api.load(out, onnx=True), api.load(out)
    answers = on_onnx.predict(inputs, top_k=2)
    assert len(answers) == 3 and [a["label"] for a in answers] == [a["label"] for a in on_torch.predict(inputs, top_k=2)]
    assert answers[0]["top_k"][0]["label"] == answers[0]["label"]
    assert on_onnx(inputs[0]) == [on_onnx.predict(inputs, top_k=1)[0]]  # one string is one input
    code, text, err = hub_cli("predict", out, "--onnx", "--json", "--top-k", "2", "--", *inputs)
    assert code == 0, err
    assert [row["answer"] for row in json.loads(text)] == json.loads(json.dumps(answers))
    assert on_onnx.manifest["task"]["name"] == "classification" and "onnxruntime" in repr(on_onnx)


def test_loading_with_onnx_imports_no_torch(api, blobs, tmp_path):
    out = tmp_path / "m"
    api.finetune("tiny/mlp", task="classification", data=blobs[0], out=out, epochs=1, quiet=True)
    api.export(out)
    script = ("import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
              "from hub_core.plugin import manager; manager.BUILTINS['tiny'] = 'tests.tinyplug'\n"
              "import hub_core as hub\n"
              f"print(hub.load({str(out)!r}, onnx=True).predict(['0,0,0,0,0,0,0,0'])[0]['label'])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in ("a", "b", "c")


def test_bad_calls_are_one_line_errors(api, blobs, tmp_path):
    with pytest.raises(UsageError, match=r"unknown training setting 'epoch' \(did you mean 'epochs'"):
        api.finetune("tiny/mlp", task="classification", data=blobs[0], out=tmp_path / "m", epoch=3)
    with pytest.raises(UsageError, match="--task is required"):
        api.finetune("tiny/mlp", data=blobs[0], out=tmp_path / "m")
    with pytest.raises(UsageError, match=r"read: unknown option 'label_colum' \(did you mean 'label_column'"):
        api.evaluate(tmp_path, blobs[1], read={"label_colum": "y"})
    with pytest.raises(HubError, match="no model.onnx"):
        api.finetune("tiny/mlp", task="classification", data=blobs[0], out=tmp_path / "n", epochs=1, quiet=True)
        api.load(tmp_path / "n", onnx=True)


def test_a_rejected_int8_graph_warns_and_strict_raises(api, blobs, tmp_path, monkeypatch):
    from hub_core.common.errors import ExportError
    from hub_core.deploy import quantize

    out = tmp_path / "m"
    api.finetune("tiny/mlp", task="classification", data=blobs[0], out=out, epochs=1, quiet=True)
    real = quantize.judge_int8
    monkeypatch.setattr(quantize, "judge_int8", lambda *a, **k: {**real(*a, **k), "ok": False, "error": "forced"})
    with pytest.warns(UserWarning, match="int8 graph breaks its bound: forced"):
        report = api.export(out, quantize="int8")
    assert report["status"] == "ok" and report["int8"]["status"] == "rejected"
    with pytest.raises(ExportError, match="forced"):
        api.export(out, quantize="int8", strict_int8=True)


def test_the_user_api_is_reachable_from_hub_core_and_not_from_the_plugin_surface():
    from hub_core import api as plugin_api

    assert hub.load is python.load and hub.finetune is python.finetune and hub.export is python.export
    assert not {"load", "finetune", "evaluate", "export"} & set(plugin_api.EXPORTS)


def test_download_is_on_for_the_call_only(api, blobs, tmp_path, monkeypatch):
    from hub_core.train import loop

    seen = []
    monkeypatch.setattr(loop, "run", lambda catalogue, job, config: seen.append(os.environ.get("PLUGHUB_DOWNLOAD")) or {})
    monkeypatch.delenv("PLUGHUB_DOWNLOAD", raising=False)
    api.finetune("tiny/mlp", task="classification", data=blobs[0], out=tmp_path / "a", download=True)
    api.finetune("tiny/mlp", task="classification", data=blobs[0], out=tmp_path / "b")
    assert seen == ["1", None] and "PLUGHUB_DOWNLOAD" not in os.environ
