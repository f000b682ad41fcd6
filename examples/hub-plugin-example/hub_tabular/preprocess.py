"""Rows -> numpy arrays: standardised numeric columns and category indices. Numpy only
(no torch), so the same code serves training, prediction and the ONNX runtime.

Fitting decides each column's kind: numeric when every non-missing training value is a
number, categorical otherwise (override with ``-p numeric=a,b`` / ``-p categorical=c``).
Numbers are standardised with the training mean and std, a missing number becomes the
mean; categories get indices by frequency (at most ``max_categories`` per column, seen at
least ``min_count`` times); index 0 stands for missing or unseen.
"""
from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from hub_core.api import DataError, Preprocessor

MISSING = {"", "na", "n/a", "nan", "null", "none"}
VOCABULARIES = "vocabularies.json"


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip().lower() in MISSING


def as_number(value) -> float | None:
    """A finite float, or None when the value is not a number."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _names(option) -> list[str]:
    """``-p numeric=a,b`` arrives as the string "a,b"; a TOML config gives a list."""
    if option is None:
        return []
    return [n.strip() for n in option.split(",") if n.strip()] if isinstance(option, str) else list(option)


class TabularPreprocessor(Preprocessor):
    augments = False  # deterministic: the engine may cache the encoded examples

    def __init__(self, config: dict):
        super().__init__({"max_categories": 1000, "min_count": 1, **config})
        self.vocabularies: dict[str, list[str]] = {}
        self._index: dict[str, dict[str, int]] = {}

    # -- fitting ------------------------------------------------------------------
    def fit(self, examples) -> None:
        if not examples:
            raise DataError("no training examples to fit the tabular preprocessor on")
        columns = list(examples[0].input)
        forced_numeric, forced_categorical = _names(self.config.get("numeric")), _names(self.config.get("categorical"))
        for name in forced_numeric + forced_categorical:
            if name not in columns:
                raise DataError(f"-p numeric/categorical names column {name!r}, which the data does not have "
                                f"(columns: {', '.join(columns)})", file=examples[0].source.rpartition(":")[0] or None)
        numeric, categorical = [], []
        for column in columns:
            values = [e.input.get(column) for e in examples if not is_missing(e.input.get(column))]
            if column in forced_categorical:
                categorical.append(column)
            elif column in forced_numeric or (values and all(as_number(v) is not None for v in values)):
                numeric.append(column)
            else:
                categorical.append(column)
        stats = {}
        for column in numeric:
            values = []
            for example in examples:
                raw = example.input.get(column)
                if is_missing(raw):
                    continue
                number = as_number(raw)
                if number is None:
                    file, _, line = example.source.rpartition(":")
                    raise DataError("not a number in a numeric column", file=file or None, line=line or None,
                                    field=column, value=raw)
                values.append(number)
            data = np.asarray(values or [0.0], dtype=np.float64)
            stats[column] = (float(data.mean()), float(data.std()) or 1.0)
        self.config.update(columns=columns, numeric=numeric, categorical=categorical,
                           mean=[stats[c][0] for c in numeric], std=[stats[c][1] for c in numeric])
        limit, min_count = int(self.config["max_categories"]), int(self.config["min_count"])
        for column in categorical:
            counts = Counter(str(e.input.get(column)).strip() for e in examples if not is_missing(e.input.get(column)))
            kept = sorted((v for v, n in counts.items() if n >= min_count), key=lambda v: (-counts[v], v))[:limit]
            self.vocabularies[column] = kept
        self._build_index()

    def _build_index(self) -> None:
        self._index = {c: {v: i + 1 for i, v in enumerate(vocab)} for c, vocab in self.vocabularies.items()}

    @property
    def cardinalities(self) -> list[int]:
        """Embedding rows per categorical column: the vocabulary plus index 0 (missing/unseen)."""
        return [len(self.vocabularies[c]) + 1 for c in self.config["categorical"]]

    # -- one example --------------------------------------------------------------
    def __call__(self, raw, *, train=False, rng=None) -> dict[str, np.ndarray]:
        if "columns" not in self.config:
            raise RuntimeError("TabularPreprocessor used before fit()")
        row = self._parse(raw) if isinstance(raw, str) else raw
        if not isinstance(row, dict):
            raise ValueError(f"a tabular input is a row {{column: value}}, got {type(raw).__name__}")
        missing = [c for c in self.config["columns"] if c not in row]
        if missing:
            raise ValueError(f"input has no column {missing[0]!r} (expected: {', '.join(self.config['columns'])})")
        numeric = np.zeros(len(self.config["numeric"]), dtype=np.float32)
        for i, (column, mean, std) in enumerate(zip(self.config["numeric"], self.config["mean"], self.config["std"])):
            value = row[column]
            if is_missing(value):
                continue  # the mean, i.e. 0 once standardised
            number = as_number(value)
            if number is None:
                raise ValueError(f"column {column!r}: {value!r} is not a number")
            numeric[i] = (number - mean) / std
        categorical = np.asarray([0 if is_missing(row[c]) else self._index[c].get(str(row[c]).strip(), 0)
                                  for c in self.config["categorical"]], dtype=np.int64)
        return {"numeric": numeric, "categorical": categorical}

    def _parse(self, text: str) -> dict:
        """A command-line row: a JSON object, or comma-separated values in column order."""
        if text.lstrip().startswith("{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"input is not a valid JSON object: {err.msg} (column {err.colno})") from None
        values = next(csv.reader([text]), [])
        columns = self.config["columns"]
        if len(values) != len(columns):
            raise ValueError(f"expected {len(columns)} comma-separated values ({', '.join(columns)}), got {len(values)}")
        return dict(zip(columns, values))

    def synthetic(self, batch_size, scale, rng) -> dict[str, np.ndarray]:
        numeric = rng.standard_normal((batch_size, len(self.config["numeric"]))).astype(np.float32)
        highs = np.asarray(self.cardinalities, dtype=np.int64).reshape(1, -1)
        categorical = rng.integers(0, np.maximum(highs, 1), size=(batch_size, highs.shape[1]), dtype=np.int64)
        return {"numeric": numeric, "categorical": categorical}

    # -- the model directory ------------------------------------------------------
    def save(self, directory: Path) -> None:
        path = Path(directory) / VOCABULARIES
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.vocabularies, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)  # atomic: never a half-written vocabulary

    @classmethod
    def load(cls, directory: Path, config: dict) -> "TabularPreprocessor":
        preprocessor = cls(config)
        path = Path(directory) / VOCABULARIES
        try:
            preprocessor.vocabularies = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError("missing: the model directory's tabular vocabularies", file=path) from None
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err.msg}", file=path, line=err.lineno) from None
        preprocessor._build_index()
        return preprocessor
