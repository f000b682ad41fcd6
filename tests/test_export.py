"""hub export / hub bench on the tiny test plugin: validation at several shapes, rejection of a
diverging graph, int8, and ONNX answers equal to torch's."""
import json
import math

import numpy as np
import pytest

from tests import tinyplug
from tests.tinyplug import make_blobs


@pytest.fixture
def trained(hub_cli, tmp_path):
    """Train a tiny model for a task; returns its directory (data recorded in hub.json)."""
    def train(task="classification", *extra):
        data = make_blobs(tmp_path / f"{task}.csv", n=240, seed=1, kind=task)
        out = tmp_path / f"run-{task}"
        code, _, stderr = hub_cli("finetune", "tiny/mlp", "--task", task, "--data", data, "--out", out, "--epochs", "3",
                                  "--lr", "3e-3", "--quiet", *extra)
        assert code == 0, stderr
        return out

    return train


def predictions(hub_cli, model_dir, *args):
    code, stdout, stderr = hub_cli("predict", model_dir, *args, "--json")
    assert code == 0, stderr
    return [row["answer"] for row in json.loads(stdout)]


def test_export_validates_at_three_shapes_and_onnx_answers_match_torch(hub_cli, trained, tmp_path):
    model_dir = trained("classification")
    code, stdout, stderr = hub_cli("export", model_dir)
    assert code == 0, stderr
    assert "onnxruntime vs torch" in stdout and "ok: dynamo exporter" in stderr
    report = json.loads((model_dir / "export.json").read_text())
    assert report["status"] == "ok" and report["exporter"] == "dynamo" and (model_dir / "model.onnx").is_file()
    assert report["outputs"] == ["logits", "probabilities"]
    validation = report["validation"]
    assert validation["distinct_shapes"] >= 3
    assert {c["source"] for c in validation["cases"]} == {"validation data", "generated"}
    assert "held out" in validation["data"]  # the training file's validation split, re-read
    batches = {c["shapes"]["x"][0] for c in validation["cases"]}
    assert 1 in batches and max(batches) >= 8
    for case in validation["cases"]:
        assert case["ok"], case
        for name, stats in case["outputs"].items():
            assert stats["max_abs"] <= 1e-4 and stats["argmax_agreement"] == 1.0, (case["name"], name)

    inputs = tmp_path / "inputs.csv"
    make_blobs(inputs, n=40, seed=5)
    torch_answers = predictions(hub_cli, model_dir, inputs)
    onnx_answers = predictions(hub_cli, model_dir, inputs, "--onnx")
    assert [a["label"] for a in onnx_answers] == [a["label"] for a in torch_answers]
    assert np.allclose([a["score"] for a in onnx_answers], [a["score"] for a in torch_answers], atol=1e-5)
    # a bare model.onnx beside its hub.json works too, and so does a single CLI input
    single = ",".join(["0.5"] * 8)
    [bare], [eager] = predictions(hub_cli, model_dir / "model.onnx", single, "--onnx"), predictions(hub_cli, model_dir, single)
    assert bare["label"] == eager["label"] and abs(bare["score"] - eager["score"]) < 1e-5


@pytest.mark.parametrize("task", ["regression", "multilabel"])
def test_other_tasks_export_and_answer_like_torch(hub_cli, trained, tmp_path, task):
    model_dir = trained(task)
    code, _, stderr = hub_cli("export", model_dir)
    assert code == 0, stderr
    report = json.loads((model_dir / "export.json").read_text())
    if task == "regression":  # "prediction" is de-standardised: the raw head output is exported beside it
        assert report["outputs"] == ["prediction", "standardized"]
    inputs = make_blobs(tmp_path / "inputs.csv", n=20, seed=7, kind=task)
    torch_answers = predictions(hub_cli, model_dir, inputs)
    onnx_answers = predictions(hub_cli, model_dir, inputs, "--onnx")
    if task == "regression":
        assert np.allclose([a["value"] for a in onnx_answers], [a["value"] for a in torch_answers], rtol=1e-5, atol=1e-4)
    else:
        assert [[x["label"] for x in a["labels"]] for a in onnx_answers] == \
               [[x["label"] for x in a["labels"]] for a in torch_answers]


def diverging_mlp(config, weights):
    """The tiny MLP shifted by a sum computed in Python: dynamo refuses the data-dependent
    list, and TorchScript bakes the export example's sum into the graph as a constant."""
    model = ORIGINAL_BUILD(config, weights)
    forward = model.forward

    def detour(x):
        features = forward(x)
        return {"pooled": features["pooled"] + math.fsum(x.flatten().tolist())}

    model.forward = detour
    return model


