"""Backbone and Head: the torch contracts (see ``hub_core.model.contracts`` for the data flow).

Importing this module imports torch. Example, ReadOptions, Preprocessor and Task are
re-exported here so that plugin code can take every contract from one place.
"""
from __future__ import annotations

from torch import nn

from hub_core.common.errors import UsageError
from hub_core.model.contracts import Example, Preprocessor, ReadOptions, Task

__all__ = ["Backbone", "Example", "Head", "Preprocessor", "ReadOptions", "Task"]


class Backbone(nn.Module):
    """Inputs -> features. Subclasses set ``feature_dim`` and implement ``forward``.

    ``forward(**inputs)`` returns a dict of named features: ``"pooled"`` (B, D),
    ``"sequence"`` (B, T, D) plus ``"mask"`` (B, T, bool) when sequences are padded, or any
    other kind a head consumes (a pyramid of spatial maps (B, C, H, W) under names such as
    ``"pyramid"``); the BackboneSpec's ``features`` lists the kinds it yields.

    A composite backbone (``hub_fusion``) overrides the training hooks below to treat each of
    its parts like a whole backbone; a plain one keeps the defaults.
    """

    feature_dim: int = 0
    #: module-name suffixes that LoRA adapts (e.g. ("query", "value")); () = no LoRA
    lora_targets: tuple[str, ...] = ()
    #: where the factory found weights the config asked for (a cache file, a repository), for
    #: hub.json's ``source.weights``; set by factories whose config alone can name weights
    weights_from: str | None = None

    def hub_config(self) -> dict:
        """The JSON config that rebuilds this architecture (without weights)."""
        raise NotImplementedError

    def preprocessor_config(self) -> dict:
        """What this backbone's Preprocessor needs (input size, mean/std, tokenizer...)."""
        return {}

    def blocks(self) -> list:
        """The backbone's blocks in order, for ``--freeze last-N``; [] if not supported."""
        return []

    def layer_depths(self) -> tuple[dict[int, int], int]:
        """({id(parameter): depth}, the top depth) for ``--layer-decay``: a parameter of
        ``blocks()[k]`` is at depth k + 1; one outside the blocks takes the depth of the block
        registered before it (embeddings and stems before the first block: 0; a pooler or final
        norm after the last: the last's). Override where registration order misleads."""
        owner = {id(p): k + 1 for k, block in enumerate(self.blocks()) for p in block.parameters()}
        depths, current = {}, 0
        for parameter in self.parameters():
            current = owner.get(id(parameter), current)
            depths[id(parameter)] = current
        return depths, len(self.blocks())

    def frozen_by_default(self) -> list:
        """Sub-modules frozen unless the user asks otherwise (wav2vec2's feature encoder)."""
        return []

    def fit_to(self, preprocessor) -> None:
        """Adapt to the fitted preprocessor (resize embeddings to its vocabulary); default: nothing."""

    def input_specs(self, modality) -> tuple:
        """The graph inputs, stored as hub.json "inputs": the modality's own by default (a
        fusion model: its parts', prefixed)."""
        return tuple(modality.inputs)

    def prepare_training(self, freeze: str, lora: int, lora_alpha: float | None, name: str = "backbone") -> list[str]:
        """Freeze or adapt for ``--freeze`` and ``--lora``; returns what was frozen, for the log."""
        from hub_core.model import adapt

        if lora and freeze != "auto":
            raise UsageError(f"--lora and --freeze {freeze} contradict each other: with LoRA only the "
                             "adapters and the head train")
        frozen = adapt.apply_freeze(self, freeze, name)
        if lora:
            adapt.apply_lora(self, lora, lora_alpha, name)
        return frozen

    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer groups ``{"params", "lr"}``: one at ``--lr`` by default."""
        return [{"params": list(self.parameters()), "lr": lr}]

    def onnx_fusion(self) -> dict | None:
        """The transformer family onnxruntime's optimizer fuses at export, as its
        ``optimize_model`` arguments ({"model_type": "bert", "num_heads": 12, "hidden_size":
        768}), plus optionally the ``"exporter"`` ("dynamo" or "torchscript") whose graph it
        fuses best, tried first; None (the default): none."""
        return None

    def exporting(self):
        """A context in which the backbone is in its export form (a transformers model switched
        to the attention implementation whose graph fuses); the default changes nothing."""
        import contextlib

        return contextlib.nullcontext()

    def registered_parts(self) -> list[tuple[str, str]]:
        """Other registered things this backbone is built from, as (kind, name) pairs (a
        fusion model: its parts' backbones and modalities), so hub.json records the
        versions of the plugins that provide them."""
        return []


class Head(nn.Module):
    """Features -> task outputs: a tensor (named by the task's first output) or a dict of
    named tensors (boxes and scores, start and end logits). ``consumes`` is the feature kind
    it reads."""

    consumes: str = "pooled"

    def __init__(self, in_features: int, num_outputs: int, **options):
        super().__init__()
        self.in_features = in_features
        self.num_outputs = num_outputs

    def init_from(self, backbone) -> None:
        """Start from the backbone's weights where the head mirrors them (an MLM decoder from
        the input embeddings); called on a new head only. Default: nothing."""


