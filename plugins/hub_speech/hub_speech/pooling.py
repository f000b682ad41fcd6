"""Frame masks and masked mean pooling, shared by the speech backbones."""
from __future__ import annotations

import torch


def frame_mask(frames: torch.Tensor, total: int) -> torch.Tensor:
    """(B,) valid frame counts -> (B, total) bool, True on real frames."""
    return torch.arange(total, device=frames.device)[None, :] < frames[:, None]


def masked_mean(sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames of (B, T, D) features: padding never leaks into it."""
    weights = mask.to(sequence.dtype).unsqueeze(-1)
    return (sequence * weights).sum(1) / weights.sum(1).clamp(min=1.0)
