"""Every timm architecture as a hub backbone: built with ``num_classes=0``, used through
``forward_features`` + timm's own pooling (``forward_head(pre_logits=True)``).

Config keys (from a preset, or ``vision/timm:NAME``):
  model_name       any timm model, optionally with a pretrained tag ("vit_tiny_patch16_224.augreg_in21k")
  variant          the NAME of ``vision/timm:NAME``: a pretrained tag there ("resnet18.a1_in1k") asks
                   for those weights, as ``--weights timm`` does: read from the local cache, or
                   one line saying where it looked (never random init in silence)
  image_size       input side in pixels (or [h, w]); models with a fixed input size
                   (ViTs) are built for it; default: the architecture's pretrained_cfg
  drop_rate        dropout before the classifier (timm's --drop)
  drop_path_rate   stochastic depth (timm's --drop-path)

Preprocessing (size, mean/std, interpolation, crop ratio) comes from the architecture's
timm ``pretrained_cfg``, or from the weights' own config.json where they bring one, so
pretrained weights keep their normalisation.
"""
from __future__ import annotations

import difflib

import torch
from torch import nn

from hub_core.api import Backbone, HubError, UsageError
from hub_vision.checkpoint import fit_state_dict, read_weights

CONFIG_KEYS = ("model_name", "variant", "image_size", "drop_rate", "drop_path_rate")
PREPROCESS_KEYS = ("interpolation", "mean", "std", "crop_pct", "crop_mode")


class TimmBackbone(Backbone):
    def __init__(self, model: nn.Module, config: dict, data_config: dict):
        super().__init__()
        self.model = model
        self.config = config
        self.data_config = data_config
        self.feature_dim = int(getattr(model, "head_hidden_size", None) or model.num_features)
        self.lora_targets = _linear_suffixes(model)
        #: the checkpoint's ImageNet classifier (weight, bias), set aside when weights are loaded
        self.pretrained_classifier: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def forward(self, pixel_values: torch.Tensor) -> dict:
        features = self.model.forward_features(pixel_values)
        return {"pooled": self.model.forward_head(features, pre_logits=True)}

    def hub_config(self) -> dict:
        return dict(self.config)

    def preprocessor_config(self) -> dict:
        return dict(self.data_config)

    def blocks(self) -> list:
        """timm's own fine-grained parameter groups (stem, each block..., final norm), in
        order; each as a module holding those very parameters, for ``requires_grad_``."""
        from timm.models import group_parameters

        groups = group_parameters(self.model, self.model.group_matcher(coarse=False))
        parameters = dict(self.model.named_parameters())
        return [nn.ParameterList([parameters[name] for name in names]) for names in groups.values()]

    def fit_to(self, preprocessor) -> None:
        """Follow an image size chosen with ``-p image_size``: a model built for one input
        size (ViTs) is resized to it, position embeddings resampled, and hub.json records
        the size so the saved model rebuilds the same way."""
        size = preprocessor.config.get("image_size")
        if size is None or size == self.data_config.get("image_size"):
            return
        self.data_config["image_size"] = self.config["image_size"] = size
        if self.model.pretrained_cfg.get("fixed_input_size"):
            if not hasattr(self.model, "set_input_size"):
                raise UsageError(f"{self.config['model_name']} is built for one input size and timm cannot change "
                                 "it; set image_size in the model's preset config instead of -p image_size")
            self.model.set_input_size(img_size=tuple(size) if isinstance(size, list) else (size, size))

    def load_weights(self, source: str) -> None:
        weights = read_weights(source, dict(self.model.pretrained_cfg))
        classifier_name = self.model.pretrained_cfg.get("classifier")
        classifier_name = classifier_name if isinstance(classifier_name, str) else None
        state, classifier = fit_state_dict(self.model, weights.state, source, classifier_name)
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [key for key in missing if not key.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise HubError(f"weights {source!r}: {len(missing)} missing, {len(unexpected)} unexpected tensors "
                           f"(first: {(missing or unexpected)[0]!r})")
        if classifier is not None and classifier[0].shape[-1] == self.feature_dim:
            self.pretrained_classifier = classifier
        if weights.pretrained_cfg:
            self.data_config.update(_data_config(weights.pretrained_cfg, keys=PREPROCESS_KEYS))
        self.weights_from = weights.found_at


def build(config: dict, weights: str | None = None) -> TimmBackbone:
    """The ``vision/timm`` factory: ``config`` as in the module docstring."""
    import timm

    unknown = [key for key in config if key not in CONFIG_KEYS]
    if unknown:
        hint = difflib.get_close_matches(unknown[0], CONFIG_KEYS, n=1)
        raise UsageError(f"vision/timm: unknown config key {unknown[0]!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(CONFIG_KEYS)}"))
    name = config.get("variant") or config.get("model_name")
    if not name or not isinstance(name, str):
        raise UsageError("vision/timm needs a model name, e.g. vision/timm:resnet18")
    base = name.split(".")[0]
    if not timm.is_model(base):
        hints = difflib.get_close_matches(base, timm.list_models(), n=3, cutoff=0.6)
        raise UsageError(f"unknown timm model {name!r}"
                         + (f" (did you mean {', '.join(hints)}?)" if hints else "; see timm.list_models()"))
    kwargs = {key: float(config[key]) for key in ("drop_rate", "drop_path_rate") if key in config}
    size = _image_size(config.get("image_size"))
    if size is not None and _fixed_input_size(name):
        kwargs["img_size"] = tuple(size) if isinstance(size, list) else size
    try:
        model = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        raise UsageError(f"timm model {name!r} cannot be built with {config}: {err}") from None
    data_config = _data_config(model.pretrained_cfg)
    if size is not None:
        data_config["image_size"] = size
    hub_config = {"model_name": name, **{k: config[k] for k in CONFIG_KEYS[2:] if k in config}}
    backbone = TimmBackbone(model, hub_config, data_config)
    shapes_only = next(model.parameters()).is_meta  # the core sizing a model first: nothing to load into
    weights = weights or (None if shapes_only else asked_weights(config))
    if weights:
        backbone.load_weights(weights)
    return backbone


