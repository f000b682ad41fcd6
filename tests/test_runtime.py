"""``hub predict --onnx`` runs without torch: onnxruntime, numpy and the saved preprocessor.

Each prediction runs in a subprocess whose ``sitecustomize`` refuses (and logs) any import of
torch, transformers, timm, torchaudio or torchvision, so the tests prove that none is even
attempted, and compare the answers with the torch path's. The slow tests do the same for a
model of every modality that is installed, trained briefly on generated data.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.example_scripts import example
from tests.tinyplug import make_blobs

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "timm", "torchaudio", "torchvision")
BLOCKER = f"""
import os, sys

class BlockHeavyImports:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {HEAVY!r}:
            with open(os.environ["HUB_BLOCKED_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ImportError(name + " is blocked: the ONNX runtime must not import it")
        return None

sys.meta_path.insert(0, BlockHeavyImports())
"""


def predict_without_torch(tmp_path: Path, command: list[str]) -> list:
    """Run ``command`` (a hub predict ... --onnx --json) with heavy imports blocked; its answers."""
    blocker = tmp_path / "blocker"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    log = tmp_path / "blocked.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)]), "HUB_BLOCKED_LOG": str(log),
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    attempted = log.read_text().split() if log.exists() else []
    assert not attempted, f"the ONNX path tried to import {sorted(set(attempted))}: {done.stderr[-2000:]}"
    assert done.returncode == 0, done.stderr[-2000:]
    return [row["answer"] for row in json.loads(done.stdout)]


def torch_answers(hub_cli, model_dir, *inputs):
    code, stdout, stderr = hub_cli("predict", model_dir, *inputs, "--json")
    assert code == 0, stderr
    return [row["answer"] for row in json.loads(stdout)]


def test_the_blocker_catches_a_torch_import(tmp_path):
    with pytest.raises(AssertionError, match="tried to import"):
        predict_without_torch(tmp_path, [sys.executable, "-c", "import torch"])


def test_onnx_prediction_never_imports_torch_and_matches_torch(hub_cli, tmp_path):
    data = make_blobs(tmp_path / "train.csv", n=200, seed=2)
    model_dir = tmp_path / "run"
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "--task", "classification", "--data", data, "--out", model_dir,
                              "--epochs", "3", "--lr", "3e-3", "--quiet")
    assert code == 0, stderr
    code, _, stderr = hub_cli("export", model_dir, "--quantize", "int8")
    assert code == 0, stderr
    inputs = make_blobs(tmp_path / "inputs.csv", n=30, seed=9)
    expected = torch_answers(hub_cli, model_dir, inputs)
    runner = [sys.executable, str(ROOT / "tests" / "run_hub.py"), "predict"]
    for target in (model_dir, model_dir / "model.onnx", model_dir / "model.int8.onnx"):
        answers = predict_without_torch(tmp_path, runner + [str(target), str(inputs), "--onnx", "--json"])
        agree = np.mean([a["label"] == e["label"] for a, e in zip(answers, expected)])
        assert agree == 1.0 if target.name != "model.int8.onnx" else agree >= 0.9, target


# ----------------------------------------------------------------------------- one model per modality
def text_case(folder: Path):
    nlp = example("nlp/generate.py")
    nlp.write_csv(folder / "train.csv", nlp.topic_rows(240, seed=2))
    texts = [text for text, _ in nlp.topic_rows(12, seed=11)]
    # max_length 16 cuts every generated sequence to one length; real ones still vary, so the
    # sequence axis must stay dynamic
    return ["nlp/bert-tiny", "--task", "classification", "--data", folder / "train.csv", "--epochs", "4",
            "--lr", "2e-3", "--max-length", "16"], texts


def image_case(folder: Path):
    shapes = example("vision/make_shapes.py").make_shapes(folder / "shapes", per_class=20, size=40, seed=0)
    tests = example("vision/make_shapes.py").make_shapes(folder / "new", per_class=3, size=40, seed=5)
    return (["vision/resnet18", "--task", "classification", "--data", shapes, "--epochs", "2", "--lr", "1e-3",
             "--backbone-option", "image_size=48"], [str(p) for p in sorted(tests.rglob("*.*"))])


def audio_case(folder: Path):
    from hub_speech.signals import write_dataset

    write_dataset(folder / "sounds", 20, kinds=("low", "high", "up"), seconds=(0.4, 1.0), seed=3)
    tests = write_dataset(folder / "new", 2, kinds=("low", "high", "up"), seconds=(0.4, 1.0), seed=8)
    return (["speech/logmel-tiny", "--task", "classification", "--data", folder / "sounds", "--epochs", "3",
             "--lr", "3e-3"], [str(p) for p in tests])


def interactions_case(folder: Path):
    example("recsys/generate.py").generate(folder, users=60, items=40, per_user=10, seed=0)
    rows = (folder / "interactions.csv").read_text().splitlines()
    (folder / "some.csv").write_text("\n".join(rows[:1] + rows[1:13]) + "\n")
    return (["recsys/mf", "--task", "recsys/rating", "--data", folder / "interactions.csv", "--epochs", "2"],
            [str(folder / "some.csv")])


MODALITY_CASES = {"text": ("hub_nlp", text_case), "image": ("hub_vision", image_case),
                  "audio": ("hub_speech", audio_case), "interactions": ("hub_recsys", interactions_case)}


@pytest.mark.slow
@pytest.mark.parametrize("modality", sorted(MODALITY_CASES))
def test_each_modality_exports_validated_and_predicts_alike_without_torch(hub_cli, tmp_path, modality):
    package, make_case = MODALITY_CASES[modality]
    pytest.importorskip(package)
    finetune, inputs = make_case(tmp_path)
    model_dir = tmp_path / "model"
    code, _, stderr = hub_cli("finetune", *finetune, "--out", model_dir, "--quiet", "--seed", "0")
    assert code == 0, stderr
    code, _, stderr = hub_cli("export", model_dir)
    assert code == 0, stderr
    report = json.loads((model_dir / "export.json").read_text())
    assert report["status"] == "ok" and report["validation"]["distinct_shapes"] >= 3
    assert all(case["ok"] for case in report["validation"]["cases"])
    expected = torch_answers(hub_cli, model_dir, *inputs)
    answers = predict_without_torch(tmp_path, [sys.executable, "-m", "hub_core", "predict", str(model_dir), *inputs,
                                               "--onnx", "--json"])
    assert len(answers) == len(expected)
    for got, want in zip(answers, expected):
        if "label" in want:
            assert got["label"] == want["label"] and abs(got["score"] - want["score"]) < 1e-4
        else:  # ratings, scores and rankings: the same numbers to float precision
            assert _close(got, want), (got, want)


def _close(got, want) -> bool:
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_close(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(got) == len(want) and all(_close(g, w) for g, w in zip(got, want))
    if isinstance(want, float):
        return abs(got - want) <= 1e-4 * max(1.0, abs(want))
    return got == want
