"""The ``tabular/mlp`` backbone: an embedding per categorical column, concatenated with
the standardised numbers, then a residual MLP. Its input width depends on the columns,
so it is sized by ``fit_to(preprocessor)`` after the preprocessor has seen the data, and
``hub_config()`` records the sizes so a saved model rebuilds without the data."""
from __future__ import annotations

import torch
from torch import nn

from hub_core.api import Backbone, HubError, locate


def embedding_dim(cardinality: int, cap: int) -> int:
    """fast.ai's rule of thumb: 1.6 * n^0.56, capped."""
    return max(1, min(cap, round(1.6 * cardinality ** 0.56)))


class Block(nn.Module):
    def __init__(self, width_in: int, width_out: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(width_in, width_out)
        self.norm = nn.LayerNorm(width_out)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)
        self.residual = width_in == width_out

    def forward(self, x):
        out = self.drop(self.act(self.norm(self.fc(x))))
        return x + out if self.residual else out


class TabularMLP(Backbone):
    lora_targets = ("fc",)

    def __init__(self, hidden=(64, 64), dropout=0.1, max_embedding_dim=16, numeric=None, cardinalities=None):
        super().__init__()
        if not hidden:
            raise HubError("tabular/mlp: config 'hidden' needs at least one layer width")
        self.hidden, self.dropout, self.max_embedding_dim = [int(h) for h in hidden], float(dropout), int(max_embedding_dim)
        self.feature_dim = self.hidden[-1]
        self.numeric, self.cardinalities = None, None
        if numeric is not None and cardinalities is not None:
            self._build(int(numeric), [int(c) for c in cardinalities])

    def _build(self, numeric: int, cardinalities: list[int]) -> None:
        self.numeric, self.cardinalities = numeric, cardinalities
        self.embeddings = nn.ModuleList(nn.Embedding(c, embedding_dim(c, self.max_embedding_dim)) for c in cardinalities)
        width = numeric + sum(e.embedding_dim for e in self.embeddings)
        if width == 0:
            raise HubError("tabular/mlp: the data has no input columns")
        widths = [width] + self.hidden
        self.layers = nn.ModuleList(Block(a, b, self.dropout) for a, b in zip(widths, widths[1:]))

    def fit_to(self, preprocessor) -> None:
        """Size the input layer and the embeddings on the fitted preprocessor's columns."""
        sizes = (len(preprocessor.config["numeric"]), preprocessor.cardinalities)
        if (self.numeric, self.cardinalities) != sizes:
            self._build(*sizes)

    def forward(self, numeric, categorical):
        if self.numeric is None:
            raise HubError("tabular/mlp was not sized: call fit_to(preprocessor) first")
        parts = [numeric] + [embed(categorical[:, i]) for i, embed in enumerate(self.embeddings)]
        h = torch.cat(parts, dim=-1)
        for layer in self.layers:
            h = layer(h)
        return {"pooled": h}

    def hub_config(self) -> dict:
        return {"hidden": self.hidden, "dropout": self.dropout, "max_embedding_dim": self.max_embedding_dim,
                "numeric": self.numeric, "cardinalities": self.cardinalities}

    def blocks(self) -> list:
        return list(self.layers) if self.numeric is not None else []


def build(config: dict, weights: str | None) -> TabularMLP:
    known = {"hidden", "dropout", "max_embedding_dim", "numeric", "cardinalities"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise HubError(f"tabular/mlp: unknown config key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    model = TabularMLP(**config)
    if weights:
        if model.numeric is None:
            raise HubError("tabular/mlp: weights need a config with 'numeric' and 'cardinalities' (the sizes they were trained with)")
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(locate(weights))))
    return model
