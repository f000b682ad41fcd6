"""A table's columns read whole by Arrow (``pyarrow.csv``, ``.json``, ``.parquet``), for readers
that check them column-wise: no Python object per row, and ten times faster than ``csv``.

It is a fast path only. ``read_columns`` returns None whenever the file is anything but
plain (a CSV whose rows span lines or that has blank lines, a header naming a column twice,
a parse error, a missing column, a datasets folder): the caller then reads the rows with
``hub_core.common.table.iter_rows``, which gives the exact one-line error (file, line,
field, value) when there is one. Line numbers are those ``iter_rows`` gives: a CSV's data
rows from line 2, JSON Lines and Parquet rows from 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def read_columns(path: str | Path, choose):
    """``({column: chunked array}, line numbers)`` of the columns ``choose(column names)``
    names, or None (read the file row by row instead)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return _released(_csv(path, choose, "\t" if suffix == ".tsv" else ","))
        if suffix in (".parquet", ".pq"):
            return _released(_parquet(path, choose))
        if suffix == ".jsonl":
            return _released(_jsonl(path, choose))
    except (OSError, ValueError, ImportError, UnicodeDecodeError):  # pyarrow's errors derive from these
        return None
    return None


def _released(got):
    """``got``, once Arrow's pool has given the parser's freed blocks back to the system: it
    keeps them otherwise (a million-row CSV: 130 MB beyond its columns, for the whole run)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    return got


def _csv(path: Path, choose, delimiter: str):
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter), [])
    columns = tuple(choose(header)) if header and len(set(header)) == len(header) else ()
    if not columns or not set(columns) <= set(header):
        return None
    table = pacsv.read_csv(
        path, read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header}, include_columns=list(columns),
                                             strings_can_be_null=False, quoted_strings_can_be_null=False))
    if _line_count(path) != table.num_rows + 1:  # one row a line, as csv numbers them: no quoted line break, bare CR
        return None
    return {c: table.column(c) for c in columns}, np.arange(2, table.num_rows + 2, dtype=np.int64)


def _line_count(path: Path) -> int:
    """Lines of a file, a last one without its newline included."""
    with path.open("rb") as handle:
        newlines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
        if handle.tell():
            handle.seek(-1, 2)
            newlines += handle.read(1) != b"\n"
    return newlines


def _jsonl(path: Path, choose):
    """A JSON Lines file whose chosen fields are all texts, or texts and whole-number labels,
    with no blank line: parsed by ``pyarrow.json`` into those columns only. Anything else
    (a list of words, a float or mixed label, a blank line) is read row by row."""
    import json

    import pyarrow as pa
    import pyarrow.json as pajson

    with path.open("r", encoding="utf-8-sig") as handle:
        try:
            first = json.loads(handle.readline() or "null")
        except RecursionError:
            return None  # read row by row: that reader names the line and the limit
    if not isinstance(first, dict):
        return None
    columns = tuple(choose(list(first)))
    if not columns or not set(columns) <= set(first):
        return None
    table = None
    for last in (pa.string(), pa.int64()):  # labels: names, else class numbers
        schema = pa.schema([(c, pa.string()) for c in columns[:-1]] + [(columns[-1], last)])
        try:
            table = pajson.read_json(path, parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False))
            break
        except pa.ArrowInvalid:
            continue
    if table is None or _line_count(path) != table.num_rows:  # a blank line: numbered as the row reader does
        return None
    return {c: table.column(c) for c in columns}, np.arange(1, table.num_rows + 1, dtype=np.int64)


def _parquet(path: Path, choose):
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    names = file.schema_arrow.names
    columns = tuple(choose(names)) if len(set(names)) == len(names) else ()
    if not columns or not set(columns) <= set(names):
        return None
    # batch by batch, not ``read``: a whole row group decoded at once peaked 150 MB higher (1 M texts)
    table = pa.Table.from_batches(list(file.iter_batches(batch_size=1 << 16, columns=list(columns))),
                                  schema=pa.schema([file.schema_arrow.field(c) for c in columns]))
    return {c: table.column(c) for c in columns}, np.arange(1, table.num_rows + 1, dtype=np.int64)
