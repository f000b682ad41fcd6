"""Backbone and Head: the torch contracts (see ``hub_core.model.contracts`` for the data flow).

Importing this module imports torch. Example, ReadOptions, Preprocessor and Task are
re-exported here so that plugin code can take every contract from one place.
"""
from __future__ import annotations

import torch
from torch import nn

from hub_core.model.contracts import Example, Preprocessor, ReadOptions, Task

__all__ = ["Backbone", "Example", "Head", "Preprocessor", "ReadOptions", "Task"]


class Backbone(nn.Module):
    """Inputs -> features. Subclasses set ``feature_dim`` and implement ``forward``.

    ``forward(**inputs)`` returns a dict with ``"pooled"`` (B, D) and/or ``"sequence"``
    (B, T, D) plus ``"mask"`` (B, T, bool) when sequences are padded.

    Optional methods, looked up with ``hasattr`` by the engine (a composite backbone such as
    ``hub_fusion.backbone`` uses them; its factory takes a ``catalogue`` keyword to build parts):

    - ``fit_to(preprocessor)``: adapt to the fitted preprocessor (resize embeddings).
    - ``input_specs() -> tuple[InputSpec, ...]``: the graph inputs when they are not the
      modality's own (a fusion model: its parts', prefixed); stored as hub.json "inputs".
    - ``prepare_training(freeze, lora, lora_alpha) -> list[str]``: freeze / adapt itself
      instead of the engine's ``--freeze`` and ``--lora``; returns what it did, for the log.
    - ``param_groups(lr) -> list[{"params": ..., "lr": ...}]``: optimizer groups with their
      own learning rates instead of one group at ``--lr``.
    """

    feature_dim: int = 0
    #: module-name suffixes that LoRA adapts (e.g. ("query", "value")); () = no LoRA
    lora_targets: tuple[str, ...] = ()

    def hub_config(self) -> dict:
        """The JSON config that rebuilds this architecture (without weights)."""
        raise NotImplementedError

    def preprocessor_config(self) -> dict:
        """What this backbone's Preprocessor needs (input size, mean/std, tokenizer...)."""
        return {}

    def blocks(self) -> list:
        """The backbone's blocks in order, for ``--freeze last-N``; [] if not supported."""
        return []

    def frozen_by_default(self) -> list:
        """Sub-modules frozen unless the user asks otherwise (wav2vec2's feature encoder)."""
        return []

    def registered_parts(self) -> list[tuple[str, str]]:
        """Other registered things this backbone is built from, as (kind, name) pairs (a
        fusion model: its parts' backbones and modalities), so hub.json records the
        versions of the plugins that provide them."""
        return []


class Head(nn.Module):
    """Features -> task outputs. ``consumes`` picks which feature kind it reads."""

    consumes: str = "pooled"

    def __init__(self, in_features: int, num_outputs: int, **options):
        super().__init__()
        self.in_features = in_features
        self.num_outputs = num_outputs


