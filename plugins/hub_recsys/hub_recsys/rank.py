"""Ranking items for users, in numpy: the one code path for torch, ONNX and evaluation."""
from __future__ import annotations

import numpy as np

from hub_recsys.vocab import OOV, History


def leave_out(scores: np.ndarray, users: np.ndarray, history: History, include_seen: bool = False) -> np.ndarray:
    """Scores (B, N) as float64 with the OOV column, and each user's training items
    unless ``include_seen``, set to -inf so they are never ranked."""
    scores = np.array(scores, dtype=np.float64)
    scores[:, OOV] = -np.inf
    if not include_seen:
        for row, user in enumerate(users.tolist()):
            scores[row, history.seen(user)] = -np.inf
    return scores


def top_items(scores: np.ndarray, k: int) -> np.ndarray:
    """The codes of the ``k`` best finite scores of one row, best first (ties: lower code)."""
    finite = np.flatnonzero(np.isfinite(scores))
    k = min(k, len(finite))
    if k == 0:
        return finite
    best = finite[np.argpartition(-scores[finite], k - 1)[:k]] if k < len(finite) else finite
    return best[np.lexsort((best, -scores[best]))]


def popularity_scores(popularity: np.ndarray) -> np.ndarray:
    """Training interaction counts as scores, ties broken towards the lower code."""
    return popularity.astype(np.float64) - np.arange(len(popularity)) / (len(popularity) + 1.0)
