"""What a newcomer and a plugin author trip over in the first hour (issue 17): long inputs,
narrow tables, broken plugins named, progress, finishing an interrupted run, CLI details."""
from __future__ import annotations

import csv
import sys
import json
import random

import pytest

from hub_core.testing import run_hub

TOPICS = {"music": "drum violin ballad guitar melody song", "weather": "rain wind thunder cloud storm snow"}


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    """A micro text classifier (seconds to train) in a model directory."""
    root = tmp_path_factory.mktemp("text")
    registry = root / "registry.toml"
    registry.write_text('[presets."test/micro"]\nbackbone = "nlp/hf"\nconfig = { model_type = "bert", hidden_size = 32, '
                        'num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 64, pooling = "cls" }\n')
    rng = random.Random(0)
    rows = [(" ".join(rng.choices(words.split(), k=6)), label) for _ in range(60) for label, words in TOPICS.items()]
    with open(root / "train.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    code, _, err = run_hub("--registry", registry, "finetune", "test/micro", "-t", "classification", "-d",
                           root / "train.csv", "-o", root / "m", "--epochs", "1", "--batch-size", "16", "-q")
    assert code == 0, err
    return root / "m"


def test_a_10_kB_text_is_an_input_not_a_path(text_model):
    long_text = "rain and thunder " * 600  # 10 kB: "File name too long" if tried as a path
    code, out, err = run_hub("predict", text_model, long_text)
    assert code == 0, err
    assert out.count("\n") == 1 and "\t" in out
    code, out, err = run_hub("predict", text_model, long_text, "--json")
    assert code == 0, err
    assert json.loads(out)[0]["input"] == long_text  # the JSON echoes the input whole


def test_existing_path_never_raises():
    from hub_core.deploy.inputs import existing_path

    assert existing_path("x" * 10_000) is None and existing_path("a\0b") is None and existing_path("  ") is None
    assert existing_path(".") is not None


# ----------------------------------------------------------------------------- tables at 80 columns
def words_whole(text: str, names) -> list[str]:
    """The names that do not appear whole on some line of ``text``."""
    lines = text.splitlines()
    return [n for n in names if not any(n in line for line in lines)]


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def test_hub_list_and_plugins_keep_names_whole_at_80_columns(narrow):
    code, out, err = run_hub("list", "--json")
    names = {row["name"] for row in json.loads(out)} | {row["plugin"] for row in json.loads(out)}
    code, out, err = run_hub("list")
    assert code == 0, err
    assert words_whole(out, names) == [] and max(map(len, out.splitlines())) <= 140
    code, out, err = run_hub("plugins", "--json")
    records = json.loads(out)
    code, out, err = run_hub("plugins")
    assert code == 0, err
    assert words_whole(out, [r["name"] for r in records] + [r["distribution"] for r in records]) == []


def test_evaluate_table_at_80_columns(text_model, narrow):
    data = text_model.parent / "train.csv"
    code, out, err = run_hub("evaluate", text_model, "--data", data)
    assert code == 0, err
    assert words_whole(out, [str(text_model), str(data), "accuracy"]) == []


def test_demo_table_at_80_columns(narrow, capsys):
    from hub_core.common.console import print_table
    from hub_core.cli.demo_stages import TABLE_COLUMNS, TABLE_WRAP, DemoRow, table_rows

    ok = DemoRow("image", "image", "vision/tiny", "classification", "d", metric="accuracy", value=0.9,
                 export_max_diff=1e-6, torch_ms=1.5, onnx_ms=0.5, prediction="square.png -> square", seconds=12)
    failed = DemoRow("long", "series", "thirdparty/recurrent-net", "regression", "d", seconds=3,
                     error="predict: ValueError: " + "1.5," * 400)
    print_table("hub demo", TABLE_COLUMNS, table_rows([ok, failed]), wrap=TABLE_WRAP)
    out = capsys.readouterr().out
    assert words_whole(out, ["vision/tiny", "thirdparty/recurrent-net", "prediction", "square.png", "accuracy"]) == []
    assert len(out) < 1500  # the error cell is shortened; --json keeps it whole
    assert len(failed.error) > 1500


