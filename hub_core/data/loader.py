"""Batches in worker processes: ``torch.utils.data.DataLoader`` over the planned batches.

The loop plans an epoch's batches itself (``plan_batches``: the seeded order, length
grouping, the DDP share, the batches a resumed run skips); a sampler hands exactly those
batches, one key ``(epoch, indices)`` each, to the workers, which preprocess and collate
them. A worker's result depends only on its key (augmentation is seeded by (seed, epoch,
index)), so the batches are bit-identical whatever ``--workers`` is, and they arrive in
plan order. ``--workers 0`` runs the same code in the training process, without torch.

A worker that meets bad data sends the error back as a value (the DataLoader would
re-raise it as a multi-line traceback): the loop raises the same one-line DataError the
in-process path raises, and the workers are shut down with the iterator.

Workers that send nothing for ``PLUGHUB_WORKER_TIMEOUT`` seconds (600 by default) are
stopped and the rest of the pass is prepared in this process: a worker forked while another
thread of the parent held a lock it needs can wait forever (a program that runs the hub
in-process with threads of its own), and a run should finish, not hang. The batches are the
same either way.
"""
from __future__ import annotations

import os
from typing import Iterator

from hub_core.common.errors import HubError


def default_workers() -> int:
    """min(4, cores - 1): a core stays with the training process; none on one core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return 0 if cores <= 1 else min(4, cores - 1)


def resolve_workers(workers: int | None) -> int:
    return default_workers() if workers is None else workers


def feed_workers(data, asked: int | None) -> tuple[int, str]:
    """(worker processes to feed ``data``'s batches, why) : none when its batches are read from
    the disk cache and nothing is augmented (a worker would only copy rows out of a memory map
    and pickle them back: on a small model the default workers made the loop 0.8x a bare
    PyTorch loop, 1.3x without them, issue 39); the machine's share when there is work to do."""
    if asked is not None:
        return asked, f"{asked} worker process{'es' if asked != 1 else ''} (--workers)"
    if data.store is not None and not data.augments:
        return 0, "batches from the disk cache, nothing augmented: no worker processes"
    workers = default_workers()
    work = "augmented afresh each epoch" if data.augments else "preprocessed on access (not cached)"
    return workers, f"{work}: {workers} worker process{'es' if workers != 1 else ''}"


def worker_timeout() -> float:
    """Seconds without a batch after which the workers are given up (PLUGHUB_WORKER_TIMEOUT)."""
    value = os.environ.get("PLUGHUB_WORKER_TIMEOUT", "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        from hub_core.common.errors import UsageError

        raise UsageError(f"PLUGHUB_WORKER_TIMEOUT={value!r}: expected a number of seconds > 0")
    return seconds


class _Failure:
    """A worker's error, carried back as a value."""

    def __init__(self, error: HubError):
        self.error = error


class _Batches:
    """The map-style dataset of the DataLoader: key (epoch, indices) -> (a collated batch,
    the examples ``--skip-bad`` left out of it)."""

    def __init__(self, data, fetch, convert):
        self.data, self.fetch, self.convert = data, fetch, convert

    def __getitem__(self, key):
        epoch, indices = key
        before = len(self.data.skipped)
        try:
            batch = self.convert(self.fetch(indices, epoch))
        except HubError as err:
            return _Failure(err)
        skipped = self.data.skipped[before:]
        del self.data.skipped[before:]  # this worker's copy: the training process keeps the count
        return batch, skipped

    def __len__(self):
        return len(self.data)


class _Plan:
    """The batch keys of one pass, made as the loader reads them (a million examples' index
    arrays are never all held); swapped between passes, read by the loader in this process."""

    def __init__(self):
        self.epoch, self.batches = 0, ()

    def __iter__(self):
        return ((self.epoch, indices) for indices in self.batches)

    def __len__(self):
        return len(self.batches)


def _torch(batch):
    import numpy as np
    import torch

    arrays, targets = batch
    if isinstance(targets, list):  # ragged: one tensor per example
        targets = [torch.from_numpy(np.ascontiguousarray(t)) for t in targets]
    elif targets is not None:
        targets = torch.from_numpy(np.ascontiguousarray(targets))
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, targets


class Loader:
    """Batches of one ExampleSet, pass after pass, from ``workers`` processes kept alive
    between passes (or in this process with 0). ``tensors``: torch tensors (pinned on CUDA)
    instead of numpy arrays; ``fetch(indices, epoch)``: what a batch is (default: the set's
    ``collate``)."""

    def __init__(self, data, workers: int, *, tensors: bool, pin: bool = False, prefetch: int = 2, fetch=None):
        self.data, self.workers, self.tensors, self.pin, self.prefetch = data, workers, tensors, pin, prefetch
        self.fetch = fetch or data.collate
        self.plan, self.loader = _Plan(), None

    def _make(self):
        import torch
        from torch.utils.data import DataLoader

        return DataLoader(_Batches(self.data, self.fetch, _torch if self.tensors else _identity), batch_size=None,
                          sampler=self.plan, num_workers=self.workers, collate_fn=_identity,
                          pin_memory=self.pin, prefetch_factor=self.prefetch, persistent_workers=True,
                          worker_init_fn=_worker_start, timeout=worker_timeout(),
                          generator=torch.Generator())  # its own: drawing worker seeds must not move the global RNG

    def __call__(self, batches, epoch: int) -> Iterator:
        """The batches of ``batches`` (index arrays), in order."""
        skipped = len(self.data.skipped)
        done = 0
        if self.workers > 0:
            for batch in self._from_workers(batches, epoch):
                done += 1
                yield batch
        if done < len(batches):  # no workers, or workers given up: the rest in this process
            convert = _torch if self.tensors else _identity
            for indices in batches[done:]:
                yield convert(self.fetch(indices, epoch))
        if len(self.data.skipped) > skipped:
            from hub_core.common.console import notice

            notice(f"skipped {len(self.data.skipped) - skipped} unreadable example(s) (--skip-bad); "
                   f"first: {self.data.skipped[skipped]}")

    def _from_workers(self, batches, epoch: int) -> Iterator:
        """The batches from the workers, in order, until they end or time out."""
        self.plan.epoch, self.plan.batches = epoch, batches
        if self.loader is None:
            self.loader = self._make()
        items = iter(self.loader)
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except RuntimeError as err:
                if "timed out" not in str(err):
                    raise
                from hub_core.common.console import notice

                self.close()
                self.workers = 0
                notice(f"the data workers sent no batch in {worker_timeout():g} s (PLUGHUB_WORKER_TIMEOUT): "
                       "stopped them; the rest is prepared in this process")
                return
            if isinstance(item, _Failure):
                self.close()
                raise item.error
            batch, left_out = item
            self.data.skipped.extend(left_out)
            yield batch

    def close(self) -> None:
        """Stop the workers now (they also stop with this process, or when it is killed)."""
        loader, self.loader = self.loader, None
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()


def _worker_start(worker_id: int) -> None:
    """A worker dies with the training process (a kill -9 leaves no orphan behind) and lets
    go of the --out lock it inherited by fork, so a --resume right after a kill finds it free."""
    from pathlib import Path

    from hub_core.common.lock import is_lock_file

    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return
    for fd in fds:
        try:
            if is_lock_file(Path(os.readlink(f"/proc/self/fd/{fd}"))):
                os.close(int(fd))
        except OSError:
            continue


def _identity(batch):
    return batch
