"""Find a deterministic ExampleSet's arrays in the disk cache, or preprocess it into it.

The build preprocesses the set in order, in worker processes when there are any, and
writes each example's arrays as they come (memory stays flat); the entry is published
only once complete (``diskcache.building``). With ``--skip-bad`` a set that has an
unreadable example is not cached (it would have holes): it is preprocessed on access.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hub_core.common import diskcache
from hub_core.common.errors import DataError
from hub_core.data.arraycache import Cached, Unstorable, Writer, examples_key

CHUNK = 64  # examples per worker task while building


def attach(data, workers: int = 0) -> Cached | None:
    if not diskcache.enabled() or not _fits(data):
        return None
    key = examples_key(data.examples, data.preprocessor, data.task, labelled=data.labelled)
    entry = diskcache.lookup(key)
    if entry is not None:
        return Cached(entry)
    try:
        description = f"{len(data)} examples, {type(data.preprocessor).__name__}, from {_origin(data.examples)}"
        with diskcache.building(key, "examples", description) as folder:
            _write(data, folder, workers)
    except Unstorable:
        return None
    except DataError:
        if data.skip_bad:
            return None
        raise
    entry = diskcache.lookup(key)
    return Cached(entry) if entry is not None else None


def features_key(data, weights: str, device, precision: str) -> str | None:
    """The key of a frozen backbone's pooled features of a cached set: the set's entry, the
    backbone's ``weights_digest``, the device kind and precision (bf16 rounds otherwise)."""
    import hashlib

    if data.store is None:
        return None
    return hashlib.sha256(f"features-v2 {data.store.folder.name} {weights} {device.type} {precision}".encode()
                          ).hexdigest()[:40]


def weights_digest(backbone) -> str:
    """SHA-256 of a backbone's class and every tensor of its state (names, dtypes, shapes,
    bytes), hashed in place (no copy of the weights); computed once for a run's train and
    validation features."""
    import hashlib

    import torch

    if getattr(backbone, "recorded_digest", None):  # a snapshot (hub_core.model.snapshot): its backbone's
        return backbone.recorded_digest
    h = hashlib.sha256(f"{type(backbone).__module__}.{type(backbone).__qualname__}".encode())
    for name, tensor in backbone.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        h.update(f"{name} {value.dtype} {tuple(value.shape)}".encode())
        if value.numel():
            h.update(value.view(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _fits(data) -> bool:
    """A set whose arrays would take over a quarter of the cache's limit, or half the free
    disk, is not cached (224-px float images are 600 KB each): it is preprocessed on access."""
    import shutil

    from hub_core.common.console import notice

    try:
        first = data.get(0)
    except DataError:
        return True  # the build names the file (or, with --skip-bad, gives up)
    size = sum(v.nbytes for v in first.arrays.values()) + (first.target.nbytes if first.target is not None else 0)
    estimate = size * len(data)
    root = diskcache.root()
    while not root.exists():
        root = root.parent
    room = min(diskcache.limit() / 4, shutil.disk_usage(root).free / 2)
    if estimate > room:
        notice(f"{len(data)} examples would take about {estimate / 2**30:.1f} GiB in the disk cache (room: "
               f"{room / 2**30:.1f} GiB; PLUGHUB_CACHE_LIMIT): preprocessed on access instead")
        return False
    return True


def _origin(examples) -> str:
    source = examples[0].source or str(examples[0].input)
    return source.rsplit(":", 1)[0] if ":" in source else source


class _EncodeChunk:
    """A worker's task while building: (encoded example, its length) for each index."""

    def __init__(self, data):
        self.data = data

    def __call__(self, indices, epoch):
        items = []
        for i in indices:
            encoded = self.data.get(int(i), epoch)
            items.append((encoded, self.data.preprocessor.length(encoded.arrays)))
        return items


class _Chunks(Sequence):
    """The index arrays of consecutive CHUNK examples, made when asked for."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return -(-self.n // CHUNK)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not 0 <= i < len(self):
            raise IndexError(i)
        return np.arange(i * CHUNK, min((i + 1) * CHUNK, self.n))


def _write(data, folder, workers: int) -> None:
    from hub_core.data.loader import Loader

    skip_bad, data.skip_bad = data.skip_bad, False  # every example or no entry
    writer = Writer(folder)
    try:
        loader = Loader(data, workers, tensors=False, fetch=_EncodeChunk(data))
        try:
            for items in loader(_Chunks(len(data)), 0):
                for encoded, length in items:
                    writer.add(encoded, length)
        finally:
            loader.close()
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        data.skip_bad = skip_bad