ORIGINAL_BUILD = tinyplug.build_mlp


def test_a_diverging_graph_is_rejected_loudly_and_kept_aside(hub_cli, trained, monkeypatch):
    model_dir = trained("classification", "--epochs", "1")
    monkeypatch.setattr(tinyplug, "build_mlp", diverging_mlp)
    (model_dir / "model.onnx").write_bytes(b"an older graph")  # must not survive a report it does not match
    code, _, stderr = hub_cli("export", model_dir)
    assert code == 1
    assert "does not match torch" in stderr and "model.onnx.rejected" in stderr and "Traceback" not in stderr
    report = json.loads((model_dir / "export.json").read_text())
    assert report["status"] == "rejected" and report["exporter"] == "torchscript" and report["dynamo_error"]
    assert (model_dir / "model.onnx.rejected").is_file() and not (model_dir / "model.onnx").exists()
    assert any(not c["ok"] for c in report["validation"]["cases"])
    code, _, stderr = hub_cli("predict", model_dir, "1,2,3,4,5,6,7,8", "--onnx")
    assert code == 1 and "rejected" in stderr

    code, _, stderr = hub_cli("export", model_dir, "--allow-mismatch")
    assert code == 0, stderr
    assert json.loads((model_dir / "export.json").read_text())["status"] == "mismatch-allowed"
    assert (model_dir / "model.onnx").is_file()


def test_int8_and_bench_compare_engines_side_by_side(hub_cli, trained):
    model_dir = trained("classification")
    code, stdout, stderr = hub_cli("export", model_dir, "--quantize", "int8")
    assert code == 0, stderr
    report = json.loads((model_dir / "export.json").read_text())
    int8 = report["int8"]
    assert (model_dir / "model.int8.onnx").is_file() and int8["method"] == "dynamic"
    engines = {row["engine"]: row for row in int8["comparison"]["engines"]}
    assert set(engines) == {"torch eager fp32", "onnxruntime fp32", "onnxruntime int8"}
    for row in engines.values():
        assert row["latency_ms_batch1"] > 0 and 0 <= row["metrics"]["accuracy"] <= 1
    assert engines["onnxruntime fp32"]["metrics"] == engines["torch eager fp32"]["metrics"]
    assert abs(int8["comparison"]["int8_metric_delta"]) <= 0.05
    assert "accuracy" in stdout and "onnxruntime int8" in stdout

    code, stdout, stderr = hub_cli("bench", model_dir, "--batch", "1,4", "--repeats", "5", "--json")
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["threads"]["torch_intra_op"] == result["threads"]["onnxruntime_intra_op"] >= 1
    assert {(r["engine"], r["batch"]) for r in result["results"]} == \
           {(e, b) for e in engines for b in (1, 4)}
    assert all(r["median_ms"] > 0 and r["examples_per_s"] > 0 for r in result["results"])
    code, stdout, _ = hub_cli("bench", model_dir, "--batch", "2", "--repeats", "5")
    assert code == 0 and "examples/s" in stdout and "intra-op threads" in stdout and "int8" in stdout


def test_export_errors_are_one_line(hub_cli, trained, tmp_path):
    code, _, stderr = hub_cli("export", tmp_path)
    assert code == 1 and "not a model directory" in stderr and "Traceback" not in stderr
    model_dir = trained("classification", "--epochs", "1")
    code, _, stderr = hub_cli("predict", model_dir, "1,2,3,4,5,6,7,8", "--onnx")
    assert code == 1 and "hub export" in stderr
    code, _, stderr = hub_cli("bench", model_dir)
    assert code == 1 and "hub export" in stderr
    code, _, stderr = hub_cli("bench", model_dir, "--batch", "0")
    assert code == 2 and "--batch" in stderr


