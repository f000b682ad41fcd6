"""Side features of users or items: a CSV/TSV/JSONL table keyed by ID, turned into arrays
aligned with the ID vocabulary (row = code), so the model looks them up by code.

The ID column is ``user`` (or ``item``) when present, else the first column. Every other
column is a field: numeric when all its non-empty cells are numbers (standardised; an
empty cell is the mean), categorical otherwise. A categorical cell may hold several
values separated by ``|`` (genres), averaged by the model. Category code 0 is unknown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hub_core.api import DataError, iter_rows, notice

from hub_recsys.vocab import IdVocab

MAX_VALUES = 32  # values kept per multi-valued cell


@dataclass
class SideFeatures:
    """``fields`` (JSON: name, kind, and for categorical fields size and width);
    ``categorical[name]``: (rows, width) int64 codes; ``numeric``: (rows, n) float32."""

    fields: list[dict] = field(default_factory=list)
    categorical: dict[str, np.ndarray] = field(default_factory=dict)
    numeric: np.ndarray | None = None
    categories: dict[str, list[str]] = field(default_factory=dict)  # field -> values (code - 1)

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat name -> array mapping for an .npz file (and back with ``from_arrays``)."""
        out = {f"categorical/{name}": table for name, table in self.categorical.items()}
        if self.numeric is not None:
            out["numeric"] = self.numeric
        return out

    @classmethod
    def from_arrays(cls, fields: list[dict], categories: dict, arrays) -> "SideFeatures":
        categorical = {f["name"]: np.asarray(arrays[f"categorical/{f['name']}"]) for f in fields
                       if f["kind"] == "categorical"}
        numeric = np.asarray(arrays["numeric"]) if "numeric" in arrays else None
        return cls(fields, categorical, numeric, categories)


def _parses(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_side_features(path: str | Path, side: str, vocab: IdVocab, separator: str = "|") -> SideFeatures:
    """Read ``side`` ("user" or "item") features for the IDs of ``vocab``."""
    path = Path(path)
    rows, id_column, first_line = {}, None, {}
    for line, row in iter_rows(path):
        if id_column is None:
            id_column = side if side in row else next(iter(row))
            if len(row) < 2:
                raise DataError(f"a {side} feature table needs an ID column and at least one feature column",
                                file=path, line=1)
        raw_id = str(row[id_column]).strip()
        if not raw_id:
            raise DataError(f"empty {side} id", file=path, line=line, field=id_column)
        if raw_id in first_line:
            raise DataError(f"duplicate {side} id (first on line {first_line[raw_id]})", file=path, line=line,
                            field=id_column, value=raw_id)
        first_line[raw_id] = line
        code = vocab.code(raw_id)
        if code:
            rows[code] = ({k: ("" if v is None else str(v).strip()) for k, v in row.items() if k != id_column}, line)
    if id_column is None:
        raise DataError("has a header but no rows", file=path)
    unknown = len(first_line) - len(rows)
    missing = len(vocab) - 1 - len(rows)
    if unknown:
        notice(f"{path}: {unknown} {side}(s) not in the training interactions; their features are not used")
    if missing:
        notice(f"{path}: {missing} training {side}(s) have no row; their features count as unknown")
    names = [k for k in next(iter(rows.values()))[0]] if rows else []
    features = SideFeatures()
    numeric_columns = []
    for name in names:
        cells = [(values[name], line) for values, line in rows.values()]
        filled = [(text, line) for text, line in cells if text]
        if filled and all(_parses(text) for text, _ in filled):
            for text, line in filled:
                if not math.isfinite(float(text)):
                    raise DataError(f"{side} feature is not a finite number", file=path, line=line, field=name,
                                    value=text)
            numeric_columns.append(name)
            features.fields.append({"name": name, "kind": "numeric"})
            continue
        table, values = _categorical(rows, name, len(vocab), separator)
        features.categorical[name] = table
        features.categories[name] = values
        features.fields.append({"name": name, "kind": "categorical", "size": len(values) + 1, "width": table.shape[1]})
    if numeric_columns:
        features.numeric = _numeric(rows, numeric_columns, len(vocab))
    return features


def _categorical(rows: dict, name: str, num_rows: int, separator: str) -> tuple[np.ndarray, list[str]]:
    split = {code: [v.strip() for v in values[name].split(separator) if v.strip()][:MAX_VALUES]
             for code, (values, _) in rows.items()}
    values = sorted({v for parts in split.values() for v in parts})
    index = {v: i for i, v in enumerate(values, start=1)}
    width = max([len(parts) for parts in split.values()] + [1])
    table = np.zeros((num_rows, width), dtype=np.int64)
    for code, parts in split.items():
        table[code, :len(parts)] = [index[v] for v in parts]
    return table, values


def _numeric(rows: dict, columns: list[str], num_rows: int) -> np.ndarray:
    raw = np.full((num_rows, len(columns)), np.nan)
    for code, (values, _) in rows.items():
        raw[code] = [float(values[c]) if values[c] else np.nan for c in columns]
    mean = np.nanmean(raw, axis=0)
    std = np.nanstd(raw, axis=0)
    standardised = (raw - mean) / np.where(std > 0, std, 1.0)
    return np.nan_to_num(standardised, nan=0.0).astype(np.float32)  # missing -> the mean
