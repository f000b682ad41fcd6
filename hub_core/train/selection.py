"""Which epoch's weights ship: the held-out split and the comparison of epochs.

Two ways a small validation set ships an under-trained model, both closed here:
- a metric that saturates (accuracy 1.0 on 10 examples after epoch 1) ties every later
  epoch; a strict comparison keeps epoch 1. Ties are broken by validation loss.
- a validation set too small to rank epochs at all. The automatic split is stratified by
  label and made at least MIN_DECISIVE examples (up to MAX_SHARE of the data); when even
  that is too few, the run says so and keeps the last epoch.
"""
from __future__ import annotations



from hub_core.common.errors import UsageError
from hub_core.data.splits import MAX_SHARE, MIN_DECISIVE, holdout  # noqa: F401 - the split that selection ranks on

TIE = 1e-9  # metric values closer than this are a tie


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


def gains(value: float, position, mode: str) -> bool:
    """Better on the monitored metric itself, beyond a tie: what --patience waits for. A
    saturated metric (accuracy 1.0) gains nothing more, however the loss moves."""
    best = position.best
    return best is None or (abs(value - best) > TIE and (value > best if mode == "max" else value < best))


def record_best(position, epoch: int, value: float, loss: float | None) -> None:
    position.best, position.best_loss, position.best_epoch = value, loss, epoch


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
