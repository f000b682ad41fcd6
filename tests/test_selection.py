"""Model selection: the held-out split and which epoch's weights ship (issue 15)."""
import json
from collections import Counter

from hub_core.model.contracts import Example
from hub_core.train import selection
from hub_core.train.checkpoint import Position
from tests.tinyplug import make_blobs


def examples(labels):
    return [Example(input=str(i), label=label) for i, label in enumerate(labels)]


def test_holdout_is_stratified_and_large_enough_to_decide():
    data = examples(["pos"] * 10 + ["neg"] * 90)  # rare positives, 100 labels
    train, val = selection.holdout(data, 0.1, seed=0)
    assert len(val) == selection.MIN_DECISIVE and len(train) + len(val) == 100  # 10 % raised to 20
    assert Counter(e.label for e in val) == {"neg": 18, "pos": 2}  # the class shares, kept
    assert selection.decisive(len(val))
    small = selection.holdout(examples(["a", "b"] * 20), 0.1, seed=0)[1]  # 40 examples: at most 30 % = 12
    assert len(small) == 12 and not selection.decisive(len(small))
    numbers = examples([f"{i / 7:.3f}" for i in range(200)])  # regression targets are not strata
    assert len(selection.holdout(numbers, 0.1, seed=0)[1]) == 20


def test_a_tie_on_the_metric_is_broken_by_validation_loss():
    position = Position()
    assert selection.improves(1.0, 0.8, position, "max")
    selection.record_best(position, 1, 1.0, 0.8)
    assert selection.improves(1.0, 0.5, position, "max")  # tied accuracy, lower loss
    assert not selection.improves(1.0, 0.9, position, "max")
    assert not selection.improves(0.95, 0.1, position, "max")
    assert selection.improves(0.3, 9.0, Position(best=0.4, best_loss=0.1), "min")


def finetune(hub_cli, tmp_path, *extra):
    out = tmp_path / "run"
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "--task", "classification", "--data", tmp_path / "train.csv",
                              "--out", out, "--epochs", "6", "--lr", "3e-3", *extra)
    assert code == 0, stderr
    return json.loads((out / "hub.json").read_text()), (out / "README.md").read_text(), stderr


def test_saturated_accuracy_ships_the_lowest_loss_epoch_and_says_so(hub_cli, tmp_path):
    make_blobs(tmp_path / "train.csv", n=300, seed=0)  # well separated: accuracy 1.0 early on
    manifest, card, stderr = finetune(hub_cli, tmp_path)
    kept = manifest["monitor"]
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in history if "epoch" in r]
    tied = [r for r in epochs if r["val_accuracy"] == max(e["val_accuracy"] for e in epochs)]
    assert len(tied) > 1, epochs  # the case this guards: ties on the metric
    assert kept["kept_epoch"] == min(tied, key=lambda r: r["val_loss"])["epoch"]
    assert manifest["data"]["val_examples"] == 30 and "lowest validation loss" in kept["reason"]
    assert f"kept epoch {kept['kept_epoch']} of 6" in stderr
    assert f"Weights of epoch {kept['kept_epoch']} of 6" in card


def test_a_validation_set_too_small_to_decide_keeps_the_last_epoch(hub_cli, tmp_path):
    make_blobs(tmp_path / "train.csv", n=200, seed=0)
    make_blobs(tmp_path / "val.csv", n=8, seed=0)
    manifest, card, stderr = finetune(hub_cli, tmp_path, "--val", tmp_path / "val.csv")
    assert manifest["monitor"]["kept_epoch"] == 6 and "too small to rank epochs" in manifest["monitor"]["reason"]
    assert "kept epoch 6 of 6" in stderr and "too small" in card


def kept_matches_history(out, monitor: str, higher: bool) -> None:
    """The kept epoch is the best by ``monitor`` in its declared direction (ties: lower validation loss)."""
    manifest = json.loads((out / "hub.json").read_text())
    epochs = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "epoch" in r]
    values = [r[f"val_{monitor}"] for r in epochs]
    assert len(set(values)) > 1, values  # the epochs differ: the direction decides
    best = max(values) if higher else min(values)
    tied = [r for r in epochs if abs(r[f"val_{monitor}"] - best) <= selection.TIE]
    assert manifest["monitor"]["mode"] == ("max" if higher else "min")
    assert manifest["monitor"]["kept_epoch"] == min(tied, key=lambda r: r["val_loss"])["epoch"], values


def test_a_monitored_metric_is_ranked_in_its_declared_direction(hub_cli, tmp_path):
    """--monitor f1_macro once kept epoch 1 (every monitor but the task's own was lower-is-better)."""
    from tests.tinyplug import make_blobs as blobs

    blobs(tmp_path / "train.csv", n=240, seed=3)
    for task, monitor, higher in (("classification", "f1_macro", True), ("regression", "mae", False),
                                  ("regression", "r2", True)):
        if task == "regression":
            blobs(tmp_path / "train.csv", n=240, seed=3, kind="regression")
        out = tmp_path / f"{task}-{monitor}"
        code, _, stderr = hub_cli("finetune", "tiny/mlp", "--task", task, "--data", tmp_path / "train.csv",
                                  "--out", out, "--epochs", "5", "--lr", "3e-4", "--monitor", monitor)
        assert code == 0, stderr
        kept_matches_history(out, monitor, higher)


