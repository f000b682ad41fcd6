"""Preprocessed examples on disk, memory-mapped: a deterministic pipeline runs once per data.

An entry of the disk cache (``hub_core.common.diskcache``) holds, for each input array and
the target, one flat binary file of every example's values back to back, plus each
example's shape and offset. Reading maps the files (``np.memmap``): the set costs the
page cache, not the process's memory, and a fixed-shape batch is one fancy-index. Integer
arrays (token ids, masks) are stored in the narrowest type that holds them and read back
as the preprocessor's type.

The key covers what the arrays depend on: the preprocessor's class, config and saved files
(a fitted tokenizer), the task's state (its label map), and each example's input and label,
with the size and modification time of any file an input names (an image, a clip), or the
SHA-256 of the bytes of a file stored inside a table (``hub_core.common.cells``).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from hub_core.common.cells import Cell
from hub_core.common.fasthash import file_digest

VERSION = "examples-v2"  # v2: shapes, offsets and lengths as flat files


class Unstorable(Exception):
    """The arrays cannot go into the flat format (a key or dtype that changes between examples)."""


# ----------------------------------------------------------------------------- keys
def _update(h, value) -> None:
    """Feed one raw input or label into the digest, with the identity of files it names
    (a file stored in a table, a Cell: the hash of its bytes, not where it lies)."""
    if isinstance(value, Cell):
        h.update(b"c" + value.digest.encode() + b"\0")
    elif isinstance(value, str):
        h.update(b"s" + value.encode("utf-8", "surrogatepass") + b"\0")
        if _looks_like_file(value):
            try:  # size, mtime and sampled contents: a same-size, same-mtime rewrite misses
                h.update(f"@{file_digest(value)}\0".encode())
            except OSError:
                h.update(b"@missing\0")
    elif isinstance(value, (list, tuple)):
        h.update(b"(" + str(len(value)).encode())
        for item in value:
            _update(h, item)
    elif isinstance(value, dict):
        h.update(b"{" + str(len(value)).encode())
        for key in sorted(value, key=str):
            _update(h, str(key))
            _update(h, value[key])
    elif isinstance(value, np.ndarray):
        h.update(f"a{value.dtype.str}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
    else:
        h.update(b"r" + repr(value).encode() + b"\0")


def _looks_like_file(text: str) -> bool:
    """A short one-line string with a file suffix (``a/b.jpg``): worth a stat, unlike a text."""
    if len(text) > 1024 or "\n" in text:
        return False
    suffix = os.path.splitext(text)[1]
    return 2 <= len(suffix) <= 6 and suffix[1:].isalnum()


def preprocessor_digest(preprocessor) -> str:
    """The preprocessor's class, config and saved files (a fitted tokenizer): what keys its outputs."""
    h = hashlib.sha256(f"{type(preprocessor).__module__}.{type(preprocessor).__qualname__}".encode())
    h.update(json.dumps(preprocessor.config, sort_keys=True, default=str).encode())
    with tempfile.TemporaryDirectory() as folder:  # what a fitted preprocessor saves (tokenizer, vocabulary)
        preprocessor.save(Path(folder))
        for file in sorted(Path(folder).rglob("*")):
            if file.is_file():
                h.update(str(file.relative_to(folder)).encode() + b"\0" + file.read_bytes())
    return h.hexdigest()


def examples_key(examples, preprocessor, task, *, labelled: bool) -> str:
    h = hashlib.sha256(VERSION.encode())
    h.update(preprocessor_digest(preprocessor).encode())
    if labelled and task is not None:
        h.update(f"{type(task).__module__}.{type(task).__qualname__}".encode())
        h.update(json.dumps(task.state(), sort_keys=True, default=str).encode())
    h.update(f"n={len(examples)}".encode())
    h.update(data_digest(examples, labelled=labelled).encode())
    return h.hexdigest()[:40]


def data_digest(examples, *, labelled: bool) -> str:
    """What the examples are: a reader's ``identity`` (one file's path, size and mtime, the
    read options) and which of its rows, when it gave one, else every input and label."""
    h = hashlib.sha256(f"labelled={labelled}".encode())
    identity = getattr(examples, "identity", None)
    if identity is not None:
        h.update(b"identity\0" + identity.encode("utf-8", "surrogatepass") + b"\0")
        h.update(np.ascontiguousarray(examples.rows(), dtype=np.int64).tobytes())
        return h.hexdigest()
    for example in examples:
        _update(h, example.input)
        if labelled:
            _update(h, example.label)
    return h.hexdigest()


