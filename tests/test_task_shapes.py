"""The task contract carries a detection-shaped task end to end (tests/shapeplug.py): several
named outputs, a ragged number of targets per example, a label-aware augmentation, an open
feature kind and a numpy decoder, through finetune -> evaluate -> export -> predict --onnx ->
serve, with torch and onnxruntime answering alike."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from hub_core.model.contracts import Batch, Example
from tests.shapeplug import LENGTH, SignalPreprocessor, SpanDetection, make_signals
from tests.test_runtime import predict_without_torch
from tests.test_serve import RUN_HUB, serving

pytestmark = pytest.mark.slow
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PLUGHUB_TEST_SHAPES": "1"}


def hub(*args, cwd=None) -> str:
    done = subprocess.run(RUN_HUB + [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def trained(folder, make, backbone: str, task: str, sizes: tuple[int, int], epochs: int):
    """(folder, model directory): ``make``'s train and test sets, fine-tuned and exported."""
    make(folder / "train.jsonl", sizes[0], seed=0)
    make(folder / "test.jsonl", sizes[1], seed=1)
    hub("finetune", backbone, "--task", task, "--data", folder / "train.jsonl", "--out", folder / "model",
        "--epochs", str(epochs), "--lr", "3e-3", "--patience", "0")  # every epoch: the window AP saturates early
    hub("export", folder / "model")
    return folder, folder / "model"


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("spans"), make_signals, "shapes/conv", "shapes/spans", (300, 60), 10)


def signals(folder, n: int) -> list[str]:
    rows = [json.loads(line) for line in (folder / "test.jsonl").read_text().splitlines()[:n]]
    return [",".join(map(str, row["signal"])) for row in rows]


def test_a_detection_shaped_task_trains_evaluates_and_exports(spans):
    folder, model = spans
    manifest = json.loads((model / "hub.json").read_text())
    assert manifest["task"]["output_names"] == ["objectness", "extent", "class_logits"]
    assert manifest["monitor"]["metric"] == "ap50" and manifest["monitor"]["mode"] == "max"
    report = json.loads((model / "export.json").read_text())
    assert report["status"] == "ok" and report["outputs"] == ["objectness", "extent", "class_logits"]
    on_torch = json.loads(hub("evaluate", model, "--data", folder / "test.jsonl", "--json"))
    on_onnx = json.loads(hub("evaluate", model, "--data", folder / "test.jsonl", "--onnx", "--json"))
    assert on_torch["ap50"] > 0.8, on_torch  # it learnt to find the spans: the loss saw the ragged targets
    assert on_onnx["ap50"] == pytest.approx(on_torch["ap50"], abs=1e-6)
    assert on_onnx["f1"] == pytest.approx(on_torch["f1"], abs=1e-6)


def test_torch_onnx_and_the_server_give_the_same_spans(spans, tmp_path, monkeypatch):
    folder, model = spans
    inputs = signals(folder, 6)
    monkeypatch.setenv("PLUGHUB_TEST_SHAPES", "1")  # for the torch-free runs below
    on_torch = [row["answer"] for row in json.loads(hub("predict", model, "--json", "--", *inputs))]
    on_onnx = predict_without_torch(tmp_path, RUN_HUB + ["predict", str(model), "--onnx", "--json", "--", *inputs])
    assert on_torch == on_onnx and any(answer["objects"] for answer in on_torch)
    with serving(tmp_path, model) as server:
        served = server.answers("model", inputs)
    assert served == on_onnx


def test_the_augmentation_moves_the_spans_with_the_signal():
    signal = np.zeros(LENGTH, dtype=np.float32)
    signal[2:10] = 2.0
    pre = SignalPreprocessor({})
    flipped = [pre.with_label(signal, [[2, 10, "a"]], train=True, rng=np.random.default_rng(seed))
               for seed in range(8)]
    moved = [(arrays, label) for arrays, label in flipped if label != [[2, 10, "a"]]]
    assert 0 < len(moved) < 8  # about half the draws flip
    arrays, label = moved[0]
    assert label == [[LENGTH - 10, LENGTH - 2, "a"]] and arrays["signal"][0, LENGTH - 10:LENGTH - 2].min() == 2.0
    assert pre.with_label(signal, [[2, 10, "a"]], train=False, rng=np.random.default_rng(0))[1] == [[2, 10, "a"]]


