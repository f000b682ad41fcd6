"""Data glue: the modality's reader, splits, and batches of numpy arrays as tensors.

Batches are planned up front from (seed, epoch), so the order is reproducible, a resumed
run can skip exactly the batches it already saw, and DDP ranks take disjoint shares.
An ExampleSet holds the raw examples (paths, texts) and preprocesses on access, with a
generator seeded by (seed, epoch, index) when it augments; ``cached`` maps a deterministic
set's arrays from the disk cache instead (``hub_core.data.arraycache``), built on first
use. Nothing holds a whole set's decoded arrays in memory. Batches come from
``hub_core.data.loader``: worker processes, or this one.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub_core.model.contracts import Batch, Example, ReadOptions
from hub_core.common.errors import DataError
from hub_core.plugin.specs import resolve


def read_examples(modality, path: str | Path, options: ReadOptions) -> Sequence[Example]:
    """The modality's examples of ``path``: a list, or ExampleColumns (``hub_core.model.examples``)."""
    from hub_core.common import shards

    if shards.is_shards(path):  # tar shards: unpacked once (disk cache), then read as a table of files
        return _checked(shards.read(resolve(modality.reader), path, options), path, options)
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", file=path)
    return _checked(resolve(modality.reader)(path, options), path, options)


def _checked(examples: list[Example], path, options: ReadOptions) -> list[Example]:
    if not examples:
        raise DataError("contains no examples", file=path)
    if options.labelled:
        unlabelled = examples.first_unlabelled() if hasattr(examples, "first_unlabelled") else next(
            (i for i, e in enumerate(examples) if e.label is None or e.label == ""), None)
        if unlabelled is not None:
            raise DataError(f"example has no label (column {options.label_column!r})",
                            file=examples[unlabelled].source or path)
    return examples


def split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded random split; the validation share is at least one example."""
    if not 0 < fraction < 1:
        raise DataError(f"--val-split must be between 0 and 1, got {fraction}")
    from hub_core.model.examples import take

    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = max(1, int(round(len(examples) * fraction)))
    if n_val >= len(examples):
        raise DataError(f"too few examples ({len(examples)}) to hold out a validation split")
    return take(examples, order[n_val:]), take(examples, order[:n_val])


@dataclass
class Encoded:
    arrays: dict
    target: np.ndarray | None


class _Forgotten(Sequence):
    """The examples of a set that reads its disk-cache entry only: their count, nothing more."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        raise RuntimeError("the raw examples were let go once cached (ExampleSet.forget_inputs)")


