"""Rating prediction: MSE on standardised ratings; MAE and RMSE on the rating scale.

Predictions are clipped to the range of the training ratings. Targets carry two flags
(user known, item known) so the metrics can say how many rows had unknown IDs.
"""
from __future__ import annotations

import math

import numpy as np

from hub_core.api import Task, to_number

from hub_recsys.batches import known_flags, labels_of, unknown_note

IMPLICIT = ("no rating: the data has no rating column (implicit feedback); "
            "a rating model needs ratings, or use --task retrieval or --task ctr")


def to_rating(raw) -> float:
    if isinstance(raw, bool):  # the reader's label for an observed interaction without a rating
        raise ValueError(IMPLICIT)
    return to_number(raw)


class RatingTask(Task):
    name = "recsys/rating"
    output_names = ("score", "rating")
    monitor = "rmse"

    def __init__(self, mean: float = 0.0, std: float = 1.0, low: float | None = None, high: float | None = None,
                 **options):
        super().__init__(**options)
        self.mean, self.std, self.low, self.high = float(mean), float(std), low, high

    def fit(self, examples) -> None:
        if getattr(examples, "implicit", False):
            raise ValueError(IMPLICIT)
        values = labels_of(examples, to_rating)
        if values.std() == 0:
            raise ValueError(f"every training rating is {values[0]:g}: nothing to learn; for implicit feedback "
                             "use --task retrieval or --task ctr")
        self.mean, self.std = float(values.mean()), float(values.std())
        self.low, self.high = float(values.min()), float(values.max())

    @property
    def num_outputs(self) -> int:
        return 1

    def encode(self, label, arrays) -> np.ndarray:
        return np.asarray([(to_rating(label) - self.mean) / self.std, *known_flags(arrays)], dtype=np.float32)

    def prepare(self, batch, *, train: bool, generator=None):
        batch.inputs.pop("negatives", None)  # ratings are explicit: no sampled negatives
        return batch

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        return F.mse_loss(outputs["score"][:, 0], batch.targets[:, 0])

    def _ratings(self, standardised):
        ratings = standardised * self.std + self.mean
        return ratings.clip(self.low, self.high) if self.low is not None else ratings

    def outputs(self, head_output) -> dict:
        return {"score": head_output, "rating": self._ratings(head_output)}

    def metrics(self) -> list:
        from hub_core.api import Gathered

        return [Gathered("score", self.scores, {"mae": False, "rmse": False})]

    def scores(self, batches) -> dict:
        from sklearn.metrics import mean_absolute_error, mean_squared_error

        outputs = np.concatenate([b[0] for b in batches])[:, 0]
        targets = np.concatenate([b[1] for b in batches])
        predicted, true = self._ratings(outputs), targets[:, 0] * self.std + self.mean
        return {"mae": float(mean_absolute_error(true, predicted)),
                "rmse": float(math.sqrt(mean_squared_error(true, predicted))),
                "unknown_users": int((targets[:, 1] == 0).sum()), "unknown_items": int((targets[:, 2] == 0).sum())}

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        arrays = batch.inputs
        ratings = self._ratings(np.asarray(outputs["score"], dtype=np.float64)[:, 0])
        return [{"rating": round(float(r), 4), **unknown_note(arrays, row)} for row, r in enumerate(ratings)]

    def state(self) -> dict:
        return {"options": self.options, "mean": self.mean, "std": self.std, "low": self.low, "high": self.high}

    @classmethod
    def from_state(cls, state: dict) -> "RatingTask":
        return cls(mean=state["mean"], std=state["std"], low=state["low"], high=state["high"],
                   **state.get("options", {}))