def test_demo_table_to_a_log_is_aligned_columns(monkeypatch, capsys):
    """No terminal anywhere (CI, a file) and no COLUMNS: nothing to fit, so the table is one
    aligned line per row at any width, not the narrow blocks (issue 39)."""
    import os

    from hub_core.common.console import print_table
    from hub_core.cli.demo_stages import TABLE_COLUMNS, TABLE_WRAP, DemoRow, table_rows

    def no_terminal(descriptor=0):
        raise OSError("not a terminal")

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    rows = [DemoRow(m, m, model, "classification", "d", metric="accuracy", value=0.9, export_max_diff=1e-6, torch_ms=1.5,
                    onnx_ms=0.5, prediction=f"a rather long {m} input file name.png -> its label", seconds=12)
            for m, model in (("image", "vision/tiny"), ("text", "nlp/minilm-l6"), ("interactions", "recsys/mf"))]
    print_table("hub demo", TABLE_COLUMNS, table_rows(rows), wrap=TABLE_WRAP)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + len(rows) and len(lines[1]) > 80  # title, header, a line per row
    assert {line.index(model) for line, model in zip(lines[2:], ("vision/tiny", "nlp/minilm-l6", "recsys/mf"))} == \
        {lines[1].index("model")}


# ----------------------------------------------------------------------------- broken plugins are named
def test_a_plugin_with_a_syntax_error_is_named_by_list_and_by_the_unknown_model_error(tmp_path):
    from tests.fixtures.inject import hub_env, one_plugin, run_hub as run_installed

    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_syntax_error"))
    listed = run_installed("list", "presets", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "nlp/bert-tiny" in listed.stdout
    assert listed.stderr.count("\n") == 1 and "'syntax_error'" in listed.stderr and "SyntaxError" in listed.stderr
    finetune = run_installed("finetune", "syntax_error/model", "-t", "classification", "-d", "x.csv", "-o", "out",
                             env=env, cwd=tmp_path)
    assert finetune.returncode == 2 and finetune.stderr.count("\n") == 1
    assert "unknown model 'syntax_error/model'" in finetune.stderr
    assert "plugin 'syntax_error' failed to load" in finetune.stderr and "SyntaxError" in finetune.stderr


def test_a_factory_that_raises_is_one_line_naming_plugin_and_factory(tmp_path):
    from tests.fixtures.inject import hub_env, one_plugin, run_hub as run_installed

    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_factory_error"))
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"text {i},{i % 2}\n" for i in range(20)))
    args = ("finetune", "factory_error/broken", "-t", "classification", "-d", "train.csv", "-o", "out")
    failed = run_installed(*args, env=env, cwd=tmp_path)
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
    line = failed.stderr
    assert line.startswith("hub: error: plugin ") and "plughub_fixture_factory_error:build_broken" in line
    assert "RuntimeError: the weights file is from another version" in line and "internal error" not in line
    debug = run_installed(*args, "--debug", env=env, cwd=tmp_path)
    assert "Traceback" in debug.stderr and "--debug" not in debug.stderr.splitlines()[-1]


def test_debug_drops_the_run_with_debug_hint(tmp_path):
    from tests.fixtures.inject import hub_env, one_plugin, run_hub as run_installed

    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_good"))
    crashed = run_installed("--debug", "fixture-crash", env=env, cwd=tmp_path)
    assert crashed.stderr.splitlines()[-1] == "hub: internal error: RuntimeError: fixture bug"


