"""The (head outputs, targets) numpy pairs of an evaluation pass, gathered for a task's metrics.

A million examples in batches of 32 are 31,000 pairs of small arrays, about 27 MB of array
headers and allocations beside 16 MB of values: consecutive pairs of the same shapes (past
the batch dimension) and types are joined as they come, MERGE at a time. Tasks see
larger batches with the same rows in the same order; batches of other shapes (texts padded
per batch, for token tasks) stay apart.
"""
from __future__ import annotations

import numpy as np

MERGE = 256  # pairs gathered before they are joined


class OutputBatches:
    def __init__(self):
        self.joined: list[tuple] = []
        self.pending: list[tuple] = []

    def add(self, outputs: np.ndarray, targets: np.ndarray | None) -> None:
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
    return None if array is None else (array.shape[1:], array.dtype)


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
    return outputs, None if run[0][1] is None else np.concatenate([p[1] for p in run])
