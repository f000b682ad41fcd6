"""Split an interaction log into train / val / test files (``hub split-interactions``).

  random   each interaction goes to val / test with the given probabilities
  last     per user, by timestamp (file order without one): the last interaction is the
           test item, the one before the validation item; users with too few
           interactions stay wholly in train (leave-last-out, as RecBole's "LS")
  time     a global time cut: the latest ``test`` fraction of interactions is test, the
           ``val`` fraction before it validation (equal timestamps stay together)

The files keep every column of the input and its format (CSV, TSV or JSONL). Rows the
reader rejects (with --skip-bad) or merges as duplicates are not written.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hub_core.api import DataError, UsageError, atomic_path, atomic_publish, iter_rows

from hub_recsys.data import InteractionLog

STRATEGIES = ("random", "last", "time")
NAMES = ("train", "val", "test")


def assign(log: InteractionLog, by: str, val: float, test: float, seed: int = 0) -> np.ndarray:
    """0 (train), 1 (val) or 2 (test) for each row of ``log``."""
    if by not in STRATEGIES:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(STRATEGIES)}")
    if val < 0 or test < 0 or (by != "last" and val + test >= 1):
        raise UsageError(f"--val {val:g} and --test {test:g} must be >= 0 and leave something to train on")
    n = len(log)
    split = np.zeros(n, dtype=np.int8)
    if by == "random":
        draw = np.random.default_rng(seed).random(n)
        split[draw < val + test] = 1
        split[draw < test] = 2
        return split
    if by == "time":
        if log.timestamps is None:
            raise DataError("--by time needs a timestamp column (--read-option timestamp_column=NAME)", file=log.path)
        train_end, val_end = np.quantile(log.timestamps, [1 - val - test, 1 - test])
        if val:
            split[log.timestamps >= train_end] = 1
        if test:
            split[log.timestamps >= val_end] = 2
        return split
    when = log.timestamps if log.timestamps is not None else log.lines.astype(np.float64)
    order = np.lexsort((log.lines, when, log.user_codes))  # by user, then time, then file order
    users = log.user_codes[order]
    last_of_user = np.append(users[1:] != users[:-1], True)
    held = [2] if test else []
    held += [1] if val else []
    lasts = np.flatnonzero(last_of_user)
    lasts = lasts[np.bincount(users, minlength=len(log.user_names))[users[lasts]] > len(held)]  # keep one to train on
    for back, label in enumerate(held):  # 0: the last interaction, 1: the one before it
        split[order[lasts - back]] = label
    return split


def write_splits(log: InteractionLog, split: np.ndarray, out: Path) -> dict[str, int]:
    """Copy each kept row of ``log.path`` to out/{train,val,test}<suffix>, atomically."""
    source = Path(log.path)
    out.mkdir(parents=True, exist_ok=True)
    part_of_line = np.full(int(log.lines.max()) + 1 if len(log) else 1, -1, dtype=np.int8)
    part_of_line[log.lines] = split
    suffix = source.suffix.lower()
    handles, writers, temporary = {}, {}, {}
    counts = {name: 0 for name in NAMES}
    try:
        for line, row in iter_rows(source):
            part = part_of_line[line] if line < len(part_of_line) else -1
            if part < 0:
                continue
            name = NAMES[part]
            if name not in handles:
                temporary[name] = atomic_path(out / f"{name}{'.jsonl' if suffix == '.json' else suffix}")
                handles[name] = open(temporary[name], "w", encoding="utf-8", newline="")
                if suffix not in (".jsonl", ".json"):
                    writers[name] = csv.DictWriter(handles[name], fieldnames=list(row),
                                                   delimiter="\t" if suffix == ".tsv" else ",")
                    writers[name].writeheader()
            if name in writers:
                writers[name].writerow(row)
            else:
                handles[name].write(json.dumps(row) + "\n")
            counts[name] += 1
        for name, handle in handles.items():
            handle.close()
            atomic_publish(temporary[name], out / f"{name}{'.jsonl' if suffix == '.json' else suffix}")
    finally:
        for name, handle in handles.items():
            handle.close()
            Path(temporary[name]).unlink(missing_ok=True)
    return counts
