"""The recommender head: one score from a backbone's interaction features and bias terms."""
from __future__ import annotations

from torch import nn

from hub_core.api import Head


class ScoreHead(Head):
    """score = w · pooled + b (+ the backbone's ``bias``, when it has one).

    ``w`` starts at ones, so MF starts as the plain dot product <p_u, q_i> and a two-tower
    model as <u, v>; training may reweight the dimensions (as GMF/NeuMF do). Being linear,
    the head folds into factorised towers (see hub_recsys.scoring).
    """

    consumes = "pooled"

    def __init__(self, in_features: int, num_outputs: int = 1, **options):
        super().__init__(in_features, num_outputs)
        self.proj = nn.Linear(in_features, num_outputs)
        nn.init.ones_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, features: dict):
        score = self.proj(features["pooled"])
        if "bias" in features:
            score = score + features["bias"].unsqueeze(-1)
        return score