def test_ragged_targets_stay_a_list_and_reach_loss_and_metrics():
    import torch

    task = SpanDetection()
    task.fit([Example(None, [[0, 4, "a"]]), Example(None, [[1, 5, "b"], [9, 20, "a"]])])
    targets = task.collate_targets([task.encode([[0, 4, "a"]], {}), task.encode([[1, 5, "b"], [9, 20, "a"]], {})])
    assert isinstance(targets, list) and [t.shape for t in targets] == [(1, 3), (2, 3)]
    outputs = {"objectness": torch.zeros(2, LENGTH, requires_grad=True), "extent": torch.ones(2, LENGTH, 2),
               "class_logits": torch.zeros(2, LENGTH, 2)}
    loss = task.loss(outputs, Batch({}, [torch.from_numpy(t) for t in targets]))
    loss.backward()
    assert loss.item() > 0 and outputs["objectness"].grad.abs().sum() > 0
    # a perfect prediction of the second example's spans scores 1.0
    perfect = {"objectness": np.full((1, LENGTH), -9.0), "extent": np.zeros((1, LENGTH, 2)),
               "class_logits": np.zeros((1, LENGTH, 2))}
    for start, end, kind in targets[1]:
        centre = int((start + end) / 2)
        perfect["objectness"][0, centre] = 9.0
        perfect["extent"][0, centre] = [centre - start, end - centre]
        perfect["class_logits"][0, centre, int(kind)] = 5.0
    [metric] = task.metrics()
    metric.update(perfect, Batch({}, [targets[1]]))
    assert metric.compute() == {"ap50": 1.0, "f1": 1.0}


def long_signal(objects, length: int = 160, seed: int = 5) -> str:
    signal = np.random.default_rng(seed).normal(0, 0.3, length)
    for start, end, kind in objects:
        signal[start:end] += 2.0 if kind == "a" else -2.0
    return ",".join(f"{v:.4f}" for v in signal)


def test_a_long_signal_is_cut_into_windows_and_gathered_into_one_answer(spans, tmp_path, monkeypatch):
    """Fan-out and back in: 160 samples become windows [0, 64), [48, 112), [96, 160); each is
    decoded on its own and the spans gathered in the whole signal's coordinates, an object in
    an overlap (52-60) once."""
    folder, model = spans
    monkeypatch.setenv("PLUGHUB_TEST_SHAPES", "1")
    truth = [(10, 18, "a"), (28, 38, "b"), (52, 60, "a"), (80, 90, "b"), (120, 130, "a")]
    inputs = [long_signal(truth), signals(folder, 1)[0]]
    on_torch = [row["answer"] for row in json.loads(hub("predict", model, "--json", "--", *inputs))]
    on_onnx = predict_without_torch(tmp_path, RUN_HUB + ["predict", str(model), "--onnx", "--json", "--", *inputs])
    assert on_torch == on_onnx
    found = on_torch[0]["objects"]
    assert len(found) == len(truth), found
    for start, end, kind in truth:
        assert any(o["label"] == kind and abs(o["start"] - start) < 2.5 and abs(o["end"] - end) < 2.5 for o in found), \
            (start, end, found)
    with serving(tmp_path, model) as server:
        assert server.answers("model", inputs) == on_onnx
    rows = [{"signal": [float(v) for v in long_signal(truth, seed=s).split(",")],
             "objects": [list(t) for t in truth]} for s in range(6)]
    (tmp_path / "long.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    by_torch = json.loads(hub("evaluate", model, "--data", tmp_path / "long.jsonl", "--json"))
    by_onnx = json.loads(hub("evaluate", model, "--data", tmp_path / "long.jsonl", "--onnx", "--json"))
    assert by_torch["ap50"] == pytest.approx(by_onnx["ap50"], abs=1e-6) and by_torch["ap50"] > 0.8, by_torch
