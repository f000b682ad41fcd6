"""Files stored as bytes inside a columnar table: the Hugging Face ``Image()`` / ``Audio()``
layout (a column of struct {bytes, path}, or plain binary) in Parquet or a datasets folder.

A reader scans the column once, one record batch at a time (``scan``: each row's bytes, to
check them there, and its other columns) and keeps for each row only a ``Cell``: the
table, the column, the row and the SHA-256 of the bytes, which is what the disk cache keys
on (the same bytes moved to another table hit; one changed image misses). A DataLoader
worker opens the bytes again by row (``read_cell``): a datasets folder's Arrow files are
memory-mapped (zero copy); a Parquet file's row group is decoded and kept (the last few),
so reading in order decodes each row group once, and shuffled reading decodes one per
example at worst (write small row groups, or use a datasets folder, for that).
"""
from __future__ import annotations

import bisect
import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hub_core.common.columnar import _arrow_files, _pyarrow, is_columnar
from hub_core.common.errors import DataError

SCAN_ROWS = 64  # rows per record batch while scanning: images are large
KEPT_ROW_GROUPS = 4  # decoded Parquet row groups kept per process
# read Parquet as a stream of 1 MiB reads: by default pyarrow buffers every row group a
# scan will read (the whole file: 245 MB of pool for a 237 MB file of images, 9 MB so)
STREAMED = {"pre_buffer": False, "buffer_size": 1 << 20}


@dataclass(frozen=True, slots=True)  # slots: a million examples hold a million of these
class Cell:
    """The bytes of one row's file in a columnar table; ``row`` counts from 0, ``name``
    is the path stored beside the bytes (its suffix says the format), or ""."""

    table: str
    column: str
    row: int
    digest: str
    name: str = ""

    def __str__(self) -> str:  # how errors and prediction rows name it: the table and its row (from 1)
        return f"{self.table}:{self.row + 1}"


def _schema(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if not path.is_dir():
            return pq.read_schema(path)
        files = _arrow_files(path)
        if not files:
            return pa.schema([])
        with pa.memory_map(str(files[0])) as source:
            return pa.ipc.open_stream(source).schema
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"not a readable Parquet file or Arrow data ({str(err).splitlines()[0]})", file=path) from None


def columns(path: str | Path) -> list[str] | None:
    """The column names of a Parquet file or datasets folder, from its schema (nothing
    decoded); None for any other file."""
    path = Path(path)
    if not is_columnar(path):
        return None
    _pyarrow(path)
    return list(_schema(path).names)


def is_bytes_column(path: str | Path, column: str) -> bool:
    """Whether ``column`` of a Parquet file or datasets folder holds files as bytes:
    binary, or a struct with a ``bytes`` field (``datasets``' Image and Audio features);
    False for any other file or column."""
    import pyarrow as pa

    path = Path(path)
    if not is_columnar(path):
        return False
    _pyarrow(path)
    schema = _schema(path)
    if column not in schema.names:
        return False
    kind = schema.field(column).type
    if pa.types.is_struct(kind):
        return kind.get_field_index("bytes") >= 0
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _batches(path: Path, columns: list[str]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_dir():
        yield from pq.ParquetFile(path, **STREAMED).iter_batches(batch_size=SCAN_ROWS, columns=columns)
        return
    for file in _arrow_files(path):
        with pa.memory_map(str(file)) as source:
            for batch in pa.ipc.open_stream(source):
                yield batch.select(columns)


def _split(array):
    """A bytes column's (bytes, names) arrays: struct {bytes, path} or plain binary."""
    import pyarrow as pa

    if pa.types.is_struct(array.type):
        names = array.field("path") if array.type.get_field_index("path") >= 0 else None
        return array.field("bytes"), names
    return array, None


def scan(path: str | Path, column: str, others: tuple[str, ...] = ()) -> Iterator[tuple[int, dict, bytes | None]]:
    """``(row number from 1, row, bytes)`` for each row: ``row`` has the ``others`` columns and,
    under ``column``, a Cell (or, when the row has no bytes, the path stored, or None)."""
    import pyarrow as pa

    path = Path(path)
    table, number = str(path), 0  # one string shared by every Cell of the table
    try:
        for batch in _batches(path, [column, *[c for c in others if c != column]]):
            data, names = _split(batch.column(column))
            rest = batch.drop_columns([column]).to_pylist() if batch.num_columns > 1 else [{}] * batch.num_rows
            for i in range(batch.num_rows):
                value, name = data[i].as_py(), names[i].as_py() if names is not None else None
                row = rest[i]
                if value is None:
                    row[column] = name
                else:
                    row[column] = Cell(table, column, number, hashlib.sha256(value).hexdigest()[:40], name or "")
                number += 1
                yield number, row, value
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"unreadable after row {number} ({str(err).splitlines()[0]})", file=path) from None


