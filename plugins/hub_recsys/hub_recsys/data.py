"""Read interaction logs: CSV, TSV or JSONL rows of user, item, optional rating and timestamp.

The examples come back as an ``InteractionLog``: a read-only sequence of ``Example`` backed
by numpy columns (about 30 bytes per interaction instead of ~500 for Python objects), so a
log of a million interactions stays small. Each ``Example.input`` is ``{"user", "item"}``;
the label is the rating (or the label column), or ``True`` for implicit feedback: the
interaction was observed, a positive, but there is no rating to learn.

Reader options (``--read-option KEY=VALUE``):
  user_column, item_column      default "user", "item" (or ``--input-column USER --input-column ITEM``)
  rating_column                 default "rating"; used when ``--label-column`` is not in the file
  timestamp_column              default "timestamp": numbers (unix time) or ISO 8601 dates
  rating_range                  "1:5" or [1, 5]: ratings outside are errors (or skipped with --skip-bad)
  duplicates                    a (user, item) pair seen again: last (default), first, mean, keep, error
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hub_core.api import DataError, Example, ReadOptions, UsageError, iter_rows, notice

DUPLICATE_POLICIES = ("last", "first", "mean", "keep", "error")
OPTIONS = ("user_column", "item_column", "rating_column", "timestamp_column", "rating_range", "duplicates")


class InteractionLog(Sequence):
    """Interactions as columns. Indexing with an int gives an Example; with a slice, an
    index array or a boolean mask, another InteractionLog (splits cost no copies of IDs)."""

    def __init__(self, path, user_names, user_codes, item_names, item_codes, labels=None, timestamps=None,
                 lines=None, implicit=False):
        self.path = str(path)
        self.user_names, self.item_names = user_names, item_names  # every distinct raw ID of the file
        self.user_codes = np.asarray(user_codes, dtype=np.int32)  # row -> index into user_names
        self.item_codes = np.asarray(item_codes, dtype=np.int32)
        # implicit logs store no labels: every row is an observed positive (True)
        self.labels = None if labels is None or implicit else np.asarray(labels, dtype=np.float32)
        self.timestamps = None if timestamps is None else np.asarray(timestamps, dtype=np.float64)
        self.lines = np.arange(2, len(self.user_codes) + 2) if lines is None else np.asarray(lines, dtype=np.int32)
        self.implicit = implicit

    def __len__(self) -> int:
        return len(self.user_codes)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            if index < 0:
                index += len(self)
            label = True if self.implicit else None if self.labels is None else float(self.labels[index])
            raw = {"user": self.user_names[self.user_codes[index]], "item": self.item_names[self.item_codes[index]]}
            return Example(raw, label, f"{self.path}:{self.lines[index]}")
        take = lambda column: None if column is None else column[index]  # noqa: E731
        return InteractionLog(self.path, self.user_names, self.user_codes[index], self.item_names,
                              self.item_codes[index], take(self.labels), take(self.timestamps), self.lines[index],
                              self.implicit)


def parse_pair(raw) -> tuple[str, str]:
    """A raw interaction as the reader gives it ({"user", "item"}) or as typed on the
    command line ("USER ITEM", "USER,ITEM" or "USER<TAB>ITEM") -> (user, item)."""
    if isinstance(raw, dict):
        if "user" not in raw or "item" not in raw:
            raise ValueError(f"an interaction needs 'user' and 'item', got keys {sorted(raw)}")
        pair = (raw["user"], raw["item"])
    elif isinstance(raw, (tuple, list)) and len(raw) == 2:
        pair = tuple(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        separator = "\t" if "\t" in text else "," if "," in text else None
        pair = tuple(part.strip() for part in text.split(separator))
        if len(pair) != 2:
            raise ValueError(f"expected 'USER ITEM' (or USER,ITEM), got {raw!r}")
    else:
        raise ValueError(f"expected a user and an item, got {type(raw).__name__} {raw!r}")
    user, item = (str(x).strip() for x in pair)
    if not user or not item:
        raise ValueError(f"empty user or item id in {raw!r}")
    return user, item


def parse_time(raw) -> float:
    """Unix seconds, or an ISO 8601 date/time (naive times are taken as UTC)."""
    if raw is None:
        raise ValueError("empty timestamp")
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip()
        try:
            value = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError("timestamp is neither a number nor an ISO 8601 date") from None
            value = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
    if not math.isfinite(value):
        raise ValueError("timestamp is not finite")
    return value


def parse_range(raw) -> tuple[float, float] | None:
    if raw is None or raw == "":
        return None
    parts = list(raw) if isinstance(raw, (list, tuple)) else str(raw).replace(",", ":").split(":")
    try:
        low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise UsageError(f"rating_range {raw!r}: expected MIN:MAX, e.g. 1:5") from None
    if not low < high:
        raise UsageError(f"rating_range {raw!r}: MIN must be below MAX")
    return low, high


def _columns(options: ReadOptions, header: list[str], path: Path) -> dict:
    extra = options.extra or {}
    unknown = sorted(set(extra) - set(OPTIONS))
    if unknown:
        raise UsageError(f"unknown reader option {unknown[0]!r} for interactions (known: {', '.join(OPTIONS)})")
    if options.input_columns and len(options.input_columns) != 2:
        raise UsageError("interactions take two input columns: --input-column USER --input-column ITEM")
    user, item = options.input_columns or (extra.get("user_column", "user"), extra.get("item_column", "item"))
    for name in (user, item):
        if name not in header:
            raise DataError(f"missing column {name!r} (columns: {', '.join(header)})", file=path, line=1)
    label = None
    if options.labelled:
        rating = extra.get("rating_column", "rating")
        if options.label_column in header:
            label = options.label_column
        elif rating in header:
            label = rating
        elif "rating_column" in extra:
            raise DataError(f"missing rating column {rating!r} (columns: {', '.join(header)})", file=path, line=1)
    timestamp = extra.get("timestamp_column", "timestamp")
    if timestamp not in header:
        if "timestamp_column" in extra:
            raise DataError(f"missing timestamp column {timestamp!r} (columns: {', '.join(header)})", file=path, line=1)
        timestamp = None
    return {"user": user, "item": item, "label": label, "timestamp": timestamp}


class _Skipper:
    """Raise a DataError for a bad row, or count it when --skip-bad is on."""

    def __init__(self, path: Path, skip: bool):
        self.path, self.skip, self.count, self.first = path, skip, 0, None

    def __call__(self, message, line, field, value):
        error = DataError(message, file=self.path, line=line, field=field, value=value)
        if not self.skip:
            raise error
        self.count += 1
        self.first = self.first or str(error)

    def report(self):
        if self.count:
            notice(f"{self.path}: skipped {self.count} bad row(s); first: {self.first}")


def read_examples(path, options: ReadOptions) -> InteractionLog:
    """Read an interaction log. Bad rows are clear errors (or counted with --skip-bad)."""
    path = Path(path)
    extra = options.extra or {}
    policy = extra.get("duplicates", "last")
    if policy not in DUPLICATE_POLICIES:
        raise UsageError(f"duplicates={policy!r}: expected one of {', '.join(DUPLICATE_POLICIES)}")
    bounds = parse_range(extra.get("rating_range"))
    user_index, item_index = {}, {}
    user_codes, item_codes, lines = array("i"), array("i"), array("i")
    labels, times = array("d"), array("d")
    bad = _Skipper(path, options.skip_bad)
    columns = None
    for line, row in iter_rows(path):
        if columns is None:
            columns = _columns(options, list(row), path)
        user, item = ("" if row.get(columns[k]) is None else str(row[columns[k]]).strip() for k in ("user", "item"))
        if not user or not item:
            which = "user" if not user else "item"
            bad(f"empty {which} id", line, columns[which], row.get(columns[which]))
            continue
        if columns["label"] is not None:
            raw = row.get(columns["label"])
            try:
                value = float(raw)
            except (TypeError, ValueError):
                bad("rating is not a number", line, columns["label"], raw)
                continue
            if not math.isfinite(value):
                bad("rating is not a finite number", line, columns["label"], raw)
                continue
            if bounds and not bounds[0] <= value <= bounds[1]:
                bad(f"rating outside rating_range {bounds[0]:g}:{bounds[1]:g}", line, columns["label"], raw)
                continue
        if columns["timestamp"] is not None:
            try:
                moment = parse_time(row.get(columns["timestamp"]))
            except ValueError as err:
                bad(str(err), line, columns["timestamp"], row.get(columns["timestamp"]))
                continue
            times.append(moment)
        if columns["label"] is not None:
            labels.append(value)
        user_codes.append(user_index.setdefault(user, len(user_index)))
        item_codes.append(item_index.setdefault(item, len(item_index)))
        lines.append(line)
    bad.report()
    if columns is None:  # a header and no rows
        return InteractionLog(path, [], [], [], [])
    implicit = options.labelled and columns["label"] is None
    log = InteractionLog(path, list(user_index), np.frombuffer(user_codes, dtype=np.int32), list(item_index),
                         np.frombuffer(item_codes, dtype=np.int32),
                         np.frombuffer(labels, dtype=np.float64) if columns["label"] else None,
                         np.frombuffer(times, dtype=np.float64) if columns["timestamp"] else None,
                         np.frombuffer(lines, dtype=np.int32), implicit)
    return resolve_duplicates(log, policy)


def resolve_duplicates(log: InteractionLog, policy: str) -> InteractionLog:
    """Apply the duplicates policy to repeated (user, item) pairs; say what was done.

    One stable sort of the pair keys taken in chronological order (file order breaks
    ties) puts each pair's rows together, earliest first: "first" keeps a group's first
    row, "last" its latest, "mean" the latest with the group's mean rating.
    """
    if policy == "keep" or len(log) == 0:
        return log
    items = max(1, len(log.item_names))
    dtype = np.int32 if len(log.user_names) * items < 2**31 else np.int64  # half the memory when it fits
    order = np.lexsort((log.lines, log.timestamps)) if log.timestamps is not None else None
    key = log.user_codes.astype(dtype) * dtype(items) + log.item_codes
    if order is not None:
        key = key[order]
    grouped = np.argsort(key, kind="stable")  # positions in chronological order, grouped by pair
    key = key[grouped]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    del key
    repeats = int(len(log) - len(starts))
    if not repeats:
        return log
    rows = grouped if order is None else order[grouped]  # row of the log, grouped by pair, earliest first
    del grouped
    ends = np.append(starts[1:], len(rows)) - 1
    if policy == "error":
        second = int(rows[starts[np.argmax(ends > starts)] + 1])
        example = log[second]
        raise DataError(f"duplicate (user, item) pair {example.input['user']!r}, {example.input['item']!r} "
                        "(--read-option duplicates=last|first|mean|keep decides what to do)",
                        file=log.path, line=int(log.lines[second]))
    chosen = rows[starts] if policy == "first" else rows[ends]
    keep = np.argsort(chosen, kind="stable")  # back to file order
    result = log[chosen[keep]]
    if policy == "mean" and log.labels is not None:
        sums = np.add.reduceat(log.labels[rows].astype(np.float64), starts)
        result.labels = (sums / (ends - starts + 1))[keep]
    kept = "mean rating" if policy == "mean" else policy
    notice(f"{log.path}: {repeats} duplicate (user, item) row(s); kept the {kept} of each "
           "(--read-option duplicates=last|first|mean|keep|error)")
    return result
