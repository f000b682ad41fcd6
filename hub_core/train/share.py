"""Each rank's share of tar shards under torchrun: rank r of w unpacks and reads only the
training shards r, r + w, r + 2w, ... (WebDataset's split by node), not every shard.

Validation must be the same on every rank (each evaluates it and decides the best epoch
and patience alone): ``--val`` is read whole by every rank, or, with ``--val-split F``, the
last ``max(1, round(F * shards))`` shards are held out and read whole by every rank. Each
rank plans its epochs over its own examples, seeded by (seed, epoch) as one process would,
and takes the first ``common`` batches: the fewest any rank has, so that no all-reduce
waits. Every rank must fit the same label map and preprocessor from its share (``agree``);
a rank whose shards miss a label stops every rank with one line. Fewer training shards
than ranks, a data file that is not shards, or ``PLUGHUB_SHARD_SPLIT=0``: every rank reads
everything and takes its slice of the global batches (``plan_batches(rank=, world=)``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hub_core.common import shards
from hub_core.common.console import notice
from hub_core.common.errors import DataError
from hub_core.data.sets import plan_batches


@dataclass
class Share:
    train: list[Path]  # this rank's training shards
    val: list[Path]  # held-out shards every rank reads whole ([]: --val, or no validation)
    common: int | None = None  # batches an epoch on every rank, once ``count`` knows


def plan(data, *, rank: int, world: int, val_given: bool, val_split: float) -> Share | None:
    """This rank's shards, or None when every rank reads all the data."""
    if world < 2 or os.environ.get("PLUGHUB_SHARD_SPLIT", "1") == "0" or not shards.is_shards(data):
        return None
    files = shards.shard_files(data)
    held = 0 if val_given or val_split <= 0 else max(1, round(val_split * len(files)))
    if len(files) - held < world:
        if rank == 0:
            notice(f"{len(files)} shard(s) for {world} ranks{f' ({held} held out)' if held else ''}: every rank reads "
                   f"every shard (a rank's own share needs at least one training shard a rank)")
        return None
    training = files[:len(files) - held]
    return Share(training[rank::world], files[len(files) - held:])


def count(share: Share, n: int, batch_size: int, seed: int) -> int:
    """The batches an epoch every rank takes: the fewest of any rank (gathered)."""
    import torch.distributed as dist

    mine = len(plan_batches(n, batch_size, shuffle=True, seed=seed, epoch=0))
    counts = [None] * dist.get_world_size()
    dist.all_gather_object(counts, mine)
    share.common = min(counts)
    if share.common == 0:
        raise DataError(f"a rank's shards hold no batch (batches a rank: {counts})", file=share.train[0])
    return share.common


def batches(share: Share | None, n: int, batch_size: int, *, seed: int, epoch: int, lengths, rank: int, world: int):
    """One epoch's batches of this rank: its share's own plan, or its slice of the global plan."""
    if share is None:
        return plan_batches(n, batch_size, shuffle=True, seed=seed, epoch=epoch, lengths=lengths, rank=rank,
                            world=world)
    return plan_batches(n, batch_size, shuffle=True, seed=seed, epoch=epoch, lengths=lengths)[:share.common]


def agree(share: Share, model) -> None:
    """Every rank fitted the same label map and preprocessor from its shards, or all stop."""
    import torch.distributed as dist

    from hub_core.data.arraycache import preprocessor_digest

    state = model.task.state() if model.task is not None else None
    mine = (json.dumps(state, sort_keys=True, default=str), preprocessor_digest(model.preprocessor),
            [str(f) for f in share.train])
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    for rank, (other, digest, files) in enumerate(every):
        if (other, digest) != every[0][:2]:
            what = "label map" if other != every[0][0] else "preprocessor (a tokenizer fitted on its texts)"
            raise DataError(f"rank {rank}'s shards ({', '.join(Path(f).name for f in files[:3])}) fit another {what} "
                            f"than rank 0's: every rank's share must hold every label (mix them across the shards), "
                            f"or set PLUGHUB_SHARD_SPLIT=0 to have every rank read every shard")