# ----------------------------------------------------------------------------- finishing an interrupted run
@pytest.mark.slow
def test_an_interrupted_run_is_finished_into_a_model_directory_from_its_best_epoch(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from tests.tinyplug import make_blobs

    runner = [sys.executable, str(Path(__file__).parent / "run_hub.py")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    data, out = make_blobs(tmp_path / "train.csv", n=400, seed=4), tmp_path / "run"
    proc = subprocess.Popen(runner + ["finetune", "tiny/mlp", "-t", "classification", "-d", str(data), "-o", str(out),
                                      "--epochs", "500", "--batch-size", "16", "--quiet"], env=env,
                            stderr=subprocess.PIPE, text=True)
    state, deadline = out / "checkpoints" / "last" / "state.json", time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if json.loads(state.read_text())["position"]["epoch"] >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert f"hub finish {out}" in proc.stderr.read()
    assert not (out / "hub.json").exists()

    done = subprocess.run(runner + ["finish", str(out), "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    manifest = json.loads((out / "hub.json").read_text())
    assert result["out"] == str(out) and result["metrics"]["accuracy"] == manifest["metrics"]["accuracy"] > 0.5
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    evaluated = subprocess.run(runner + ["evaluate", str(out), "--data", str(data), "--json"], env=env,
                               capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stderr


def test_finish_refuses_what_is_not_a_run(tmp_path):
    code, _, err = run_hub("finish", tmp_path)
    assert code == 2 and "not a training run (no run.json" in err


def test_cli_details(tmp_path, monkeypatch):
    code, out, err = run_hub()
    assert code == 0 and out.startswith("Usage: hub") and err == ""
    code, out, err = run_hub("vision")
    assert code == 0 and out.startswith("Usage: hub vision") and err == ""
    code, out, _ = run_hub("pretrain", "--help")
    assert code == 0 and "--label-column" not in out and "--head " not in out and "PART=MODEL" not in out
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch now fails: the check comes first
    code, _, err = run_hub("finetune", "nlp/bert-tiny", "-d", tmp_path / "missing.csv", "-o", tmp_path / "o")
    assert (code, err) == (2, "hub: error: --task is required (see 'hub list tasks')\n")


# ----------------------------------------------------------------------------- progress and records
def test_progress_lines_without_a_terminal(monkeypatch, capsys):
    from hub_core.train import records

    clock = iter(range(0, 1000, 4))  # 4 s a batch
    progress = records.Progress(10, "epoch 1/3", enabled=False, lines=True)
    progress.clock = lambda: next(clock)
    progress.started = progress.last = 0
    for _ in range(10):
        progress.update(1, loss=0.5)
    lines = capsys.readouterr().err.splitlines()
    assert 3 <= len(lines) <= 4  # every ~10 s, not every batch
    assert lines[0].startswith("epoch 1/3: batch ") and "batch/s, ETA " in lines[0] and "loss 0.5000" in lines[0]
    quiet = records.Progress(10, "epoch 1/3", enabled=False, lines=False)
    quiet.clock = lambda: next(clock)
    quiet.update(10)
    assert capsys.readouterr().err == ""


def test_the_epoch_line_names_val_loss_and_shows_the_training_loss(tmp_path, capsys):
    from hub_core.train import records

    writer = records.Records(tmp_path)
    for step, loss in enumerate([1.0, 0.5], 1):
        writer.step(step, loss, 1e-3, 100.0)
    writer.epoch(1, {"loss": 0.25, "accuracy": 0.9, "users": 300})
    assert capsys.readouterr().err == "epoch 1: train_loss 0.7500, val_loss 0.2500, val_accuracy 0.9000, val_users 300\n"
    writer.tb.close()


def test_curves_plot_metrics_not_counts():
    from hub_core.train.records import plotted_keys

    epochs = [{"epoch": 1, "train_loss": 0.9, "val_loss": 0.5, "val_ndcg@10": 0.1, "val_users": 300, "val_held_out": 310},
              {"epoch": 2, "train_loss": 0.7, "val_loss": 0.4, "val_ndcg@10": 0.2, "val_users": 300, "val_held_out": 310}]
    assert plotted_keys(epochs) == ["val_loss", "val_ndcg@10"]


def test_hub_json_and_the_card_name_the_preset_and_the_settings(text_model):
    manifest = json.loads((text_model / "hub.json").read_text())
    assert manifest["source"] == {"kind": "preset", "name": "test/micro", "backbone": "nlp/hf", "weights": None}
    card = (text_model / "README.md").read_text()
    assert "started from preset `test/micro` (backbone `nlp/hf`)" in card
    assert "- settings: epochs 1; batch_size 16; lr " in card


# ----------------------------------------------------------------------------- bench: spread, not one noisy ratio
def test_a_ratio_within_the_spread_is_not_a_result(monkeypatch):
    import time

    from hub_core.cli.deploy import vs_torch
    from hub_core.deploy.bench import latency_stats, ratio_with_spread

    clock = iter([0, 1, 10, 12, 20, 23, 30, 34, 40, 45])  # runs of 1, 2, 3, 4 and 5 s
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    stats = latency_stats(lambda arrays: None, {}, warmup=3, repeats=5)
    monkeypatch.undo()
    assert (stats["median"], stats["runs"]) == (3.0, 5) and stats["q1"] < stats["median"] < stats["q3"]
    torch = {"median": 10.0, "q1": 9.0, "q3": 11.0}
    noisy = ratio_with_spread(torch, {"median": 8.0, "q1": 6.0, "q3": 10.0})
    clear = ratio_with_spread(torch, {"median": 2.0, "q1": 1.9, "q3": 2.1})
    assert not noisy["beyond_spread"] and clear["beyond_spread"] and clear["speedup_range"] == [4.29, 5.79]
    assert vs_torch({"engine": "onnxruntime fp32", **noisy}) == "~1.25x (0.90-1.83) within spread"
    assert vs_torch({"engine": "onnxruntime fp32", **clear}) == "5.00x (4.29-5.79)"


@pytest.mark.slow
def test_export_and_bench_tables_at_80_columns(hub_cli, tmp_path, monkeypatch):
    from tests.tinyplug import make_blobs

    monkeypatch.setenv("COLUMNS", "80")
    data = make_blobs(tmp_path / "blobs.csv", n=240, seed=1)
    code, _, err = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", tmp_path / "m", "-q")
    assert code == 0, err
    code, out, err = hub_cli("export", tmp_path / "m", "--quantize", "int8")
    assert code == 0, err
    assert words_whole(out, ["onnxruntime", "torch", "argmax", "int8"]) == []
    code, out, err = hub_cli("bench", tmp_path / "m", "--batch", "1", "--repeats", "5")
    assert code == 0, err
    assert words_whole(out, ["torch eager fp32", "onnxruntime fp32", "onnxruntime int8", "validation data"]) == []


def test_shell_completion_of_model_names(tmp_path):
    import os
    import subprocess

    from tests.fixtures.inject import HUB, hub_env

    env = {**hub_env(tmp_path), "COMP_WORDS": "hub finetune vision/t", "COMP_CWORD": "2", "_HUB_COMPLETE": "bash_complete"}
    done = subprocess.run([str(HUB)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "plain,vision/tiny" in lines and "plain,vision/timm" in lines and lines[-1] == "dir,vision/t"
    assert not any(line.startswith("plain,nlp/") for line in lines)
    assert os.environ.get("_HUB_COMPLETE") is None


# ----------------------------------------------------------------------------- the README tour, as written
@pytest.mark.slow
def test_the_readme_tour_trains_a_good_model_and_says_which_epoch_it_kept(tmp_path, monkeypatch):
    import shlex
    from pathlib import Path

    from hub_vision.demo import make_data

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("hub finetune vision/tiny")
    command = shlex.split(readme[start:readme.index("\n", readme.index("\\\n", start) + 2)].replace("\\\n", " "))
    make_data(tmp_path / "demo-output" / "image" / "data", 0)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_hub(*command[1:])
    assert code == 0, err
    metrics = json.loads((tmp_path / "runs" / "shapes" / "hub.json").read_text())["metrics"]
    assert metrics["accuracy"] >= 0.85, err
    assert "kept epoch " in err


def test_a_finished_run_says_it_was_interrupted_and_credits_no_recipe(tiny_hub, hub_cli, tmp_path):
    """hub finish on a run stopped during epoch 3 of 5 (here by an exception from its epoch
    callback, as Ctrl-C leaves it: checkpoints, no model directory): hub.json, the recipe line
    and the card say so."""
    from hub_core.train.config import TrainConfig
    from hub_core.train.loop import Job, run
    from tests.tinyplug import make_blobs

    class Stop(Exception):
        pass

    def stop_at_third(epoch, metrics):
        if epoch == 3:
            raise Stop  # before epoch 3's checkpoint: the last one is epoch 2's

    data, out = make_blobs(tmp_path / "train.csv", n=200, seed=4), tmp_path / "run"
    with pytest.raises(Stop):
        run(tiny_hub.catalogue, Job(model="tiny/mlp", task="classification", data=str(data), out=str(out), quiet=True,
                                    on_epoch=stop_at_third), TrainConfig(epochs=5, batch_size=16, patience=0))
    assert not (out / "hub.json").exists()
    code, _, err = hub_cli("finish", out)
    assert code == 0, err
    manifest = json.loads((out / "hub.json").read_text())
    assert manifest["interrupted"] == {"completed_epochs": 2, "planned_epochs": 5}
    assert manifest["training"]["epochs"] == 2 and manifest["training"]["recipe"]["epochs"] == \
        "hub finish: interrupted after 2 of 5"
    card = (out / "README.md").read_text()
    assert "**interrupted** after epoch 2 of the 5 planned, and made a model directory by `hub finish`" in card
    code, _, err = hub_cli("finish", out)  # once written, nothing is left to finish or resume
    assert code == 2 and "nothing to finish" in err, err


def test_a_finished_run_drops_its_optimizer_state(hub_cli, tmp_path):
    """The optimizer's moments (twice what trains) go once the model directory is written;
    --resume then says the run is finished instead of failing on a damaged checkpoint."""
    from tests.tinyplug import make_blobs

    data, out = make_blobs(tmp_path / "train.csv", n=120, seed=4), tmp_path / "run"
    args = ("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", out, "--epochs", "2", "-q")
    code, _, err = hub_cli(*args)
    assert code == 0, err
    last = out / "checkpoints" / "last"
    assert (last / "state.json").is_file() and (last / "model.safetensors").is_file()
    assert not (last / "optimizer.safetensors").exists()
    code, _, err = hub_cli(*args, "--resume")
    assert code == 2 and "is a finished run (nothing left to train" in err and "Traceback" not in err, err


def test_finish_says_when_there_is_nothing_to_finish(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "last").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    code, _, err = run_hub("finish", run)
    assert code == 2 and "stopped before its first checkpoint" in err
    (run / "checkpoints" / "last" / "state.json").write_text(json.dumps({"position": {"epoch": 0, "step": 15}}))
    code, _, err = run_hub("finish", run)
    assert code == 2 and "no epoch has completed yet (stopped at step 15 of epoch 1)" in err and "--resume" in err