class ExampleSet:
    """Examples turned into (arrays, target) pairs by the preprocessor and the task, on access.

    ``skip_bad``: an example whose preprocessing fails is left out of its batch (and
    counted in ``skipped``) instead of stopping the run."""

    def __init__(self, examples, preprocessor, task, *, train: bool, seed: int = 0, labelled: bool = True,
                 skip_bad: bool = False):
        # a preprocessor that cuts inputs into parts (windows) makes each part an item of its own
        examples, self.owners = fan_out(examples, preprocessor)
        self.examples, self.preprocessor, self.task = examples, preprocessor, task
        self.train, self.seed, self.labelled, self.skip_bad = train, seed, labelled, skip_bad
        self.augments = train and bool(getattr(preprocessor, "augments", False))
        self.store = None  # the disk cache's entry (arraycache.Cached), once ``cached`` found or built it
        # batches carry their raw examples for a decoder or metric that reads them (and for prediction)
        self.with_examples = bool(getattr(task, "needs_examples", False))
        self.skipped: list[str] = []
        self._lengths: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.examples)

    def _encode(self, index: int, epoch: int) -> Encoded:
        example = self.examples[index]
        rng = np.random.default_rng([self.seed, epoch, index]) if self.augments else None
        try:
            if self.labelled and self.task is not None:  # an augmentation may move the label with the input
                arrays, label = self.preprocessor.with_label(example.input, example.label, train=self.augments, rng=rng)
                target = self.task.encode(label, arrays)
            else:
                arrays, target = self.preprocessor(example.input, train=self.augments, rng=rng), None
        except DataError:
            raise
        except (ValueError, OSError) as err:
            raise DataError(str(err), file=example.source or None) from None
        return Encoded(arrays, target)

    def cached(self, workers: int = 0) -> "ExampleSet":
        """Map the arrays from the disk cache, preprocessing the set into it first (in
        ``workers`` processes) when no entry has it. Not for augmented sets; a no-op when
        the cache is off (PLUGHUB_CACHE_LIMIT=0) or the arrays do not fit its format."""
        from hub_core.data.cachebuild import attach

        if not self.augments and self.examples and self.store is None:
            self.store = attach(self, workers)
        return self

    def forget_inputs(self) -> None:
        """Let the raw examples go once the disk cache's entry holds every one: a pass over the
        set reads the entry only (a million texts are 120 MB of Arrow strings, given back to
        the system here)."""
        if self.store is None or self.with_examples:
            return
        self.examples = _Forgotten(len(self.examples))
        if "pyarrow" in sys.modules:
            sys.modules["pyarrow"].default_memory_pool().release_unused()

    def get(self, index: int, epoch: int = 0) -> Encoded:
        if self.store is not None:
            return Encoded(*self.store.item(index))
        return self._encode(index, epoch)

    def batch(self, inputs: dict, targets, indices) -> Batch:
        """The Batch of the planned rows ``indices``, with their raw examples when wanted;
        a batch that --skip-bad shortened names no rows (which were left out is not known)."""
        if len(next(iter(inputs.values()))) != len(indices):
            return Batch(inputs, targets)
        examples = [self.examples[int(i)] for i in indices] if self.with_examples else None
        owners = self.owners[np.asarray(indices)] if self.owners is not None else None
        return Batch(inputs, targets, np.asarray(indices), examples, owners)

    def lengths(self) -> np.ndarray | None:
        """Each example's length for length-grouped batches; None when they have none or it
        changes every epoch (augmented). An array: no Python int per example."""
        if self.augments:
            return None
        if self._lengths is None:
            self._lengths = np.asarray(self.store.lengths if self.store is not None else
                                       [self.preprocessor.length(self.get(i).arrays) for i in range(len(self))],
                                       dtype=np.int64)
        return self._lengths if self._lengths.any() else None

    def collate(self, indices, epoch: int = 0) -> tuple[dict, np.ndarray | None]:
        from hub_core.model.contracts import Preprocessor, Task

        if self.store is not None and self.store.fixed and type(self.preprocessor).collate is Preprocessor.collate and (
                self.store.target is None or type(self.task).collate_targets is Task.collate_targets):
            return self.store.rows(indices)  # one copy out of the map, no Python object per example
        items = self._items(indices, epoch)
        arrays = self.preprocessor.collate([e.arrays for e in items])
        targets = self.task.collate_targets([e.target for e in items]) if items[0].target is not None else None
        return arrays, targets

    def _items(self, indices, epoch: int) -> list[Encoded]:
        if not self.skip_bad:
            return [self.get(int(i), epoch) for i in indices]
        items = []
        for i in indices:
            try:
                items.append(self.get(int(i), epoch))
            except DataError as err:
                self.skipped.append(str(err))
        if not items:
            raise DataError(f"every example of a batch is unreadable (--skip-bad): {self.skipped[-1]}")
        return items


def fan_out(examples, preprocessor) -> tuple[Sequence[Example], np.ndarray | None]:
    """(the items, each item's example index): one item per example, or, where the
    preprocessor cuts inputs into parts (``Preprocessor.windows``), one per part (the
    example's label and source kept); None for the owners when nothing was cut."""
    from hub_core.model.contracts import Preprocessor

    if type(preprocessor).windows is Preprocessor.windows:
        return examples, None
    items, owners = [], []
    for index in range(len(examples)):
        example = examples[index]
        try:
            parts = preprocessor.windows(example.input)
        except (ValueError, OSError) as err:
            raise DataError(str(err), file=example.source or None) from None
        for part in parts if parts is not None else [example.input]:
            items.append(Example(part, example.label, example.source))
            owners.append(index)
    return items, np.asarray(owners, dtype=np.int64)


def plan_batches(n: int, batch_size: int, *, shuffle: bool, seed: int, epoch: int, lengths: list[int] | None = None,
                 rank: int = 0, world: int = 1) -> list[np.ndarray]:
    """The batches of one epoch. With ``lengths``, examples of similar length share a batch
    (sorted within shuffled windows of 50 batches, as transformers' length grouping does)."""
    rng = np.random.default_rng([seed, epoch, 7919])
    order = rng.permutation(n) if shuffle else np.arange(n)
    if lengths is not None:
        window = batch_size * 50
        lengths_arr = np.asarray(lengths)
        chunks = [order[i:i + window] for i in range(0, n, window)]
        order = np.concatenate([c[np.argsort(-lengths_arr[c], kind="stable")] for c in chunks])
    batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]  # views: no per-index Python ints
    if shuffle and len(batches) > 1 and len(batches[-1]) == 1:
        # a training batch of one breaks BatchNorm: the lone example joins the batch before it
        batches[-2:] = [order[(len(batches) - 2) * batch_size:]]
    if lengths is not None and shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    if world > 1:
        per_rank = len(batches) // world  # equal counts so that DDP's all-reduce never waits
        batches = batches[rank * per_rank:(rank + 1) * per_rank] if per_rank else batches[:1]
    return batches


def to_tensors(arrays: dict, device) -> dict:
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}
