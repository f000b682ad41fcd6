"""Columnar tables: Parquet files and Hugging Face ``datasets`` folders (``save_to_disk``).

Rows come out as ``iter_rows`` gives CSV rows, ``(row number, {column: value})``, one
record batch at a time: a Parquet file is read batch by batch (``pyarrow.parquet``), the
Arrow files of a ``save_to_disk`` folder are memory-mapped (``pyarrow.ipc``), so neither is
ever decoded whole. Row numbers count from 1; errors name the file and the row.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from hub_core.common.errors import DataError

# what a missing-column error adds: the flags that name other columns (one line, said once here)
COLUMN_FLAGS = "; name others with --input-column / --label-column"

PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 4096


def is_datasets_folder(path: Path) -> bool:
    """A folder written by ``datasets.Dataset.save_to_disk`` (or a DatasetDict's)."""
    return path.is_dir() and ((path / "state.json").is_file() or (path / "dataset_dict.json").is_file())


def is_columnar(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES or is_datasets_folder(path)


def _pyarrow(path: Path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError("reading Parquet or datasets folders needs pyarrow (pip install pyarrow)", file=path) from None


def _parquet_batches(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)  # streamed: not every row group buffered
    except (OSError, pa.ArrowException) as err:
        raise DataError(f"not a readable Parquet file ({str(err).splitlines()[0]})", file=path) from None
    return table.schema_arrow.names, table.iter_batches(batch_size=BATCH_ROWS)


def _arrow_files(folder: Path) -> list[Path]:
    if (folder / "dataset_dict.json").is_file():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        raise DataError(f"a DatasetDict: give one split's folder ({', '.join(str(folder / s) for s in splits)})",
                        file=folder)
    try:
        state = json.loads((folder / "state.json").read_text())
        files = [folder / f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"unreadable datasets state.json ({err})", file=folder / "state.json") from None
    inside = folder.resolve()
    for file in files:  # save_to_disk writes its Arrow files into the folder: one named elsewhere is not its own
        if not file.resolve().is_relative_to(inside):
            raise DataError(f"field _data_files names {file.name!r} outside the dataset folder "
                            f"({file.resolve()}); a datasets folder reads only its own files",
                            file=folder / "state.json")
    return files


def _arrow_batches(folder: Path):
    import pyarrow as pa

    files = _arrow_files(folder)

    def batches():
        for file in files:
            try:
                with pa.memory_map(str(file)) as source:
                    yield from pa.ipc.open_stream(source)
            except (OSError, pa.ArrowInvalid) as err:
                raise DataError(f"unreadable Arrow data ({str(err).splitlines()[0]})", file=file) from None

    first = next(iter(batches()), None)
    return (first.schema.names if first is not None else []), batches()


def iter_rows(path: str | Path, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict]]:
    """``(row number, row)`` of a Parquet file or a datasets folder; ``required`` columns checked."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file", file=path)
    _pyarrow(path)
    columns, batches = _arrow_batches(path) if path.is_dir() else _parquet_batches(path)
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"missing column {missing[0]!r} (columns: {', '.join(columns)}){COLUMN_FLAGS}", file=path)
    import pyarrow as pa

    number = 0
    try:
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except DataError:
        raise
    except (OSError, pa.ArrowException) as err:  # a truncated or corrupt file met mid-way
        raise DataError(f"unreadable after row {number} ({str(err).splitlines()[0]})", file=path) from None
