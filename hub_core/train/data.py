"""Data glue: the modality's reader, splits, and batches of numpy arrays as tensors.

Batches are planned up front from (seed, epoch), so the order is reproducible, a resumed
run can skip exactly the batches it already saw, and DDP ranks take disjoint shares.
Examples are preprocessed once and kept when the preprocessor is deterministic
(``augments`` false); otherwise per epoch with a generator seeded by (seed, epoch, index).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub_core.model.contracts import Example, ReadOptions
from hub_core.common.errors import DataError
from hub_core.plugin.specs import resolve


def read_examples(modality, path: str | Path, options: ReadOptions) -> list[Example]:
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or directory", file=path)
    examples = resolve(modality.reader)(path, options)
    if not examples:
        raise DataError("contains no examples", file=path)
    if options.labelled:
        unlabelled = next((e for e in examples if e.label is None or e.label == ""), None)
        if unlabelled is not None:
            raise DataError(f"example has no label (column {options.label_column!r})", file=unlabelled.source or path)
    return examples


def split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded random split; the validation share is at least one example."""
    if not 0 < fraction < 1:
        raise DataError(f"--val-split must be between 0 and 1, got {fraction}")
    order = np.random.default_rng(seed).permutation(len(examples))
    n_val = max(1, int(round(len(examples) * fraction)))
    if n_val >= len(examples):
        raise DataError(f"too few examples ({len(examples)}) to hold out a validation split")
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]


@dataclass
class Encoded:
    arrays: dict
    target: np.ndarray | None


class ExampleSet:
    """Examples turned into (arrays, target) pairs by the preprocessor and the task."""

    def __init__(self, examples, preprocessor, task, *, train: bool, seed: int = 0, labelled: bool = True):
        self.examples, self.preprocessor, self.task = examples, preprocessor, task
        self.train, self.seed, self.labelled = train, seed, labelled
        self.augments = train and bool(getattr(preprocessor, "augments", False))
        self._cache: list[Encoded] | None = None
        self._stacked: Encoded | None = None  # one array per input when every example has the same shapes
        if not self.augments:
            self._stacked = self._encode_stacked()
            if self._stacked is None:
                self._cache = [self._encode(i, epoch=0) for i in range(len(examples))]

    def __len__(self) -> int:
        return len(self.examples)

    def _encode(self, index: int, epoch: int) -> Encoded:
        example = self.examples[index]
        rng = np.random.default_rng([self.seed, epoch, index]) if self.augments else None
        try:
            arrays = self.preprocessor(example.input, train=self.augments, rng=rng)
            target = self.task.encode(example.label, arrays) if self.labelled and self.task is not None else None
        except DataError:
            raise
        except (ValueError, OSError) as err:
            raise DataError(str(err), file=example.source or None) from None
        return Encoded(arrays, target)

    def _encode_stacked(self) -> Encoded | None:
        """Fixed-shape examples with the default collation go straight into preallocated
        arrays: no Python object per example, and a batch is one fancy-index (it is what
        keeps memory proportional to the arrays and the per-step overhead low)."""
        from hub_core.model.contracts import Preprocessor, Task

        if type(self.preprocessor).collate is not Preprocessor.collate or not self.examples or (
                self.labelled and self.task is not None and type(self.task).collate_targets is not Task.collate_targets):
            return None
        first = self._encode(0, epoch=0)
        n = len(self.examples)
        arrays = {k: np.empty((n, *v.shape), dtype=v.dtype) for k, v in first.arrays.items()}
        targets = None if first.target is None else np.empty((n, *first.target.shape), dtype=first.target.dtype)
        for index in range(n):
            item = first if index == 0 else self._encode(index, epoch=0)
            if item.arrays.keys() != arrays.keys() or any(v.shape != arrays[k].shape[1:] for k, v in item.arrays.items()):
                return None  # shapes vary: keep a list of examples instead
            for key, value in item.arrays.items():
                arrays[key][index] = value
            if targets is not None:
                if np.shape(item.target) != targets.shape[1:]:
                    return None
                targets[index] = item.target
        return Encoded(arrays, targets)

    def get(self, index: int, epoch: int = 0) -> Encoded:
        if self._stacked is not None:
            stacked = self._stacked
            return Encoded({k: v[index] for k, v in stacked.arrays.items()},
                           None if stacked.target is None else stacked.target[index])
        return self._cache[index] if self._cache is not None else self._encode(index, epoch)

    def lengths(self) -> list[int] | None:
        if self._cache is None:
            return None
        lengths = [self.preprocessor.length(e.arrays) for e in self._cache]
        return lengths if any(lengths) else None

    def collate(self, indices: list[int], epoch: int = 0) -> tuple[dict, np.ndarray | None]:
        if self._stacked is not None:
            stacked = self._stacked
            return ({k: v[indices] for k, v in stacked.arrays.items()},
                    None if stacked.target is None else stacked.target[indices])
        items = [self.get(i, epoch) for i in indices]
        arrays = self.preprocessor.collate([e.arrays for e in items])
        targets = self.task.collate_targets([e.target for e in items]) if items[0].target is not None else None
        return arrays, targets


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
