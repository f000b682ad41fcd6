"""The ``cosine`` head: logits are the cosine similarity between the pooled features and
one learned prototype per output, times a learned temperature. Less sensitive to feature
scale than a linear layer; a common choice for few-shot and imbalanced classes."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from hub_core.api import Head


class CosineHead(Head):
    consumes = "pooled"

    def __init__(self, in_features: int, num_outputs: int, scale: float = 10.0, learn_scale: bool = True, **options):
        super().__init__(in_features, num_outputs)
        self.prototypes = nn.Parameter(torch.empty(num_outputs, in_features))
        nn.init.normal_(self.prototypes, std=1.0 / math.sqrt(in_features))
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)), requires_grad=learn_scale)

    def forward(self, features: dict):
        cosine = F.normalize(features["pooled"], dim=-1) @ F.normalize(self.prototypes, dim=-1).T
        return cosine * self.log_scale.exp()
