"""Shared by the recommender tasks: label columns, flags for unknown IDs, sampled negatives."""
from __future__ import annotations

import numpy as np

from hub_recsys.data import InteractionLog
from hub_recsys.vocab import OOV


def labels_of(examples, convert) -> np.ndarray:
    """Every example's label through ``convert`` (raw -> float, ValueError if bad); an
    error names the line of the first bad label."""
    if isinstance(examples, InteractionLog) and examples.implicit:
        return np.ones(len(examples))
    if isinstance(examples, InteractionLog) and examples.labels is not None:
        distinct, inverse = np.unique(examples.labels, return_inverse=True)
        sources = lambda value: [examples[int(np.flatnonzero(examples.labels == value)[0])]]  # noqa: E731
        return _convert(distinct, sources, convert)[inverse]
    return _convert([e.label for e in examples], lambda value: [e for e in examples if e.label is value], convert)


def _convert(raws, examples_with, convert) -> np.ndarray:
    values = np.empty(len(raws))
    for position, raw in enumerate(raws):
        try:
            values[position] = convert(raw)
        except ValueError as err:
            source = examples_with(raw)[0].source
            raise ValueError(f"line {source.rpartition(':')[2]}: {err}" if source else str(err)) from None
    return values


def known_flags(arrays: dict) -> list[float]:
    """[user known, item known] as 1/0, carried in the targets so metrics can count unknown IDs."""
    return [float(int(arrays["user"]) != OOV), float(int(arrays["item"]) != OOV)]


def unknown_note(arrays: dict | None, row: int) -> dict:
    """``{"note": ...}`` for an answer about an unknown user or item, else {}."""
    if not arrays or "user" not in arrays:
        return {}
    unknown = [side for side in ("user", "item") if int(np.asarray(arrays[side])[row]) == OOV]
    if not unknown:
        return {}
    return {"note": f"unknown {' and '.join(unknown)}: not in the training data, scored from what the model "
                    "learnt for everyone (biases / popularity)"}


def with_negatives(inputs: dict):
    """Append the sampled negatives to the batch: (user, item) pairs become
    [B positives; B*R negatives, example by example]. Returns (inputs, B, R)."""
    import torch

    negatives = inputs.pop("negatives")
    batch, ratio = negatives.shape
    user = inputs["user"]
    inputs["user"] = torch.cat([user, user.repeat_interleave(ratio)])
    inputs["item"] = torch.cat([inputs["item"], negatives.reshape(-1)])
    return inputs, batch, ratio
