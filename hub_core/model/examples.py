"""Examples held as columns, not as one Python object per row.

A list of a million ``Example`` objects costs about 470 bytes a row (the object, its text,
its "file:line" source) before a single array is made. ``ExampleColumns`` keeps the inputs
and labels in Arrow arrays (texts as one buffer plus offsets) and the sources as one file
name and an int32 line number a row; an ``Example`` exists only while it is looked at
(``examples[i]``, iteration). ``take`` makes a subset (a split) as an index array over
the same columns, never a copy of them.

``identity``: set by a reader when the examples are wholly determined by one file (its
path, size and modification time) and the read options; the disk cache keys such examples
by it instead of hashing every row (``hub_core.data.arraycache``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hub_core.model.contracts import Example

CHUNK = 65_536  # rows gathered in Python before they go into an Arrow chunk


def _pack(values: list):
    """Python values -> an Arrow array; values Arrow cannot type (mixed kinds) stay a tuple."""
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return tuple(values)


def _concat(chunks: list):
    """One column from its chunks: a chunked Arrow array (a few distinct strings, as labels
    are, dictionary-encoded: each class stored once), else a tuple of the values."""
    import pyarrow as pa

    if all(isinstance(c, pa.Array) for c in chunks):
        types = {c.type for c in chunks if not pa.types.is_null(c.type)}
        if len(types) <= 1:
            kind = types.pop() if types else pa.null()
            try:
                column = pa.chunked_array([c.cast(kind) for c in chunks], type=kind)
            except pa.ArrowException:
                column = None
            if column is not None and pa.types.is_string(kind) and len(set(chunks[0][:1000].to_pylist())) < 100:
                column = column.dictionary_encode()
            if column is not None:
                return column
    return tuple(v for c in chunks for v in (c.to_pylist() if isinstance(c, pa.Array) else c))


def _values(column, rows) -> list:
    """The Python values of ``column`` at ``rows`` (an index array, or None for all)."""
    if isinstance(column, tuple):
        return list(column) if rows is None else [column[i] for i in rows]
    import pyarrow as pa
    import pyarrow.compute as pc

    taken = column if rows is None else column.take(rows)
    if isinstance(taken, pa.ChunkedArray) and pa.types.is_dictionary(taken.type):
        # labels: each class converted once, then picked by code (30x faster than to_pylist)
        taken = taken.unify_dictionaries().combine_chunks()
        classes = np.array(taken.dictionary.to_pylist() + [None], dtype=object)
        return classes[pc.fill_null(taken.indices, len(taken.dictionary)).to_numpy()].tolist()
    return taken.to_pylist()


class ColumnsBuilder:
    """Rows appended one at a time, packed into Arrow chunks every CHUNK rows."""

    def __init__(self, width: int, file: str):
        self.width, self.file = width, file
        self.pending = [[] for _ in range(width)], [], []  # inputs per column, labels, lines
        self.chunks = [[] for _ in range(width)], [], []

    def add(self, inputs: tuple, label, line: int) -> None:
        for column, value in zip(self.pending[0], inputs):
            column.append(value)
        self.pending[1].append(label)
        self.pending[2].append(line)
        if len(self.pending[2]) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self.pending[2]:
            return
        for chunks, values in zip(self.chunks[0], self.pending[0]):
            chunks.append(_pack(values))
        self.chunks[1].append(_pack(self.pending[1]))
        self.chunks[2].append(np.asarray(self.pending[2], dtype=np.int64))
        self.pending = [[] for _ in range(self.width)], [], []

    def build(self, identity: str | None = None) -> "ExampleColumns":
        self._flush()
        lines = np.concatenate(self.chunks[2]) if self.chunks[2] else np.zeros(0, np.int64)
        if not len(lines):
            return ExampleColumns([() for _ in range(self.width)], (), self.file, lines, identity=identity)
        return ExampleColumns([_concat(c) for c in self.chunks[0]], _concat(self.chunks[1]), self.file,
                              lines.astype(np.int32) if lines.max() < 2**31 else lines, identity=identity)


class ExampleColumns(Sequence):
    """A read-only sequence of Examples over columns. One input column gives ``input`` as
    its value, two give a pair ``(a, b)``."""

    def __init__(self, inputs: list, labels, file: str, lines: np.ndarray, index: np.ndarray | None = None,
                 identity: str | None = None):
        self.inputs, self.labels, self.file, self.lines = inputs, labels, file, lines
        self.index, self.identity = index, identity

    def __len__(self) -> int:
        return len(self.lines) if self.index is None else len(self.index)

    def _row(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"example {i} of {n}")
        i %= n
        return i if self.index is None else int(self.index[i])

    def _example(self, inputs: list, label, line) -> Example:
        return Example(inputs[0] if len(inputs) == 1 else tuple(inputs), label, f"{self.file}:{line}")

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        row = self._row(int(i))
        inputs = [c[row] if isinstance(c, tuple) else c[row].as_py() for c in self.inputs]
        label = self.labels[row] if isinstance(self.labels, tuple) else self.labels[row].as_py()
        return self._example(inputs, label, int(self.lines[row]))

    def __iter__(self):
        for start in range(0, len(self), 4096):  # Python objects for one chunk of rows at a time
            rows = np.arange(start, min(start + 4096, len(self)))
            rows = rows if self.index is None else self.index[rows]
            inputs = [_values(c, rows) for c in self.inputs]
            for j, (label, line) in enumerate(zip(_values(self.labels, rows), self.lines[rows].tolist())):
                yield self._example([column[j] for column in inputs], label, line)

    def take(self, indices) -> "ExampleColumns":
        """The examples at ``indices``, in that order: an index over the same columns."""
        indices = np.asarray(indices, dtype=np.int64)
        rows = indices if self.index is None else self.index[indices]
        return ExampleColumns(self.inputs, self.labels, self.file, self.lines, rows, self.identity)

    def rows(self) -> np.ndarray:
        """Each example's row in the columns (the identity key's index)."""
        return np.arange(len(self.lines)) if self.index is None else self.index

    def label_values(self) -> list:
        return _values(self.labels, self.index)

    def first_unlabelled(self) -> int | None:
        """The position of the first example whose label is None or "", found column-wise."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(self.labels, tuple) or self.index is not None:
            return next((i for i, v in enumerate(self.label_values()) if v is None or v == ""), None)
        labels = self.labels
        if pa.types.is_dictionary(labels.type):
            labels = labels.cast(labels.type.value_type)
        missing = pc.is_null(labels)
        if pa.types.is_string(labels.type):
            missing = pc.or_(missing, pc.fill_null(pc.equal(labels, ""), False))
        found = pc.index(missing, True).as_py()
        return None if found < 0 else found


def labels_of(examples) -> list:
    """Every example's label, in order: read off the label column in one pass for ExampleColumns
    (no Example made per row), else from the Examples."""
    if isinstance(examples, ExampleColumns):
        return examples.label_values()
    return [e.label for e in examples]


def take(examples, indices):
    """``examples[indices]`` for a list or ExampleColumns (an index, not a copy, for the latter)."""
    if isinstance(examples, ExampleColumns):
        return examples.take(indices)
    return [examples[int(i)] for i in indices]