def test_a_monitor_no_metric_declares_is_one_line(hub_cli, tmp_path):
    make_blobs(tmp_path / "train.csv", n=60, seed=0)
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "--task", "classification", "--data", tmp_path / "train.csv",
                              "--out", tmp_path / "run", "--monitor", "f1-macro")
    assert code == 2 and stderr.count("\n") == 1 and "'f1-macro' is not a metric of task 'classification'" in stderr
    assert "f1_macro" in stderr and not (tmp_path / "run").exists()


def test_early_stopping_is_on_by_default_and_says_where_it_stopped(hub_cli, tmp_path):
    """A run whose epochs a recipe planned stops after the recipe's patience, else max(3,
    epochs / 4) epochs without a gain (a saturated accuracy gains nothing more; a tie won on
    loss is kept, but is no gain), and says so; --epochs N given trains N unless --patience too."""
    make_blobs(tmp_path / "train.csv", n=300, seed=0)
    registry = tmp_path / "registry.toml"
    registry.write_text('[presets."tiny/long"]\nbackbone = "tiny/mlp"\n[presets."tiny/long".train]\nepochs = 12\nlr = 3e-3\n')

    def finetune(out, *extra):
        code, _, stderr = hub_cli("--registry", registry, "finetune", "tiny/long", "--task", "classification",
                                  "--data", tmp_path / "train.csv", "--out", tmp_path / out, *extra)
        assert code == 0, stderr
        epochs = [r for r in map(json.loads, (tmp_path / out / "metrics.jsonl").read_text().splitlines()) if "epoch" in r]
        return json.loads((tmp_path / out / "hub.json").read_text()), epochs, stderr

    manifest, epochs, stderr = finetune("run")
    run = len(epochs)
    assert run < 12 and manifest["monitor"]["epochs_run"] == run
    assert manifest["training"]["patience"] == 3 and manifest["training"]["recipe"]["patience"].startswith("auto")
    assert f"stopped at epoch {run} of 12: no gain in validation accuracy in 3 epochs" in stderr
    assert "patience 3 (auto" in stderr  # the recipe line names it and whose it is
    gains = [e["epoch"] for e in epochs if e["val_accuracy"] > max([0] + [p["val_accuracy"] for p in epochs[:e["epoch"] - 1]])]
    assert run == gains[-1] + 3  # three epochs after the last gain
    again, _, _ = finetune("again", "-q")  # deterministic: the same stop, the same weights
    assert again["monitor"]["epochs_run"] == run
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == (tmp_path / "again" / "model.safetensors").read_bytes()
    # the user's epochs are the epochs; with --patience too, it stops again; --patience 0 is off
    manifest, _, stderr = finetune("given", "--epochs", "12")
    assert manifest["monitor"]["epochs_run"] == 12 and "patience 0 (off: --epochs given)" in stderr
    manifest, _, _ = finetune("both", "--epochs", "12", "--patience", "3")
    assert manifest["monitor"]["epochs_run"] == run
    manifest, _, stderr = finetune("off", "--patience", "0", "-q")
    assert manifest["monitor"]["epochs_run"] == 12


def test_the_card_gives_each_metric_its_bootstrap_interval_and_says_when_it_is_wide(hub_cli, tmp_path):
    make_blobs(tmp_path / "train.csv", n=200, seed=1)  # 20 validation examples
    manifest, card, _ = finetune(hub_cli, tmp_path)
    intervals, accuracy = manifest["metrics"]["intervals"], manifest["metrics"]["accuracy"]
    low, high = intervals["accuracy"]  # Wilson's: 20 of 20 right is not certainty
    assert low <= accuracy <= high and high - low > 0.1, (low, high)
    assert f"| accuracy | {accuracy:.4f} | {low:.4f}-{high:.4f} |" in card
    assert "On 20 validation examples" in card and "**Wide intervals** (accuracy" in card
    if "f1_macro" in intervals:  # a bootstrap interval, unless every resample scored the same
        assert intervals["f1_macro"][0] <= manifest["metrics"]["f1_macro"] <= intervals["f1_macro"][1]


def test_bootstrap_intervals_narrow_as_the_validation_set_grows():
    import numpy as np

    from hub_core.model.metrics import Gathered, bootstrap

    def accuracy(pairs):
        (scores, targets), = pairs
        return {"accuracy": float((scores.argmax(1) == targets).mean())}

    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 2000):
        targets = rng.integers(0, 2, n)
        right = rng.random(n) < 0.8  # 80 % right
        scores = np.eye(2)[np.where(right, targets, 1 - targets)]
        metric = Gathered("logits", accuracy, {"accuracy": True})
        metric.batches.add(scores, targets)
        low, high = bootstrap([metric])["accuracy"]
        assert low <= accuracy([(scores, targets)])["accuracy"] <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 4  # 40 times the data: about a sixth of the width
