"""hub tune on the tiny plugin: search beats bad defaults and prunes, resumes after kill -9,
two processes share one SQLite study, a bad space fails before any trial."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tinyplug import make_blobs

ROOT = Path(__file__).resolve().parents[1]
RUNNER = [sys.executable, str(ROOT / "tests" / "run_hub.py")]
# Deliberately bad defaults: a learning rate 1000x too small, too few epochs.
BAD = ("--lr", "1e-5", "--epochs", "2")
SPACE = """
[lr]
low = 1e-5
high = 1e-1
log = true

[epochs]
low = 2
high = 5

[trainable]
choices = ["auto", "head"]
"""
MARGIN = 0.2  # accuracy points the tuned model must gain over the bad defaults


@pytest.fixture
def one_thread():
    """Tiny models on a shared 2-core machine: one torch thread is several times faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def data(tmp_path):
    make_blobs(tmp_path / "train.csv", n=300, seed=0)
    make_blobs(tmp_path / "val.csv", n=100, seed=0)
    (tmp_path / "space.toml").write_text(SPACE)
    return tmp_path


def tune_args(data, out, trials, *extra):
    return ["tune", "tiny/mlp", "-t", "classification", "-d", data / "train.csv", "--val", data / "val.csv",
            "-o", out, "--trials", str(trials), "--space", data / "space.toml", *BAD, *extra]


def study_of(storage: str):
    import optuna

    return optuna.load_study(study_name="hub-tune", storage=storage)


