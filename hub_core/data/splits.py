"""The held-out split of labelled data: seeded, stratified by label where labels are classes,
and large enough to rank epochs by (``MIN_DECISIVE`` examples, up to ``MAX_SHARE`` of the
data). Training makes it; export and evaluation remake the same one from hub.json."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from hub_core.common.errors import DataError
from hub_core.model.examples import labels_of

MIN_DECISIVE = 20  # below this, one example moves accuracy by > 5 points: too coarse to rank epochs
MAX_SHARE = 0.3  # the automatic split never takes more than this share of the labelled data


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
