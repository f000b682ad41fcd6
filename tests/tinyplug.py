"""A tiny plugin for the engine's tests: numeric vectors from CSV, an MLP backbone.

Loaded as a plugin by the tests (the tiny_hub fixture, or tests/run_hub.py in a subprocess),
it exercises the core exactly as a modality plugin does, in milliseconds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hub_core import hookimpl
from hub_core.model.contracts import Example, Preprocessor
from hub_core.common.errors import DataError
from hub_core.plugin.specs import BackboneSpec, InputSpec, ModalitySpec
from hub_core.common.table import iter_rows


def read_vectors(path: Path, options) -> list[Example]:
    """CSV with feature columns x0..xN (or --input-column ...) and a label column."""
    examples = []
    for line, row in iter_rows(path, required=(options.label_column,) if options.labelled else ()):
        columns = options.input_columns or tuple(k for k in row if k.startswith("x"))
        try:
            vector = [float(row[c]) for c in columns]
        except (KeyError, ValueError):
            raise DataError("feature is not a number", file=path, line=line) from None
        examples.append(Example(np.asarray(vector, dtype=np.float32), row.get(options.label_column) if options.labelled else None, f"{path}:{line}"))
    return examples


class VectorPreprocessor(Preprocessor):
    """Standardises features with the training mean and std (fitted, saved in hub.json)."""

    augments = False

    def fit(self, examples):
        data = np.array([e.input for e in examples], dtype=np.float64)
        self.config.update(mean=data.mean(0).tolist(), std=(data.std(0) + 1e-6).tolist())

    def __call__(self, raw, *, train=False, rng=None):
        if isinstance(raw, str):
            raw = [float(v) for v in raw.split(",")]
        x = (np.asarray(raw, dtype=np.float64) - self.config["mean"]) / self.config["std"]
        return {"x": x.astype(np.float32)}

    def synthetic(self, batch_size, scale, rng):
        return {"x": rng.standard_normal((batch_size, len(self.config["mean"]))).astype(np.float32)}


def build_mlp(config: dict, weights):
    from torch import nn

    from hub_core.model.modules import Backbone

    class MLP(Backbone):
        lora_targets = ("fc",)

        def __init__(self, inputs: int, width: int, depth: int, dropout: float):
            super().__init__()
            self.feature_dim = width
            self.stem = nn.Linear(inputs, width)
            self.layers = nn.ModuleList(nn.Sequential() for _ in range(depth))
            for layer in self.layers:
                layer.add_module("fc", nn.Linear(width, width))
                layer.add_module("act", nn.GELU())
                layer.add_module("drop", nn.Dropout(dropout))
            self.cfg = dict(inputs=inputs, width=width, depth=depth, dropout=dropout)

        def forward(self, x):
            h = self.stem(x)
            for layer in self.layers:
                h = h + layer(h)
            return {"pooled": h}

        def hub_config(self):
            return dict(self.cfg)

        def blocks(self):
            return list(self.layers)

    model = MLP(config.get("inputs", 8), config.get("width", 32), config.get("depth", 2), config.get("dropout", 0.1))
    if weights:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(weights))
    return model


@hookimpl
def register_modalities(register):
    register(ModalitySpec("vectors", (InputSpec("x", "float32", ("batch", 8)),), reader=read_vectors,
                          preprocessor=VectorPreprocessor, file_types=(".csv",), description="numeric vectors (tests)"))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("tiny/mlp", "vectors", build_mlp, ("pooled",), "a residual MLP (tests)",
                          {"inputs": 8, "width": 32, "depth": 2}))


def make_blobs(path: Path, n: int = 300, seed: int = 0, classes: int = 3, dims: int = 8, kind: str = "classification"):
    """Well-separated Gaussian blobs; labels 'a', 'b', 'c' (or a number for regression)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, dims))
    labels = rng.integers(0, classes, n)
    points = centers[labels] + rng.normal(0, 1, (n, dims))
    header = ",".join(f"x{i}" for i in range(dims)) + ",label"
    rows = []
    for point, label in zip(points, labels):
        if kind == "regression":
            target = f"{point[:3].sum() * 2 + 10:.4f}"
        elif kind == "multilabel":
            target = "|".join(t for t, on in (("p", point[0] > 0), ("q", point[1] > 0), ("r", label == 0)) if on) or "p"
        else:
            target = "abc"[label]
        rows.append(",".join(f"{v:.5f}" for v in point) + f",{target}")
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def make_xor(path: Path, n: int, seed: int, missing_b: float = 0.0) -> Path:
    """JSONL rows {"a": [8 numbers], "b": [8 numbers], "label"}: "yes" when a[0] and b[0] have
    different signs. Rows without b (a share ``missing_b``) are labelled by a[0] alone."""
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        for _ in range(n):
            a, b = rng.normal(size=8).round(4), rng.normal(size=8).round(4)
            row = {"a": a.tolist(), "b": b.tolist(), "label": "yes" if (a[0] > 0) != (b[0] > 0) else "no"}
            if rng.random() < missing_b:
                row.update(b=None, label="yes" if a[0] > 0 else "no")
            handle.write(json.dumps(row) + "\n")
    return path
