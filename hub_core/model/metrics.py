"""Metrics as objects: ``update(outputs, batch)`` for each batch, ``compute()`` once, and a
declared direction for every value they give, so model selection, ``hub tune``, export's
int8 judge and the model card never guess from a metric's name which way is better.

    metric = Gathered("logits", scores, {"accuracy": True, "f1_macro": True})
    for outputs, batch in passes: metric.update(outputs, batch)
    metric.compute()  ->  {"accuracy": 0.93, "f1_macro": 0.91, "per_class": {...}}

``Gathered`` keeps one named output and the targets of every batch and computes once at the
end: the shape of a kept library's function of all predictions (scikit-learn, sacrebleu,
jiwer, pycocotools). A metric that can fold batches as they come (a running sum) subclasses
``Metric`` itself. Numpy only: the ONNX path evaluates with the very same objects.
"""
from __future__ import annotations

import abc
from typing import Any, Callable

import numpy as np

from hub_core.common.errors import UsageError

LOSS = "loss"  # the training objective, reported by torch evaluations: lower is better


class Metric(abc.ABC):
    """Values computed over a pass. ``directions`` maps each value a caller may rank epochs,
    trials or graphs by to True when higher is better; other values (per-class tables, a
    confusion matrix) are reported but not ranked."""

    directions: dict[str, bool] = {}

    @abc.abstractmethod
    def update(self, outputs: dict[str, np.ndarray], batch) -> None:
        """Fold in one batch: its named numpy outputs and its ``Batch`` (targets, inputs, raw examples)."""

    @abc.abstractmethod
    def compute(self) -> dict[str, Any]:
        """Every value over the batches seen so far."""


class Gathered(Metric):
    """``compute_fn(pairs)`` over every batch's (``output``, targets) numpy pairs, joined as
    they come (``OutputBatches``)."""

    def __init__(self, output: str, compute_fn: Callable[[list[tuple]], dict], directions: dict[str, bool],
                 proportions: tuple[str, ...] = ()):
        self.output, self.compute_fn, self.directions = output, compute_fn, dict(directions)
        self.proportions = proportions  # values that are a share of the examples (accuracy): Wilson intervals
        self.batches = OutputBatches()

    def update(self, outputs, batch) -> None:
        self.batches.add(np.asarray(outputs[self.output]), batch.targets)

    def pairs(self) -> list[tuple]:
        """The (output, targets) pairs gathered so far (a task tunes its decision on them)."""
        return self.batches.pairs()

    def compute(self) -> dict[str, Any]:
        return self.compute_fn(self.pairs())


