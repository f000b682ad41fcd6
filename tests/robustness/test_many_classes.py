"""Many classes: 10,000 classes of 2 examples each fine-tune within bounded memory, and the
per-class outputs go compactly to ``.npy`` files beside a small hub.json (the dense 10,000²
confusion matrix, pretty-printed, was a 1.1 GB hub.json; building it took > 12.8 GB). The
automatic --val-split holds out one example of as many classes as it has room for and never
a class's last one. Up to 50 classes, hub.json keeps the readable JSON form.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.robustness.helpers import ROOT

RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def write_classes(path: Path, classes: int, per_class: int = 2) -> Path:
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"x{i}" for i in range(8)] + ["label"])
        for c in range(classes):
            centre = rng.standard_normal(8)
            for _ in range(per_class):
                writer.writerow([f"{v:.3f}" for v in centre + 0.1 * rng.standard_normal(8)] + [f"class{c:05d}"])
    return path


@pytest.mark.slow
def test_ten_thousand_classes_of_two_examples(tmp_path):
    data, out = write_classes(tmp_path / "many.csv", 10_000), tmp_path / "run"
    # RUSAGE_CHILDREN is the largest child this process ever waited for (other tests' too): the
    # run goes through a fresh Python process that reports the peak of its one child
    measure = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")
    done = subprocess.run([sys.executable, "-c", measure] + RUNNER + [
        "finetune", "tiny/mlp", "-t", "classification", "-d", str(data), "-o", str(out), "--epochs", "1", "--quiet"],
        env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    peak_gib = int(done.stdout.split()[-1]) / 2**20  # kilobytes on Linux
    assert peak_gib < 3, f"peak memory {peak_gib:.1f} GiB"  # ~1.3 GiB measured, 0.9 of it the imports
    assert (out / "hub.json").stat().st_size < 1_000_000  # the 10,000 label names are most of it
    manifest = json.loads((out / "hub.json").read_text())
    metrics = manifest["metrics"]
    assert metrics["per_class"] == {"file": "per_class.npy", "shape": [10_000, 3], "dtype": "float64",
                                    "columns": ["precision", "recall", "support"]}
    assert metrics["confusion_counts"]["columns"] == ["true", "predicted", "count"]
    assert "confusion_matrix" not in metrics and not (out / "confusion.png").exists()
    per_class = np.load(out / "per_class.npy", allow_pickle=False)
    counts = np.load(out / "confusion_counts.npy", allow_pickle=False)
    n_val = manifest["data"]["val_examples"]
    assert per_class[:, 2].sum() == n_val == counts[:, 2].sum()
    assert n_val == 2_000  # --val-split 0.1 of 20,000: one example each of 2,000 classes, the other kept for training
    assert (per_class[:, 2] <= 1).all()


def test_many_classes_metrics_are_arrays_and_few_classes_stay_json():
    from hub_core.tasks.classification import ClassificationTask

    rng = np.random.default_rng(0)
    for k in (3, 51, 10_000):
        task = ClassificationTask(labels=[f"c{i}" for i in range(k)])
        targets = rng.integers(0, k, 500)
        logits = rng.standard_normal((500, k)).astype(np.float32)
        metrics = task.scores([(logits[:250], targets[:250]), (logits[250:], targets[250:])])
        predicted = logits.argmax(1)
        assert metrics["accuracy"] == pytest.approx((predicted == targets).mean())
        if k <= 50:
            matrix = np.asarray(metrics["confusion_matrix"])
            assert matrix.shape == (k, k) and matrix.sum() == 500 and np.trace(matrix) == (predicted == targets).sum()
            assert set(metrics["per_class"]) == set(task.labels)
        else:
            counts = metrics["confusion_counts"]
            assert counts.shape[1] == 3 and counts[:, 2].sum() == 500 and len(counts) <= 500
            correct = counts[counts[:, 0] == counts[:, 1], 2].sum()
            assert correct == (predicted == targets).sum()
            assert metrics["per_class"].shape == (k, 3) and metrics["per_class"][:, 2].sum() == 500


def test_the_stratified_split_never_holds_out_a_class_s_last_example():
    from hub_core.model.contracts import Example
    from hub_core.train.selection import holdout

    examples = [Example(None, f"c{i // 2}", str(i)) for i in range(2_000)] + [Example(None, "single", "x")] \
        + [Example(None, "triple", str(i)) for i in range(3)]  # 1,002 classes in 2,004 examples: still classes
    train, val = holdout(examples, 0.2, seed=0)
    assert len(val) == 401
    assert {e.label for e in val} <= {e.label for e in train}
    assert "single" in {e.label for e in train}


def test_many_classes_evaluation_keeps_decisions_not_logits():
    """Beyond two classes the metric keeps each example's decided class, not its logits (50,000
    classes x 15,000 examples would be 3 GB), and gives what the logits give."""
    from hub_core.model.contracts import Batch
    from hub_core.tasks.classification import ClassificationTask

    rng = np.random.default_rng(0)
    task = ClassificationTask(labels=[f"c{i}" for i in range(1000)])
    logits, targets = rng.normal(size=(300, 1000)).astype(np.float32), rng.integers(0, 1000, 300)
    [metric] = task.metrics()
    for start in range(0, 300, 64):
        metric.update({"logits": logits[start:start + 64]}, Batch({}, targets[start:start + 64]))
    kept = metric.pairs()
    assert all(outputs.ndim == 1 and outputs.dtype == np.int32 for outputs, _ in kept)
    assert sum(outputs.nbytes for outputs, _ in kept) == 300 * 4
    got, want = metric.compute(), task.scores([(logits, targets)])
    assert got["accuracy"] == want["accuracy"] and got["f1_macro"] == want["f1_macro"]
    assert np.array_equal(got["per_class"], want["per_class"])


def test_a_graph_with_more_outputs_than_labels_is_one_line():
    from hub_core.common.errors import ExportError
    from hub_core.model.contracts import Batch
    from hub_core.tasks.classification import ClassificationTask
    from hub_core.tasks.multilabel import MultiLabelTask

    for task in (ClassificationTask(labels=["a", "b", "c"]), MultiLabelTask(labels=["a", "b", "c"])):
        with pytest.raises(ExportError, match="gives 7 scores per example but the model has 3 labels"):
            task.decode({"logits": np.zeros((2, 7), np.float32)}, Batch({}))
