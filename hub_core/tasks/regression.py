"""Regression of one number: MSE on standardised targets; MAE, RMSE and R²."""
from __future__ import annotations

import math

import numpy as np

from hub_core.api import Example, Task, labels_of


FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model computes, and its graph answers, in float32


def to_number(raw) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"regression target {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"regression target {raw!r} is not finite")
    if abs(value) > FLOAT32_MAX / 1e3:  # room for the spread a model's outputs take around it
        raise ValueError(f"regression target {raw!r} is beyond the range a float32 model can answer "
                         f"(|value| <= {FLOAT32_MAX / 1e3:.1e}); rescale the column")
    return value


class RegressionTask(Task):
    name = "regression"
    #: ``prediction`` in the targets' units; ``standardized`` what the head learns (the loss reads it)
    output_names = ("prediction", "standardized")
    monitor = "rmse"

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.mean, self.std = float(mean), float(std)

    def fit(self, examples: list[Example]) -> None:
        values = np.array([to_number(label) for label in labels_of(examples) if label is not None])
        if values.size == 0:
            raise ValueError("regression: the training data has no targets")
        # Train on standardised targets so one learning rate suits any scale.
        self.mean, self.std = float(values.mean()), float(values.std() or 1.0)

    @property
    def num_outputs(self) -> int:
        return 1

    def encode(self, label, arrays) -> np.ndarray:
        return np.asarray([(to_number(label) - self.mean) / self.std], dtype=np.float32)

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        return F.mse_loss(outputs["standardized"], batch.targets)

    def outputs(self, head_output) -> dict:
        return {"prediction": head_output * self.std + self.mean, "standardized": head_output}

    def metrics(self) -> list:
        from hub_core.api import Gathered

        return [Gathered("standardized", self.scores, {"mae": False, "rmse": False, "r2": True})]

    def scores(self, batches) -> dict:
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        predicted = np.concatenate([b[0] for b in batches])[:, 0] * self.std + self.mean
        targets = np.concatenate([b[1] for b in batches])[:, 0] * self.std + self.mean
        return {
            "mae": float(mean_absolute_error(targets, predicted)),
            "rmse": float(math.sqrt(mean_squared_error(targets, predicted))),
            "r2": float(r2_score(targets, predicted)) if len(targets) > 1 else 0.0,
        }

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        return [{"value": float(row[0] * self.std + self.mean)} for row in np.asarray(outputs["standardized"])]

    def state(self) -> dict:
        return {"options": self.options, "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict) -> "RegressionTask":
        return cls(mean=state["mean"], std=state["std"], **state.get("options", {}))
