"""The masked-LM head: BERT's transform (dense, GELU, LayerNorm) and a decoder to the vocabulary."""
from __future__ import annotations

from torch import nn

from hub_core.api import Head


class MaskedLMHead(Head):
    consumes = "sequence"

    def __init__(self, in_features: int, num_outputs: int, **options):
        super().__init__(in_features, num_outputs)
        self.transform = nn.Sequential(nn.Linear(in_features, in_features), nn.GELU(), nn.LayerNorm(in_features, eps=1e-12))
        self.decoder = nn.Linear(in_features, num_outputs)

    def forward(self, features: dict):
        return self.decoder(self.transform(features["sequence"]))