@pytest.mark.slow
def test_a_cnn_is_quantized_statically_with_calibration_on_its_training_data(hub_cli, tmp_path):
    pytest.importorskip("hub_vision")
    from tests.example_scripts import example

    shapes = example("vision/make_shapes.py").make_shapes(tmp_path / "shapes", per_class=16, size=32, seed=0)
    model_dir = tmp_path / "cnn"
    code, _, stderr = hub_cli("finetune", "vision/tiny", "-t", "classification", "-d", shapes, "-o", model_dir,
                              "--epochs", "2", "--quiet")
    assert code == 0, stderr
    code, _, stderr = hub_cli("export", model_dir, "--quantize", "int8")
    assert code == 0, stderr
    report = json.loads((model_dir / "export.json").read_text())
    assert report["fixed_axes"] == {"pixel_values": {"height": 32, "width": 32}}  # the preprocessor's one size
    names = [case["name"] for case in report["validation"]["cases"] if case["source"] == "generated"]
    assert names == ["generated, batch 1", "generated, batch 8", "generated, batch 3"]  # one size: no "length x0.5"
    int8 = report["int8"]
    assert int8["method"] == "static" and "training examples" in int8["calibration"]
    rows = {row["engine"]: row for row in int8["comparison"]["engines"]}
    assert rows["onnxruntime int8"]["size_bytes"] < 0.5 * rows["onnxruntime fp32"]["size_bytes"]
    assert abs(int8["comparison"]["int8_metric_delta"]) <= 0.15
    images = sorted(str(p) for p in (shapes / "circle").iterdir())[:4]
    assert len(predictions(hub_cli, model_dir / "model.int8.onnx", *images, "--onnx")) == 4


def test_generated_cases_name_a_length_only_where_it_changed_the_shapes():
    from hub_core.deploy.export import generated_name

    class Fixed:  # images: one size after preprocessing, whatever the scale
        def synthetic(self, batch, scale, rng):
            return {"pixel_values": np.zeros((batch, 3, 8, 8), np.float32)}

    class Stretchy:  # token ids: longer with the scale
        def synthetic(self, batch, scale, rng):
            return {"input_ids": np.zeros((batch, int(10 * scale)), np.int64)}

    assert generated_name(Fixed(), 1, 0.5, Fixed().synthetic(1, 0.5, None)) == "generated, batch 1"
    assert generated_name(Stretchy(), 3, 3.0, Stretchy().synthetic(3, 3.0, None)) == "generated, batch 3, length x3"
    assert generated_name(Stretchy(), 8, 1.0, Stretchy().synthetic(8, 1.0, None)) == "generated, batch 8"


def test_bench_warns_when_its_ratios_are_noise():
    from hub_core.deploy.bench import noise_notes

    torch_row = {"engine": "torch eager fp32", "batch": 1, "beyond_spread": True}
    rows = [torch_row, {"engine": "onnxruntime fp32", "batch": 1, "beyond_spread": False},
            {"engine": "onnxruntime fp32", "batch": 16, "beyond_spread": True}]
    notes = noise_notes(rows, threads=2, load_before=0.0)
    assert notes == ["within the runs' spread (marked ~, no speed-up can be read from them): onnxruntime fp32 at batch 1"]
    import os

    busy = noise_notes(rows[::2], threads=2, load_before=float(os.cpu_count() or 1))
    assert len(busy) == 1 and busy[0].startswith(f"load {float(os.cpu_count() or 1):.1f} on") and "--threads 1" in busy[0]
    assert noise_notes(rows[::2], threads=1, load_before=None) == []


def test_a_graph_without_the_tasks_outputs_is_one_line(tmp_path, tiny_hub):
    """A regression graph exported by plugin API 1 gave ``prediction`` and ``head_output``; the
    task now reads ``standardized``: opening it says to export again, not a KeyError later."""
    import onnx
    from onnx import TensorProto, helper

    from hub_core.common.errors import ExportError
    from hub_core.deploy.runtime import OnnxModel

    (tmp_path / "hub.json").write_text(json.dumps({
        "format_version": 1, "modality": "vectors", "inputs": [],
        "backbone": {"name": "tiny/mlp", "config": {}, "feature_dim": 4},
        "head": {"name": "linear", "options": {}, "num_outputs": 1},
        "task": {"name": "regression", "state": {"mean": 0.0, "std": 1.0, "options": {}},
                 "output_names": ["prediction", "standardized"]},
        "preprocessor": {"config": {"mean": [0.0] * 8, "std": [1.0] * 8}}}))
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["prediction"]),
                               helper.make_node("Identity", ["x"], ["head_output"])], "old",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1])],
                              [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["batch", 1]),
                               helper.make_tensor_value_info("head_output", TensorProto.FLOAT, ["batch", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "model.onnx"))
    with pytest.raises(ExportError, match="the graph has no output standardized .*run 'hub export"):
        OnnxModel(tiny_hub.catalogue, tmp_path)
