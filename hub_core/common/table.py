"""Read CSV, TSV and JSONL rows with errors that name the file, line, field and value
(and Parquet files and ``datasets`` folders, through ``hub_core.common.columnar``).

Readers of every modality use this, so tabular data behaves the same everywhere.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from hub_core.common import limits
from hub_core.common.columnar import COLUMN_FLAGS
from hub_core.common.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq")


def is_table(path: str | Path) -> bool:
    """A file iter_rows reads, or a ``datasets`` folder (``save_to_disk``), which is a table too."""
    from hub_core.common.columnar import is_datasets_folder

    path = Path(path)
    return path.suffix.lower() in TABLE_SUFFIXES or is_datasets_folder(path)


def _open_text(path: Path):
    if not path.exists():
        raise DataError("no such file", file=path)
    if path.is_dir():
        raise DataError("is a directory, expected a CSV, TSV or JSONL file", file=path)
    if not path.is_file():  # a FIFO, a device or a socket: reading would wait for a writer, or never end
        raise DataError("is not a regular file (a pipe, device or socket), expected a CSV, TSV or JSONL file",
                        file=path)
    if path.stat().st_size == 0:
        raise DataError("the file is empty", file=path)
    return path.open("r", encoding="utf-8-sig", newline="")


def iter_rows(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, row)`` for each data row; check ``required`` columns exist."""
    path = Path(path)
    from hub_core.common import columnar

    if columnar.is_columnar(path):
        yield from columnar.iter_rows(path, required)
        return
    csv.field_size_limit(1 << 24)
    with _open_text(path) as handle:
        try:
            if path.suffix.lower() in (".jsonl", ".json"):
                yield from _jsonl_rows(path, handle, required)
            else:
                yield from _csv_rows(path, handle, required)
        except UnicodeDecodeError as err:
            raise DataError(f"not UTF-8 text (byte {err.start} of a chunk: {err.reason})", file=path) from None
        except csv.Error as err:
            raise DataError(f"malformed CSV: {err}", file=path) from None


def _csv_rows(path: Path, handle, required):
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(handle, delimiter=delimiter)
    columns = reader.fieldnames or []
    if not columns:
        raise DataError("has no header row", file=path)
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:  # DictReader would keep the last of the columns silently
        raise DataError(f"the header names column {repeated[0]!r} {columns.count(repeated[0])} times (each column "
                        "needs its own name)", file=path, line=1)
    _check_columns(path, 1, columns, required)
    for row in reader:
        line = reader.line_num
        if None in row:  # more cells than header columns
            raise DataError(f"{len(columns) + len(row[None])} cells but the header has {len(columns)}", file=path, line=line)
        if any(value is None for value in row.values()):
            raise DataError(f"fewer cells than the {len(columns)} header columns", file=path, line=line)
        yield line, row


def _jsonl_rows(path: Path, handle, required):
    for line, text in enumerate(handle, 1):
        if not text.strip():
            continue
        try:
            row = limits.loads_json(text, file=path, line=line)
        except json.JSONDecodeError as err:
            raise DataError(f"invalid JSON: {err.msg} (column {err.colno})", file=path, line=line) from None
        if not isinstance(row, dict):
            raise DataError(f"each line must be a JSON object, got {type(row).__name__}", file=path, line=line)
        _check_columns(path, line, list(row), required)
        yield line, row


def _check_columns(path: Path, line: int, columns: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(
            f"missing column {missing[0]!r} (columns: {', '.join(map(str, columns))}){COLUMN_FLAGS}", file=path, line=line
        )


def resolve_path(table: Path, value: str, data_root: str | None, line: int | None = None) -> Path:
    """A path from a table cell, relative to the table's folder; kept inside ``data_root``."""
    if not isinstance(value, str) or not value.strip():
        raise DataError("empty path", file=table, line=line, value=value)
    candidate = Path(value)
    if not candidate.is_absolute():
        candidate = (Path(data_root) if data_root else table.parent) / candidate
    try:
        candidate = candidate.resolve()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symlink loop: no file by that name can exist
        raise DataError("not a usable file path", file=table, line=line, value=value) from None
    if data_root is not None:
        root = Path(data_root).resolve()
        if root not in candidate.parents and candidate != root:
            raise DataError(f"path escapes --data-root {str(root)!r}", file=table, line=line, value=value)
    return candidate
