"""The CTC head: a linear layer from each frame's features to log-probabilities over the
vocabulary (blank first), and each clip's count of real frames (from the backbone's mask),
which the loss and the decoder read; both are outputs of the exported graph."""
from __future__ import annotations

import torch
from torch import nn

from hub_core.api import Head


class CTCHead(Head):
    consumes = "sequence"

    def __init__(self, in_features: int, num_outputs: int, dropout: float = 0.1):
        super().__init__(in_features, num_outputs)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_outputs)

    def forward(self, features: dict) -> dict:
        sequence = features["sequence"]
        mask = features.get("mask")
        if mask is None:
            frames = torch.full(sequence.shape[:1], sequence.shape[1], dtype=torch.long, device=sequence.device)
        else:
            frames = mask.long().sum(1)
        log_probs = torch.log_softmax(self.proj(self.dropout(sequence)).float(), dim=-1)
        return {"log_probs": log_probs, "frames": frames}
