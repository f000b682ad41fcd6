"""The core's heads: a linear or MLP head on pooled features, a linear head per token."""
from __future__ import annotations

from torch import nn

from hub_core.api import Head


class LinearHead(Head):
    consumes = "pooled"

    def __init__(self, in_features: int, num_outputs: int, dropout: float = 0.0):
        super().__init__(in_features, num_outputs)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_outputs)

    def forward(self, features: dict):
        return self.proj(self.dropout(features["pooled"]))


class MLPHead(Head):
    consumes = "pooled"

    def __init__(self, in_features: int, num_outputs: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__(in_features, num_outputs)
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, num_outputs)
        )

    def forward(self, features: dict):
        return self.net(features["pooled"])


class TokenLinearHead(Head):
    consumes = "sequence"

    def __init__(self, in_features: int, num_outputs: int, dropout: float = 0.0):
        super().__init__(in_features, num_outputs)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(in_features, num_outputs)

    def forward(self, features: dict):
        return self.proj(self.dropout(features["sequence"]))