def asked_weights(config: dict) -> str | None:
    """"timm" when the command line named a pretrained tag (``vision/timm:resnet18.a1_in1k``):
    the user asked for those weights. hub.json stores ``model_name`` only, so a saved model
    is rebuilt from its own weights, never from the cache."""
    variant = config.get("variant")
    return "timm" if isinstance(variant, str) and "." in variant else None


def _image_size(value) -> int | list[int] | None:
    if value is None:
        return None
    sides = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(sides) not in (1, 2) or not all(isinstance(s, int) and not isinstance(s, bool) and 8 <= s <= 4096
                                           for s in sides):
        raise UsageError(f"vision/timm: image_size must be a whole number of pixels (8 to 4096) or "
                         f"[height, width], got {value!r}")
    return sides[0] if len(sides) == 1 or sides[0] == sides[1] else sides


def _fixed_input_size(name: str) -> bool:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return bool(cfg and getattr(cfg, "fixed_input_size", False))


def _data_config(cfg: dict, keys: tuple[str, ...] = ("image_size", *PREPROCESS_KEYS)) -> dict:
    """The preprocessor's options from a timm pretrained_cfg."""
    size = cfg.get("input_size")
    found = {
        "image_size": (list(size[1:]) if size[1] != size[2] else size[1]) if size else None,
        "interpolation": cfg.get("interpolation"),
        "mean": list(cfg["mean"]) if cfg.get("mean") else None,
        "std": list(cfg["std"]) if cfg.get("std") else None,
        "crop_pct": cfg.get("crop_pct"),
        "crop_mode": cfg.get("crop_mode") if cfg.get("crop_mode") in ("center", "squash") else None,
    }
    return {key: found[key] for key in keys if found[key] is not None}


def _linear_suffixes(model: nn.Module) -> tuple[str, ...]:
    """Where LoRA goes: the linear layers inside the blocks, by their last two name parts
    ("attn.qkv", "mlp.fc1"), specific enough not to catch a patch embedding."""
    names = {".".join(name.split(".")[-2:]) for name, module in model.named_modules()
             if isinstance(module, nn.Linear) and name.count(".") >= 2}
    return tuple(sorted(names))