# ----------------------------------------------------------------------------- writing
PASS = 1 << 20  # values read at a time when a column is finished: 8 MB, never the whole file


def _pieces(path: Path, dtype: np.dtype, count: int = PASS):
    """A flat file's values, ``count`` at a time, read (not mapped: a map's touched pages
    would count in the process's memory until it is closed)."""
    with open(path, "rb") as handle:
        while True:
            piece = np.fromfile(handle, dtype=dtype, count=count)
            if not piece.size:
                return
            yield piece


class _Column:
    """One array name (or the target): values and shapes appended to flat files as they come,
    so that a million examples cost the writer no memory."""

    def __init__(self, folder: Path, file: str):
        self.folder, self.file = folder, file
        self.handle, self.shapes = open(folder / f"{file}.bin", "wb"), open(folder / f"{file}.shapes.bin", "wb")
        self.dtype, self.ndim, self.n = None, None, 0

    def add(self, value) -> None:
        value = np.asarray(value)
        if self.dtype is None:
            self.dtype, self.ndim = value.dtype, value.ndim
        elif value.dtype != self.dtype or value.ndim != self.ndim:
            raise Unstorable(f"{self.file}: {value.dtype}{value.shape} after {self.dtype}")
        self.handle.write(np.ascontiguousarray(value).tobytes())
        self.shapes.write(np.asarray(value.shape, dtype=np.int64).tobytes())
        self.n += 1

    def close(self) -> dict:
        """Finish the files: each example's offset, the one shape when they all share it, the
        values narrowed. The spec that ``_Mapped`` reads."""
        self.handle.close()
        self.shapes.close()
        shape = self._offsets()
        stored = _narrowed(self.folder / f"{self.file}.bin", self.dtype)  # a column exists from its first value
        return {"file": self.file, "dtype": self.dtype.str, "ndim": self.ndim,
                "shape": shape, **({"stored": stored.str} if stored is not None else {})}

    def _offsets(self) -> list | None:
        """Write every example's start in the values (n + 1 of them); the shape all examples
        share, or None."""
        ndim, shape, total = self.ndim, None, 0
        with open(self.folder / f"{self.file}.offsets.bin", "wb") as out:
            out.write(np.zeros(1, np.int64).tobytes())
            if ndim == 0:
                out.write(np.arange(1, self.n + 1, dtype=np.int64).tobytes())
                return []
            fixed = True
            for piece in _pieces(self.folder / f"{self.file}.shapes.bin", np.int64, PASS * ndim):
                dims = piece.reshape(-1, ndim)
                shape = dims[0].tolist() if shape is None else shape
                fixed = fixed and bool((dims == shape).all())
                ends = total + np.cumsum(np.prod(dims, axis=1))
                out.write(ends.astype(np.int64).tobytes())
                total = int(ends[-1])
        return shape if fixed else None


def _narrowed(path: Path, dtype: np.dtype) -> np.dtype | None:
    """Rewrite an integer column in the narrowest integer type that holds its values; the type,
    or None when it is already the narrowest. Token ids and masks come as int64: a million
    short texts of a 500-word vocabulary (benchmarks/data_scale.py) take 62 MB narrowed, not 499."""
    if dtype.kind not in "iu" or dtype.itemsize == 1 or not path.stat().st_size:
        return None
    low, high = np.iinfo(dtype).max, np.iinfo(dtype).min
    for piece in _pieces(path, dtype):  # one pass for both bounds
        low, high = min(low, int(piece.min())), max(high, int(piece.max()))
    narrow = next(t for t in map(np.dtype, ("u1", "i1", "u2", "i2", "u4", "i4", dtype))  # dtype itself always holds them
                  if np.iinfo(t).min <= low and high <= np.iinfo(t).max)
    if narrow.itemsize >= dtype.itemsize:
        return None
    with open(path.with_suffix(".narrow"), "wb") as out:
        for piece in _pieces(path, dtype):
            out.write(piece.astype(narrow).tobytes())
    os.replace(path.with_suffix(".narrow"), path)  # inside the entry being built: published only when complete
    return narrow


