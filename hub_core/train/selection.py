"""Which epoch's weights ship: the held-out split and the comparison of epochs.

Two ways a small validation set ships an under-trained model, both closed here:
- a metric that saturates (accuracy 1.0 on 10 examples after epoch 1) ties every later
  epoch; a strict comparison keeps epoch 1. Ties are broken by validation loss.
- a validation set too small to rank epochs at all. The automatic split is stratified by
  label and made at least MIN_DECISIVE examples (up to MAX_SHARE of the data); when even
  that is too few, the run says so and keeps the last epoch.
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from hub_core.common.errors import DataError, UsageError
from hub_core.model.examples import labels_of

MIN_DECISIVE = 20  # below this, one example moves accuracy by > 5 points: too coarse to rank epochs
MAX_SHARE = 0.3  # the automatic split never takes more than this share of the labelled data
TIE = 1e-9  # metric values closer than this are a tie


def _strata(examples) -> list[str] | None:
    """A stratum per example: its label, when labels are classes (not numbers or lists)."""
    labels = labels_of(examples)
    if any(not isinstance(label, (str, int, bool)) or isinstance(label, float) for label in labels):
        return None
    keys = [str(label) for label in labels]
    # classes have two examples or more on average (10,000 classes x 2); values nearly all distinct are not classes
    return keys if len(set(keys)) <= max(2, len(keys) // 2) else None


def holdout(examples: list, fraction: float, seed: int) -> tuple[list, list]:
    """A seeded split, stratified by label where labels are classes, at least MIN_DECISIVE
    examples (or MAX_SHARE of the data when that is fewer)."""
    if not 0 < fraction < 1:
        raise DataError(f"--val-split must be between 0 and 1, got {fraction}")
    n = len(examples)
    n_val = max(1, round(n * fraction), min(MIN_DECISIVE, math.floor(n * MAX_SHARE)))
    if n_val >= n:
        raise DataError(f"too few examples ({n}) to hold out a validation split")
    rng = np.random.default_rng(seed)
    strata = _strata(examples)
    if strata is None:
        order = rng.permutation(n)
        val = set(order[:n_val].tolist())
    else:
        val = set(_stratified(strata, n_val, rng))
    from hub_core.model.examples import take

    held = np.zeros(n, dtype=bool)
    held[list(val)] = True
    return take(examples, np.flatnonzero(~held)), take(examples, np.flatnonzero(held))


def _stratified(strata: list[str], n_val: int, rng) -> list[int]:
    """Indices for validation: each class in proportion (largest remainder), every class with
    two or more examples represented (when there are more such classes than n_val, a random
    n_val of them), and at least one example of each left to train on: no class is ever only
    in validation."""
    groups = defaultdict(list)
    for i, key in enumerate(strata):
        groups[key].append(i)
    keys = sorted(groups)
    exact = {k: n_val * len(groups[k]) / len(strata) for k in keys}
    several = [k for k in keys if len(groups[k]) > 1]
    shown = set(several) if len(several) <= n_val else set(rng.choice(several, n_val, replace=False).tolist())
    take = {k: min(len(groups[k]) - 1, max(1 if k in shown else 0, int(exact[k]))) for k in keys}
    for k in sorted(keys, key=lambda k: int(exact[k]) - exact[k]):  # largest remainder first
        if sum(take.values()) >= n_val:
            break
        if take[k] < len(groups[k]) - 1:
            take[k] += 1
    chosen = []
    for k in keys:
        chosen += rng.permutation(groups[k])[:take[k]].tolist()
    return chosen


def check_held_out(task, val_examples: list, given: bool) -> None:
    """An automatic split that left a class only in validation (a random split: most labels
    occur once, so they were not taken for classes) is the split's doing, not the data's:
    say so, and what to do, before the unseen label fails as if the data were wrong."""
    if given or not isinstance(getattr(task, "index", None), dict):  # label-map tasks only
        return
    unseen = set()
    for example in val_examples:
        try:
            task.encode(example.label, {})
        except ValueError as err:  # the task's own words for a label it has no output for
            if "not seen in training" in str(err):
                unseen.add(str(example.label))
        except Exception:  # noqa: BLE001 - a task whose labels need the inputs (tags): it reports them itself
            return
    unseen = sorted(unseen)
    if unseen:
        raise UsageError(f"the automatic --val-split held out every example of label {unseen[0]!r}"
                         + (f" (and of {len(unseen) - 1} more)" if len(unseen) > 1 else "")
                         + ", so training never sees it: with most labels occurring once, the split is random; the "
                           "data is not at fault: give a validation file with --val, or --val-split 0")


def decisive(n_val: int) -> bool:
    return n_val >= MIN_DECISIVE


def improves(value: float, loss: float | None, position, mode: str) -> bool:
    """Better on the monitored metric, or tied with it and lower validation loss."""
    best = position.best
    if best is None:
        return True
    if abs(value - best) > TIE:
        return value > best if mode == "max" else value < best
    best_loss = position.best_loss
    return loss is not None and best_loss is not None and loss < best_loss


def record_best(position, epoch: int, value: float, loss: float | None) -> None:
    position.best, position.best_loss, position.best_epoch, position.bad_epochs = value, loss, epoch, 0


def kept(position, *, monitor: str, mode: str, n_val: int, has_val: bool) -> dict:
    """What hub.json, the model card and the console say about the weights that ship."""
    last = position.epoch
    record = {"metric": monitor, "mode": mode, "best": position.best, "epochs_run": last}
    if not has_val:
        return {**record, "kept_epoch": last, "reason": "no validation data: kept the last epoch"}
    if not decisive(n_val):
        return {**record, "kept_epoch": last,
                "reason": f"the validation set ({n_val} examples) is too small to rank epochs "
                          f"(fewer than {MIN_DECISIVE}): kept the last epoch"}
    epoch = position.best_epoch or last
    tied = [h["epoch"] for h in position.history
            if h.get(monitor) is not None and position.best is not None and abs(h[monitor] - position.best) <= TIE]
    why = f"best validation {monitor} ({position.best:.4f})"
    if len(tied) > 1:
        why += f", tied by epochs {', '.join(map(str, tied))}; of those, the lowest validation loss"
    return {**record, "kept_epoch": epoch, "reason": why}


def describe(record: dict, task=None) -> str:
    line = f"kept epoch {record['kept_epoch']} of {record['epochs_run']}: {record['reason']}"
    if getattr(task, "positive_index", None) is not None:
        line += f"; decision threshold on P({task.positive}) {task.threshold:.3f}"
    return line
