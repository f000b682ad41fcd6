"""Scoring every item for a batch of users with a trained model (torch).

Factorised backbones (MF, two-tower) under a ScoreHead fold into two towers whose dot
product is exactly the model's score:

    user tower: [w * u, b_u + b, 1]        item tower: [v, 1, b_i]
    <user, item> = w·(u*v) + b_u + b_i + b = head(backbone(user, item))

so all items are scored by one matrix product, and the towers export to ONNX with the item
matrix as a .npy for an ANN index. Other backbones (NeuMF, DeepFM) score every
(user, item) pair through the model, in chunks.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hub_recsys.heads import ScoreHead

PAIRS_PER_CHUNK = 1 << 16


class UserTower(nn.Module):
    def __init__(self, backbone, head: ScoreHead):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, user):
        vectors, bias = self.backbone.user_vectors(user)
        ones = torch.ones_like(bias).unsqueeze(-1)
        return torch.cat([vectors * self.head.proj.weight[0], (bias + self.head.proj.bias[0]).unsqueeze(-1), ones], -1)


class ItemTower(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, item):
        vectors, bias = self.backbone.item_vectors(item)
        return torch.cat([vectors, torch.ones_like(bias).unsqueeze(-1), bias.unsqueeze(-1)], -1)


def towers(model) -> tuple[UserTower, ItemTower] | None:
    """The model as two towers, or None when it does not factorise."""
    if getattr(model.backbone, "factorised", False) and isinstance(model.head, ScoreHead) \
            and model.head.num_outputs == 1:
        return UserTower(model.backbone, model.head), ItemTower(model.backbone)
    return None


class Scorer:
    """``scorer(user_codes) -> (B, num_items)`` float64 scores of every item code."""

    def __init__(self, model, num_items: int, device=None):
        self.model, self.num_items = model, num_items
        self.device = device or next(model.parameters()).device
        self.towers = towers(model)
        self.item_matrix = None  # computed once, in eval mode, on first use

    @torch.no_grad()
    def __call__(self, users: np.ndarray) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            codes = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device)
            if self.towers is not None:
                if self.item_matrix is None:
                    self.item_matrix = self.towers[1](torch.arange(self.num_items, device=self.device))
                return (self.towers[0](codes) @ self.item_matrix.T).double().cpu().numpy()
            return self._pairwise(codes)
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def _pairwise(self, codes: torch.Tensor) -> np.ndarray:
        items = torch.arange(self.num_items, device=self.device)
        per_chunk = max(1, PAIRS_PER_CHUNK // self.num_items)
        rows = []
        for start in range(0, len(codes), per_chunk):
            chunk = codes[start:start + per_chunk]
            user = chunk.repeat_interleave(self.num_items)
            item = items.repeat(len(chunk))
            rows.append(self.model(user=user, item=item)["score"][:, 0].view(len(chunk), self.num_items))
        return torch.cat(rows).double().cpu().numpy()