def scalars(metrics: dict) -> dict:
    """The plain numbers of a metrics dict (no per-class tables), as records and tables show them."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def compute_all(metrics: list[Metric]) -> dict[str, Any]:
    values = {}
    for metric in metrics:
        values.update(metric.compute())
    return values


BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_MAX = 20_000  # examples: past this an interval is narrow, and 200 recomputations cost more than they tell


def bootstrap(metrics: list[Metric], rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> dict[str, list[float]]:
    """{value: [2.5 %, 97.5 %]}: 95 % intervals of each ranked value of the Gathered metrics:
    Wilson's score interval for a share of the examples (accuracy: 20 of 20 right is
    0.84-1.00, where resampling could only say 1.00-1.00), else percentiles of the metric's
    own function recomputed on the examples resampled with replacement (Efron's bootstrap);
    none for other metrics, ragged targets or past BOOTSTRAP_MAX examples."""
    rng = np.random.default_rng(seed)
    found: dict[str, list[float]] = {}
    for metric in metrics:
        pairs = metric.pairs() if isinstance(metric, Gathered) else []
        if len(pairs) != 1 or not isinstance(pairs[0][1], np.ndarray) or not 2 <= len(pairs[0][0]) <= BOOTSTRAP_MAX:
            continue
        outputs, targets = pairs[0]
        whole = metric.compute_fn(pairs)
        for name in metric.proportions:
            if isinstance(whole.get(name), (int, float)):
                found[name] = wilson(float(whole[name]), len(outputs))
        drawn: dict[str, list[float]] = {name: [] for name in metric.directions if name not in metric.proportions}
        for _ in range(rounds):
            picked = rng.integers(0, len(outputs), len(outputs))
            values = metric.compute_fn([(outputs[picked], targets[picked])])
            for name, kept in drawn.items():
                value = values.get(name)
                if isinstance(value, (int, float)) and np.isfinite(value):
                    kept.append(float(value))
        for name, kept in drawn.items():
            # none for a value undefined on many resamples (one class drawn), or the same on all (a
            # perfect score: resampling cannot widen it, and "1.00-1.00" would claim a certainty it lacks)
            if len(kept) >= 0.9 * rounds and min(kept) < max(kept):
                found[name] = [round(float(np.percentile(kept, 2.5)), 4), round(float(np.percentile(kept, 97.5)), 4)]
    return found


def wilson(share: float, n: int, z: float = 1.96) -> list[float]:
    """Wilson's 95 % score interval of a proportion ``share`` of ``n`` trials."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return [round(float(max(0.0, centre - half)), 4), round(float(min(1.0, centre + half)), 4)]


def directions(task) -> dict[str, bool]:
    """{metric name: higher is better} of everything ``task`` can be ranked by, the loss included."""
    declared = {LOSS: False}
    for metric in task.metrics():
        declared.update(metric.directions)
    return declared


def higher_is_better(task, name: str) -> bool:
    """The declared direction of ``name``; a name no metric of the task declares is a usage error."""
    declared = directions(task)
    if name not in declared:
        raise UsageError(f"--monitor {name!r} is not a metric of task {task.name!r} "
                         f"({', '.join(sorted(declared))})")
    return declared[name]


def mode(task, name: str) -> str:
    """"max" or "min", as hub.json's "monitor" record and Optuna's study direction say it."""
    return "max" if higher_is_better(task, name) else "min"


# ----------------------------------------------------------------------------- gathering
MERGE = 256  # pairs gathered before they are joined


class OutputBatches:
    """The (outputs, targets) numpy pairs of a pass. A million examples in batches of 32 are
    31,000 pairs of small arrays, about 27 MB of array headers beside 16 MB of values:
    consecutive pairs of the same shapes (past the batch axis) and types are joined as they
    come, MERGE at a time; batches of other shapes (texts padded per batch) and ragged
    targets (lists) stay apart."""

    def __init__(self):
        self.joined: list[tuple] = []
        self.pending: list[tuple] = []

    def add(self, outputs: np.ndarray, targets) -> None:
        self.pending.append((outputs, targets))
        if len(self.pending) >= MERGE:
            self.joined.extend(_joined(self.pending))
            self.pending = []

    def pairs(self) -> list[tuple]:
        """Every pair of the pass, in order."""
        self.joined.extend(_joined(self.pending))
        self.pending = []
        return self.joined


def _kind(array) -> tuple | None:
    if array is None:
        return None
    if isinstance(array, list):
        return ("ragged",)
    return array.shape[1:], array.dtype


def _joined(pairs: list[tuple]) -> list[tuple]:
    """Runs of consecutive pairs of one kind, each concatenated into one pair."""
    out, run = [], []
    for pair in pairs:
        if run and (_kind(pair[0]), _kind(pair[1])) != (_kind(run[0][0]), _kind(run[0][1])):
            out.append(_concatenated(run))
            run = []
        run.append(pair)
    if run:
        out.append(_concatenated(run))
    return out


def _concatenated(run: list[tuple]) -> tuple:
    if len(run) == 1:
        return run[0]
    outputs = np.concatenate([p[0] for p in run])
    targets = run[0][1]
    if targets is not None:
        targets = [t for p in run for t in p[1]] if isinstance(targets, list) else np.concatenate([p[1] for p in run])
    return outputs, targets


class Declared(Metric):
    """The directions of values a task's own evaluation computes (``Task.evaluate_model``:
    the recommender's full ranking of every item): nothing to fold in per batch."""

    def __init__(self, directions: dict[str, bool]):
        self.directions = dict(directions)

    def update(self, outputs, batch) -> None:
        pass

    def compute(self) -> dict[str, Any]:
        return {}