class Writer:
    """Encoded examples in order -> the files of one entry."""

    def __init__(self, folder: Path):
        self.folder, self.columns, self.target, self.n = folder, {}, None, 0
        self.lengths = open(folder / "lengths.bin", "wb")

    def add(self, encoded, length: int) -> None:
        if self.n == 0:
            self.columns = {name: _Column(self.folder, f"a{i}") for i, name in enumerate(encoded.arrays)}
            self.target = _Column(self.folder, "target") if encoded.target is not None else None
        if encoded.arrays.keys() != self.columns.keys() or (encoded.target is None) != (self.target is None):
            raise Unstorable("the arrays' names change between examples")
        for name, value in encoded.arrays.items():
            self.columns[name].add(value)
        if self.target is not None:
            self.target.add(encoded.target)
        self.lengths.write(np.int64(length).tobytes())
        self.n += 1

    def close(self) -> None:
        self.lengths.close()
        meta = {"n": self.n, "arrays": {name: c.close() for name, c in self.columns.items()},
                "target": self.target.close() if self.target is not None else None}
        (self.folder / "arrays.json").write_text(json.dumps(meta))

    def abandon(self) -> None:
        self.lengths.close()
        for column in [*self.columns.values(), *([self.target] if self.target else [])]:
            column.handle.close()
            column.shapes.close()


# ----------------------------------------------------------------------------- reading
def _map(path: Path, dtype, shape=None):
    """A file's values memory-mapped (an empty file: an empty array, which mmap refuses)."""
    if not path.stat().st_size:
        return np.empty(shape or 0, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


class _Mapped:
    """One column of an entry, memory-mapped: a fixed-shape column as one (n, ...) array; else
    the values with each example's offset and shape, mapped too (a million examples would
    otherwise load 16 MB of them per column into every process that reads the entry)."""

    def __init__(self, folder: Path, spec: dict, n: int):
        self.dtype = np.dtype(spec["dtype"])  # what the preprocessor gave; values stored narrower come back as it
        stored = np.dtype(spec.get("stored", spec["dtype"]))
        self.flat = _map(folder / f"{spec['file']}.bin", stored)
        self.fixed = spec["shape"] is not None
        self.stacked = self.flat.reshape(n, *spec["shape"]) if self.fixed else None
        if not self.fixed:
            self.offsets = _map(folder / f"{spec['file']}.offsets.bin", np.int64)
            self.shapes = _map(folder / f"{spec['file']}.shapes.bin", np.int64).reshape(n, spec["ndim"])

    def item(self, index: int) -> np.ndarray:
        if self.stacked is not None:
            return np.asarray(self.stacked[index], dtype=self.dtype)
        return np.asarray(self.flat[self.offsets[index]:self.offsets[index + 1]],
                          dtype=self.dtype).reshape(tuple(self.shapes[index]))

    def rows(self, indices) -> np.ndarray:
        """A fixed-shape column's batch: one copy out of the map (two when stored narrower)."""
        return self.stacked[np.asarray(indices)].astype(self.dtype, copy=False)


class Cached:
    """An entry's examples: ``item(i)`` -> (arrays, target); ``rows(indices)`` for fixed shapes."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._open()

    def _open(self) -> None:
        meta = json.loads((self.folder / "arrays.json").read_text())
        self.n = meta["n"]
        self.columns = {name: _Mapped(self.folder, spec, self.n) for name, spec in meta["arrays"].items()}
        self.target = _Mapped(self.folder, meta["target"], self.n) if meta["target"] else None
        self.lengths = _map(self.folder / "lengths.bin", np.int64)

    def __getstate__(self):  # another process (a spawned worker) maps the files itself
        return {"folder": self.folder}

    def __setstate__(self, state):
        self.folder = state["folder"]
        self._open()

    @property
    def fixed(self) -> bool:
        return all(c.fixed for c in self.columns.values()) and (self.target is None or self.target.fixed)

    def item(self, index: int):
        return ({name: c.item(index) for name, c in self.columns.items()},
                None if self.target is None else self.target.item(index))

    def rows(self, indices):
        return ({name: c.rows(indices) for name, c in self.columns.items()},
                None if self.target is None else self.target.rows(indices))