class _Open:
    """The tables this process has opened for reading cells by row (reset in a forked worker:
    open files and decoded row groups are not shared across processes)."""

    def __init__(self):
        self.pid, self.tables, self.groups = os.getpid(), {}, OrderedDict()

    def mine(self) -> "_Open":
        return self if self.pid == os.getpid() else _Open()


_open = _Open()


def _starts(lengths) -> list[int]:
    starts = [0]
    for n in lengths:
        starts.append(starts[-1] + n)
    return starts


def _arrow_chunks(table: str, column: str):
    import pyarrow as pa

    chunks = []
    for file in _arrow_files(Path(table)):
        with pa.memory_map(str(file)) as source:  # the mapping stays alive with the arrays
            chunks += pa.ipc.open_stream(source).read_all().column(column).chunks
    return chunks, _starts(len(c) for c in chunks)


def _arrow_row(table: str, column: str, row: int):
    key = (table, column)
    if key not in _open.tables:
        _open.tables[key] = _arrow_chunks(table, column)
    chunks, starts = _open.tables[key]
    chunk = bisect.bisect_right(starts, row) - 1
    if not 0 <= chunk < len(chunks):
        raise IndexError(f"no row {row + 1}")
    return chunks[chunk], row - starts[chunk]


def _parquet_row(table: str, column: str, row: int):
    import pyarrow.parquet as pq

    key = (table, column)
    if key not in _open.tables:
        file = pq.ParquetFile(table, **STREAMED)
        _open.tables[key] = (file, _starts(file.metadata.row_group(g).num_rows
                                           for g in range(file.metadata.num_row_groups)))
    file, starts = _open.tables[key]
    group = bisect.bisect_right(starts, row) - 1
    if not 0 <= group < file.metadata.num_row_groups:
        raise IndexError(f"no row {row + 1}")
    if (key, group) not in _open.groups:
        _open.groups[(key, group)] = file.read_row_group(group, columns=[column]).column(column).combine_chunks()
        while len(_open.groups) > KEPT_ROW_GROUPS:
            _open.groups.popitem(last=False)
    _open.groups.move_to_end((key, group))
    return _open.groups[(key, group)], row - starts[group]


def read_cell(cell: Cell) -> bytes:
    """The bytes of ``cell``, read again from its table; a DataError naming the table and row
    when they are gone or changed since the reader scanned them."""
    import pyarrow as pa

    global _open
    _open = _open.mine()
    try:
        if Path(cell.table).is_dir():
            array, offset = _arrow_row(cell.table, cell.column, cell.row)
        else:
            array, offset = _parquet_row(cell.table, cell.column, cell.row)
        value = _split(array)[0][offset].as_py()
    except (OSError, IndexError, KeyError, pa.ArrowException) as err:
        raise DataError(f"cannot read row {cell.row + 1} again ({str(err).splitlines()[0] or type(err).__name__})",
                        file=cell.table) from None
    if value is None or hashlib.sha256(value).hexdigest()[:40] != cell.digest:
        raise DataError("the table changed since it was read (the row's bytes differ): read it again",
                        file=str(cell))
    return value
