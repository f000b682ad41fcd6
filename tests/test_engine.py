"""The fine-tuning engine and the model directory, on the tiny test plugin."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.tinyplug import build_mlp, make_blobs

ROOT = Path(__file__).resolve().parents[1]
RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]


@pytest.fixture
def blobs(tmp_path):
    make_blobs(tmp_path / "train.csv", n=400, seed=0)
    make_blobs(tmp_path / "val.csv", n=100, seed=0)  # same centres (seed), fresh draws below
    return tmp_path


def finetune(hub_cli, data_dir, out, *extra):
    code, stdout, stderr = hub_cli("finetune", "tiny/mlp", "--task", "classification", "--data", data_dir / "train.csv",
                                   "--out", out, "--quiet", *extra)
    assert code == 0, stderr
    return json.loads((out / "hub.json").read_text())


def test_finetune_learns_and_evaluate_reproduces_the_stored_metric(hub_cli, blobs):
    out = blobs / "run"
    manifest = finetune(hub_cli, blobs, out, "--val", blobs / "val.csv", "--epochs", "5", "--lr", "3e-3")
    assert manifest["metrics"]["accuracy"] >= 0.95
    for name in ("hub.json", "model.safetensors", "metrics.jsonl", "curves.png", "confusion.png", "README.md"):
        assert (out / name).is_file(), name
    assert any((out / "tb").iterdir())
    assert manifest["task"]["state"]["labels"] == ["a", "b", "c"]
    code, stdout, _ = hub_cli("evaluate", out, "--data", blobs / "val.csv", "--json")
    assert code == 0
    assert json.loads(stdout)["accuracy"] == pytest.approx(manifest["metrics"]["accuracy"], abs=1e-9)
    code, stdout, _ = hub_cli("predict", out, "1,2,3,4,5,6,7,8", "--json")
    answer = json.loads(stdout)[0]["answer"]
    assert answer["label"] in "abc" and 0 <= answer["score"] <= 1


@pytest.mark.parametrize("kind,metric,goal", [("regression", "r2", 0.8), ("multilabel", "f1_micro", 0.8)])
def test_other_core_tasks(hub_cli, tmp_path, kind, metric, goal):
    make_blobs(tmp_path / "train.csv", n=600, seed=1, kind=kind)
    manifest = finetune(hub_cli, tmp_path, tmp_path / "run", "--task", kind, "--epochs", "15", "--lr", "3e-3")
    assert manifest["metrics"][metric] >= goal, manifest["metrics"]


def test_freeze_backbone_trains_only_the_head_and_caches_features(hub_cli, blobs):
    finetune(hub_cli, blobs, blobs / "run", "--freeze", "backbone", "--epochs", "2", "--seed", "3")
    saved = load_file(str(blobs / "run" / "model.safetensors"))
    torch.manual_seed(3)
    initial = build_mlp({"inputs": 8, "width": 32, "depth": 2}, None).state_dict()
    for name, value in initial.items():
        assert torch.equal(saved[f"backbone.{name}"], value), name
    # the head did train, and cached features give the same head as recomputing them
    finetune(hub_cli, blobs, blobs / "uncached", "--freeze", "backbone", "--epochs", "2", "--seed", "3",
             "--no-cache-features")
    uncached = load_file(str(blobs / "uncached" / "model.safetensors"))
    torch.testing.assert_close(saved["head.proj.weight"], uncached["head.proj.weight"], rtol=1e-4, atol=1e-5)


def test_lora_saves_merged_weights_that_load_without_peft(hub_cli, blobs):
    manifest = finetune(hub_cli, blobs, blobs / "run", "--lora", "4", "--epochs", "2", "--lr", "1e-2")
    keys = set(load_file(str(blobs / "run" / "model.safetensors")))
    assert not any("lora" in k for k in keys)
    torch.manual_seed(0)
    plain = {f"backbone.{k}" for k in build_mlp({"inputs": 8}, None).state_dict()}
    assert plain <= keys
    assert manifest["metrics"]["accuracy"] > 0.5


def test_last_n_freeze_and_config_file(hub_cli, blobs):
    config = blobs / "train.toml"
    config.write_text("[train]\nepochs = 1\nbatch_size = 16\nfreeze = 'last-1'\n")
    manifest = finetune(hub_cli, blobs, blobs / "run", "--config", config, "--batch-size", "8")
    assert manifest["training"]["batch_size"] == 8 and manifest["training"]["freeze"] == "last-1"
    saved = load_file(str(blobs / "run" / "model.safetensors"))
    torch.manual_seed(0)
    initial = build_mlp({"inputs": 8}, None).state_dict()
    assert torch.equal(saved["backbone.layers.0.fc.weight"], initial["layers.0.fc.weight"])
    assert not torch.equal(saved["backbone.layers.1.fc.weight"], initial["layers.1.fc.weight"])


@pytest.mark.parametrize("args,message", [
    (["--data", "missing.csv"], "no such file"),
    (["--data", "empty.csv"], "empty"),
    (["--data", "nolabel.csv"], "missing column 'label'"),
    (["--data", "train.csv", "--val", "unseen.csv"], "not seen in training"),
    (["--data", "train.csv", "--config", "bad.toml"], "did you mean 'epochs'"),
    (["--data", "train.csv", "--epochs", "x"], "not a valid integer"),
    (["--data", "train.csv", "--freeze", "sometimes"], "freeze"),
    (["--data", "train.csv", "--task", "clasification"], "did you mean 'classification'"),
    (["--data", "train.csv", "--lora", "4", "--freeze", "backbone"], "contradict"),
])
def test_bad_input_is_one_clear_line_and_writes_nothing(hub_cli, blobs, args, message):
    (blobs / "empty.csv").write_text("")
    (blobs / "nolabel.csv").write_text("x0,x1\n1,2\n")
    (blobs / "unseen.csv").write_text("x0,x1,x2,x3,x4,x5,x6,x7,label\n" + ",".join(["0"] * 8) + ",zebra\n")
    (blobs / "bad.toml").write_text("[train]\nepoch = 3\n")
    os.chdir(blobs)
    argv = ["finetune", "tiny/mlp", "--task", "classification", "--out", blobs / "run", "--quiet"]
    if "--task" in args:
        argv = argv[:2] + argv[4:]
    code, stdout, stderr = hub_cli(*argv, *args)
    assert code != 0
    assert message in stderr.lower() or message in stderr, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 3
    assert not (blobs / "run").exists()


def test_refuses_a_non_empty_out_and_a_newer_model_format(hub_cli, blobs):
    (blobs / "run").mkdir()
    (blobs / "run" / "keep.txt").write_text("precious")
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", blobs / "train.csv", "-o",
                              blobs / "run")
    assert code == 2 and "not empty" in stderr
    assert (blobs / "run" / "keep.txt").read_text() == "precious"
    out = blobs / "model"
    finetune(hub_cli, blobs, out, "--epochs", "1")
    manifest = json.loads((out / "hub.json").read_text())
    (out / "hub.json").write_text(json.dumps({**manifest, "format_version": 99}))
    code, _, stderr = hub_cli("evaluate", out, "--data", blobs / "val.csv")
    assert code == 1 and "newer" in stderr


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    make_blobs(tmp_path / "train.csv", n=400, seed=0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29533",
         str(ROOT / "tests" / "run_hub.py"), "finetune", "tiny/mlp", "-t", "classification", "-d",
         str(tmp_path / "train.csv"), "-o", str(tmp_path / "ddp"), "--epochs", "4", "--lr", "3e-3", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "ddp" / "hub.json").read_text())
    assert manifest["metrics"]["accuracy"] >= 0.9


def test_model_directory_files_have_a_normal_mode(hub_cli, blobs):
    """The atomic writer's temporary file is private, the result is not: 0644 under umask 022."""
    previous = os.umask(0o022)
    try:
        finetune(hub_cli, blobs, blobs / "run", "--epochs", "1")
    finally:
        os.umask(previous)
    for name in ("hub.json", "model.safetensors", "README.md"):
        assert (blobs / "run" / name).stat().st_mode & 0o777 == 0o644, name


def test_atomic_writer_honours_the_umask_and_leaves_nothing_on_error(tmp_path):
    from hub_core.common import atomic

    previous = os.umask(0o027)
    try:
        atomic.write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(previous)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    with pytest.raises(RuntimeError):
        with atomic.replacing(tmp_path / "a.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