@pytest.mark.slow
def test_tune_beats_bad_defaults_and_prunes(hub_cli, data, one_thread):
    out = data / "tune"
    started = time.perf_counter()
    code, stdout, stderr = hub_cli(*tune_args(data, out, 12, "--json"))
    assert code == 0, stderr
    seconds = time.perf_counter() - started
    result = json.loads(stdout)
    code, stdout, stderr = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", data / "train.csv",
                                   "--val", data / "val.csv", "-o", data / "default", "-q", "--json", *BAD)
    assert code == 0, stderr
    default = json.loads(stdout)["metrics"]["accuracy"]
    print(f"\ndefault {default:.3f}, trial 0 {result['base']['value']:.3f}, best {result['best']['value']:.3f}, "
          f"pruned {result['pruned']}/{result['trials']}, {seconds:.1f} s")
    assert result["base"]["value"] == pytest.approx(default)  # trial 0 is the base configuration, as finetune runs it
    assert result["best"]["value"] >= default + MARGIN
    assert result["trials"] == 12 and result["pruned"] >= 4
    # the outputs: best/ is a model directory that evaluates to the best trial's score; pruned trials removed
    code, stdout, stderr = hub_cli("evaluate", out / "best", "--data", data / "val.csv", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["accuracy"] == pytest.approx(result["best"]["value"])
    kept = sorted(p.name for p in (out / "trials").iterdir())
    assert kept == [f"{r['trial']:03d}" for r in result["results"] if r["state"] == "complete"]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 12 and {"lr", "epochs", "trainable", "value", "state"} <= set(rows[0])
    assert (out / "history.png").stat().st_size > 1000 and (out / "importances.png").stat().st_size > 1000


def test_bad_space_and_metric_fail_before_any_trial(hub_cli, data, one_thread):
    cases = [
        ("[lr]\nlow = 1e-4\nhigh = 1e-2\n[learning_rate_x]\nlow = 1\nhigh = 2\n", (), "unknown parameter 'learning_rate_x'"),
        ("[lr]\nlow = 1e-4\nhigh = 1e-2\n\n[epoch]\nlow = 1\nhigh = 3\n", (), "space.toml:5: unknown parameter 'epoch' (did you mean 'epochs'?)"),
        ("[lr]\nlow = 1e-2\nhigh = 1e-4\n", (), "lr: empty range, low 0.01 > high 0.0001"),
        ("[freeze]\nchoices = []\n", (), "freeze: empty choices"),
        ("[lr]\nlow = 0\nhigh = 1\nlog = true\n", (), "lr: a log range needs low > 0"),
        ("[lr]\nlow = 1e-4\nhigh = 1e-2\n", ("--monitor", "bleu"), "--monitor 'bleu' is not a metric of task 'classification' (accuracy, "),
    ]
    for number, (space, extra, message) in enumerate(cases):
        (data / "space.toml").write_text(space)
        out = data / f"bad{number}"
        code, stdout, stderr = hub_cli(*tune_args(data, out, 3, *extra))
        assert code != 0 and message in stderr, (space, stderr)
        assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
        assert not (out / "trials").exists() and not (out / "study.db").exists()


def test_space_validation_units():
    from hub_core.common.errors import ConfigError
    from hub_core.train.config import TrainConfig
    from hub_core.train.tune import (
        Param,
        apply,
        check_param,
        default_params,
        default_space,
    )

    with pytest.raises(ConfigError, match="trainable: 'some' is not one of"):
        check_param(Param("trainable", choices=("all", "some")), "")
    with pytest.raises(ConfigError, match="schedule: choice 'cosin'"):
        check_param(Param("schedule", choices=("cosin",)), "")
    config = TrainConfig(lr=1e-5, epochs=2)
    space = default_space("tiny/mlp", config, blocks=2, lora_targets=True)
    assert default_params(space, config)["lr"] == 1e-5  # the recipe widens to hold the base (trial 0)
    tuned = apply(config, {"trainable": "lora-8", "head_dropout": 0.3, "lr": 1e-3})
    assert (tuned.freeze, tuned.lora, tuned.head_options, tuned.lr) == ("auto", 8, {"dropout": 0.3}, 1e-3)
    assert apply(TrainConfig(target_steps=500), {"epochs": 4}).target_steps == 0
    # layer-wise decay and label smoothing are searchable, inside what the engine accepts
    assert check_param(Param("layer_decay", 0.6, 1.0), "").high == 1.0
    assert apply(config, {"layer_decay": 0.75, "label_smoothing": 0.1}).layer_decay == 0.75
    with pytest.raises(ConfigError, match=r"space.toml: layer_decay: high 1.5: layer_decay must be above 0 and at most 1"):
        check_param(Param("layer_decay", 0.5, 1.5), "space.toml: ")
    with pytest.raises(ConfigError, match=r"label_smoothing: choice 1: label_smoothing must be at least 0 and below 1"):
        check_param(Param("label_smoothing", choices=(0.1, 1)), "")


def hub_process(args, log: Path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([*RUNNER, *map(str, args)], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                            cwd=ROOT)


def finished(storage: str) -> dict:
    """{trial number: value} of the completed trials (an absent study: none)."""
    import optuna

    try:
        study = study_of(storage)
    except KeyError:
        return {}
    return {t.number: t.value for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}


@pytest.mark.slow
def test_kill_9_then_the_same_command_continues_with_finished_trials_kept(data):
    out = data / "tune"
    storage = f"sqlite:///{out / 'study.db'}"
    args = tune_args(data, out, 8, "--heartbeat", "1", "--pruner", "none")
    process = hub_process(args, data / "first.log")
    deadline = time.monotonic() + 240
    while len(finished(storage) if (out / "study.db").exists() else {}) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, (data / "first.log").read_text()
        time.sleep(0.2)
    before = finished(storage)
    assert 2 <= len(before) < 8, before
    process.send_signal(signal.SIGKILL)
    process.wait()
    again = hub_process(args, data / "second.log")
    assert again.wait(timeout=300) == 0, (data / "second.log").read_text()
    after = finished(storage)
    assert all(after.get(n) == v for n, v in before.items())  # kept, not rerun
    assert len(after) == 8, after
    states = [t.state.name for t in study_of(storage).trials]
    print(f"\nbefore kill {len(before)} complete; after rerun {states}")
    assert "RUNNING" not in states


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(data):
    storage = f"sqlite:///{data / 'shared.db'}"
    make = [hub_process(tune_args(data, data / f"machine{i}", 6, "--storage", storage, "--seed", str(i)),
                        data / f"p{i}.log") for i in (1, 2)]
    for i, process in enumerate(make, 1):
        assert process.wait(timeout=300) == 0, (data / f"p{i}.log").read_text()
    study = study_of(storage)
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    hosts = {t.user_attrs["host"] for t in study.trials}
    print(f"\n{len(study.trials)} trials by {len(hosts)} processes")
    assert 6 <= len(done) <= 7  # two processes may both start the last one
    assert len(hosts) == 2
    # each process keeps the model directories of its own trials, under its own --out
    complete = [Path(t.user_attrs["dir"]) for t in study.trials if t.state.name == "COMPLETE"]
    assert all((d / "hub.json").is_file() for d in complete)
    assert {d.parents[1].name for d in complete} == {"machine1", "machine2"}


def test_a_fresh_sqlite_study_file_appears_initialised(tmp_path):
    from optuna.storages import RDBStorage

    from hub_core.train.study_file import create_whole, sqlite_file

    path = tmp_path / "study.db"
    url = f"sqlite:///{path}"
    assert sqlite_file(url) == path and sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file("postgresql://host/db") is None
    create_whole(url)
    assert [p.name for p in tmp_path.iterdir()] == ["study.db"]  # the temporary sibling is gone
    before = path.stat().st_mtime_ns, path.read_bytes()
    # a read-only open succeeds: the schema and its version stamps are complete, a reader never writes
    RDBStorage(f"sqlite:///file:{path}?mode=ro&uri=true").engine.dispose()
    create_whole(url)  # an existing file is left as it is
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def open_at_once(urls, barrier, errors):
    """A process opening each fresh study with the hub's creation, then as any Optuna reader does."""
    from optuna.storages import RDBStorage

    from hub_core.train.study_file import create_whole

    for url in urls:
        barrier.wait()
        try:
            create_whole(url)
            RDBStorage(url).engine.dispose()
        except Exception as err:  # noqa: BLE001 - counted, the test names it
            errors.put(f"{type(err).__name__}: {str(err).splitlines()[0]}")


@pytest.mark.slow
def test_processes_opening_one_fresh_sqlite_study_at_once_all_succeed(tmp_path):
    # without create_whole, 3 processes opening a fresh file at once failed 11 of 30 opens
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    urls = [f"sqlite:///{tmp_path / f'study{i}.db'}" for i in range(6)]
    barrier, errors = context.Barrier(3), context.Queue()
    processes = [context.Process(target=open_at_once, args=(urls, barrier, errors)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, found
