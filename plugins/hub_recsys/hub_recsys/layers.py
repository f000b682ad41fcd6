"""Building blocks shared by the recommender backbones: ID embeddings, MLPs, side features."""
from __future__ import annotations

import torch
from torch import nn

INIT_STD = 0.1


def id_embedding(rows: int, dim: int) -> nn.Embedding:
    """Embeddings whose row 0 (the out-of-vocabulary bucket) stays zero and untrained."""
    table = nn.Embedding(max(rows, 1), dim, padding_idx=0)
    nn.init.normal_(table.weight, std=INIT_STD if dim > 1 else 0.0)  # biases start at zero
    with torch.no_grad():
        table.weight[0].zero_()
    return table


def mlp(sizes: list[int], dropout: float = 0.0, last_activation: bool = True) -> nn.Sequential:
    layers = []
    for position, (width_in, width_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(width_in, width_out))
        if last_activation or position < len(sizes) - 2:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class SideFeatures(nn.Module):
    """One vector per side-feature field, looked up by user or item code.

    The feature tables (from the preprocessor, aligned with the codes) are buffers, so
    they are saved in model.safetensors and the ONNX graph takes only the codes.
    Categorical fields: the mean embedding of the cell's values; numeric fields: the
    standardised value times a learnt vector (as in FM).
    """

    def __init__(self, fields: list[dict], rows: int, dim: int):
        super().__init__()
        self.fields = fields
        categorical = [f for f in fields if f["kind"] == "categorical"]
        numeric = [f for f in fields if f["kind"] == "numeric"]
        self.embeddings = nn.ModuleList(id_embedding(f["size"], dim) for f in categorical)
        for position, spec in enumerate(categorical):
            self.register_buffer(f"codes_{position}", torch.zeros(rows, spec["width"], dtype=torch.long))
        self.register_buffer("numeric", torch.zeros(rows, len(numeric)))
        self.numeric_vectors = nn.Parameter(torch.randn(len(numeric), dim) * INIT_STD)
        self.count = len(fields)

    def load_tables(self, features) -> None:
        """Copy a ``hub_recsys.features.SideFeatures`` (numpy) into the buffers."""
        categorical = [f["name"] for f in self.fields if f["kind"] == "categorical"]
        for position, name in enumerate(categorical):
            getattr(self, f"codes_{position}").copy_(torch.from_numpy(features.categorical[name]))
        if features.numeric is not None:
            self.numeric.copy_(torch.from_numpy(features.numeric))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """(B,) codes -> (B, fields, dim)."""
        vectors = []
        for position, table in enumerate(self.embeddings):
            values = getattr(self, f"codes_{position}")[codes]  # (B, width)
            present = (values > 0).unsqueeze(-1).to(table.weight.dtype)
            vectors.append((table(values) * present).sum(1) / present.sum(1).clamp(min=1.0))
        stacked = [torch.stack(vectors, 1)] if vectors else []
        if self.numeric.shape[1]:
            stacked.append(self.numeric[codes].unsqueeze(-1) * self.numeric_vectors)
        if not stacked:
            return codes.new_zeros((codes.shape[0], 0, self.numeric_vectors.shape[1]), dtype=torch.float32)
        return torch.cat(stacked, 1)
