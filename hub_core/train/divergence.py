"""A run whose weights have become NaN or infinite stops, and saves nothing of them.

``--lr 1e30`` (or a bad batch) makes the loss NaN; every step after trains on NaN and the run
would end "successfully" with a model that answers nonsense. Checking the loss every step
would wait for the device every step; instead the trainable weights are checked (one
reduction, one device sync) before each checkpoint, which is where a bad state would be
kept. The checkpoint already on disk is the last good one, and stays.
"""
from __future__ import annotations

import torch

from hub_core.common.errors import HubError


class Diverged(HubError):
    """Training produced NaN or infinite weights; the last good checkpoint is kept."""


def check(parameters: list[torch.Tensor], step: int, out, lr: float) -> None:
    """Diverged when any of ``parameters`` holds a NaN or an infinity."""
    if not parameters:
        return
    finite = torch.stack([torch.isfinite(p.detach()).all() for p in parameters]).all()
    if not bool(finite):
        raise Diverged(f"training diverged: the weights hold NaN or infinite values after optimizer step {step} "
                       f"(the loss became NaN or infinite); they are not saved. The last good checkpoint, if any, is "
                       f"kept in {out}/checkpoints; start again with a lower --lr (it was {lr:g}) or with --clip")
