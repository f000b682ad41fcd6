"""The fusion backbone: named sub-backbones from any plugins, one per part of a multimodal
row, whose pooled features are fused into one vector that any core head can read.

    hub finetune fusion --model text=nlp/bert-tiny --model image=vision/resnet18 \\
        --backbone-option fusion=attention --task classification --data rows.csv --out runs/fused

Config (a preset's ``config``, ``--backbone-option KEY=VALUE``, ``--model PART=MODEL``):

  parts      {PART: MODEL} or {PART: {model = MODEL, config = {...}, weights = ..., freeze = ...,
             lora = R, lr = X}}; MODEL is a preset or BACKBONE[:VARIANT], as on the command line
  PART.KEY   one part's setting: freeze (none | backbone | last-N | auto), lora (a rank),
             lora_alpha, lr (its learning rate), weights, model; any other KEY is a config key of
             the part's backbone (``image.image_size=64``)
  fusion     concat (default): the parts' features side by side, then a GELU layer
             gated: a gated sum (softmax gates from every part weigh each part's features)
             attention: one transformer layer in which each part attends to the others
  width      each part's pooled features are projected to this width [128]
  dropout    [0.1]; heads: attention heads [4]
  missing    absent (default) | error: what a missing value means (see hub_fusion.modality)

Missing parts: ``present.PART`` (bool, per row) swaps the part's projected features for its
learned "absent" embedding. Training: ``--freeze``/``--lora`` apply to every part without its
own setting; the fusion layers always train; each part may have its own learning rate.
Parts' inputs are the graph inputs, prefixed: ``text.input_ids``, ``image.pixel_values``.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from hub_core.api import Backbone, FREEZE_HELP, InputSpec, UsageError, did_you_mean
from hub_fusion.modality import MISSING_POLICIES, PRESENT, check_part_name

OPTIONS = {"fusion": "concat", "width": 128, "dropout": 0.1, "heads": 4, "missing": "absent"}
PART_SETTINGS = ("model", "backbone", "config", "weights", "freeze", "lora", "lora_alpha", "lr")
TRAINING_SETTINGS = ("freeze", "lora", "lora_alpha", "lr")


# ----------------------------------------------------------------------------- fusion layers
class ConcatFusion(nn.Module):
    """The parts side by side, then a GELU layer, so that the head sees their interactions."""

    def __init__(self, parts: int, width: int, dropout: float, heads: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(parts * width, width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, parts):  # (B, parts, width)
        return self.net(parts.flatten(1))


class GatedFusion(nn.Module):
    """A gated sum: per-feature gates computed from every part weigh each part's tanh
    features (the gated multimodal unit of Arevalo et al., 2017, for any number of parts)."""

    def __init__(self, parts: int, width: int, dropout: float, heads: int):
        super().__init__()
        self.gate = nn.Linear(parts * width, parts * width)
        self.drop = nn.Dropout(dropout)

    def forward(self, parts):
        gates = torch.softmax(self.gate(parts.flatten(1)).view(parts.shape), dim=1)  # over the parts
        return self.drop((gates * torch.tanh(parts)).sum(1))


class AttentionFusion(nn.Module):
    """One pre-norm transformer layer over the parts (a token each, with a learned part
    embedding): every part attends to the others; the mean of the results."""

    def __init__(self, parts: int, width: int, dropout: float, heads: int):
        super().__init__()
        if width % heads:
            raise UsageError(f"fusion: width {width} is not divisible by heads {heads}")
        self.kind = nn.Parameter(torch.randn(parts, width) * 0.02)
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.feed = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * width, width))

    def forward(self, parts):
        x = parts + self.kind
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        return (x + self.feed(self.norm2(x))).mean(1)


FUSIONS = {"concat": ConcatFusion, "gated": GatedFusion, "attention": AttentionFusion}


# ----------------------------------------------------------------------------- the backbone
class FusionBackbone(Backbone):
    def __init__(self, parts: dict[str, SimpleNamespace], options: dict):
        super().__init__()
        self.options = options
        self.info = {name: SimpleNamespace(spec=p.spec, modality=p.modality, settings=p.settings)
                     for name, p in parts.items()}
        width = options["width"]
        self.feature_dim = width
        self.parts = nn.ModuleDict({name: p.backbone for name, p in parts.items()})
        # LayerNorm puts every part on the same scale, which the absent embedding lives in
        self.project = nn.ModuleDict({name: nn.Sequential(nn.Linear(p.backbone.feature_dim, width), nn.LayerNorm(width))
                                      for name, p in parts.items()})
        self.absent = nn.ParameterDict({name: nn.Parameter(torch.randn(width) * 0.02) for name in parts})
        self.fuse = FUSIONS[options["fusion"]](len(parts), width, options["dropout"], options["heads"])
        self._frozen: set[str] = set()  # parts kept in eval mode (set by prepare_training)

    def forward(self, **inputs):
        features = []
        for name, part in self.parts.items():
            own = {key[len(name) + 1:]: value for key, value in inputs.items() if key.startswith(f"{name}.")}
            projected = self.project[name](part(**own)["pooled"])
            present = inputs[f"{PRESENT}.{name}"].reshape(-1, 1)
            features.append(torch.where(present, projected, self.absent[name].to(projected.dtype)))
        return {"pooled": self.fuse(torch.stack(features, dim=1))}

    # -- the contract ----------------------------------------------------------------------
    def hub_config(self) -> dict:
        """Each part as its backbone name and exact config (no weights: hub.json rebuilds it)."""
        parts = {}
        for name, part in self.parts.items():
            info = self.info[name]
            settings = {k: v for k, v in info.settings.items() if k in TRAINING_SETTINGS}
            parts[name] = {"backbone": info.spec.name, "config": part.hub_config(), **settings}
        return {**self.options, "parts": parts}

    def registered_parts(self) -> list[tuple[str, str]]:
        return [(kind, name) for info in self.info.values()
                for kind, name in (("backbone", info.spec.name), ("modality", info.modality.name))]

    def preprocessor_config(self) -> dict:
        return {"parts": {name: {"modality": self.info[name].modality.name, "config": part.preprocessor_config()}
                          for name, part in self.parts.items()}, "missing": self.options["missing"]}

    def input_specs(self, modality=None) -> tuple[InputSpec, ...]:
        """The parts' inputs, prefixed (axes too, but for the shared batch), and the presence flags."""
        specs = []
        for name, part in self.parts.items():
            own = part.input_specs(self.info[name].modality)
            for spec in own:
                axes = tuple(f"{name}.{a}" if isinstance(a, str) and a != "batch" else a for a in spec.axes)
                specs.append(InputSpec(f"{name}.{spec.name}", spec.dtype, axes, spec.optional))
            specs.append(InputSpec(f"{PRESENT}.{name}", "bool", ("batch",)))
        return tuple(specs)

    def fit_to(self, preprocessor) -> None:
        """Let each part fit itself to its own fitted preprocessor (vocabularies, column counts)."""
        for name, part in self.parts.items():
            part.fit_to(preprocessor.parts[name])

    # -- training hooks (Backbone's, overridden) ---------------------------------------------------
    def prepare_training(self, freeze: str, lora: int, lora_alpha: float | None, name: str = "fusion") -> list[str]:
        """Freeze or adapt each part by its own settings, else by the command's (a part may
        take LoRA while another is frozen); the fusion layers always train. Returns what was
        done, for the log."""
        from hub_core.api import apply_freeze, apply_lora

        done = []
        for part_name in list(self.parts):
            settings, part = self.info[part_name].settings, self.parts[part_name]
            rank = int(settings.get("lora", lora) or 0)
            label = f"{self.info[part_name].spec.name} (part {part_name!r})"
            if rank and (part.lora_targets or "lora" in settings):
                self.parts[part_name] = apply_lora(part, rank, settings.get("lora_alpha", lora_alpha), label)
                done.append(f"{part_name}: LoRA rank {rank}")
            else:
                done += [f"{part_name}: {what}" for what in apply_freeze(part, str(settings.get("freeze", freeze)), label)]
            if not any(p.requires_grad for p in self.parts[part_name].parameters()):
                self._frozen.add(part_name)
        return done

    def param_groups(self, lr: float) -> list[dict]:
        """The fusion layers at ``lr``; each part at its own ``lr`` setting, if any."""
        groups = [{"params": [p for n, p in self.named_parameters() if not n.startswith("parts.")], "lr": lr}]
        for name, part in self.parts.items():
            groups.append({"params": list(part.parameters()), "lr": float(self.info[name].settings.get("lr", lr))})
        return groups

    def train(self, mode: bool = True):
        """Frozen parts stay in eval mode: their batch-norm statistics and dropout do not move."""
        super().train(mode)
        for name in self._frozen:
            self.parts[name].eval()
        return self


# ----------------------------------------------------------------------------- building
def parse_config(config: dict) -> tuple[dict, dict[str, dict]]:
    """(fusion options, {part: settings}) from a config with ``parts`` and ``PART.KEY`` keys."""
    options = dict(OPTIONS)
    raw_parts = config.get("parts") or {}
    if not isinstance(raw_parts, dict):
        raise UsageError(f"fusion: parts must be a table {{PART = MODEL}}, got {raw_parts!r}")
    parts = {}
    for name, part in raw_parts.items():
        check_part_name(name)
        if not isinstance(part, (str, dict)):
            raise UsageError(f"fusion: part {name!r} must be a model name or a table, got {part!r}")
        parts[name] = {**({"model": part} if isinstance(part, str) else part),
                       "config": dict(part.get("config") or {}) if isinstance(part, dict) else {}}
    for key, value in config.items():
        name, dot, setting = key.partition(".")
        if key == "parts":
            continue
        if key in OPTIONS:
            options[key] = value
        elif not dot:
            raise UsageError(f"fusion: unknown option {key!r}{did_you_mean(key, OPTIONS)} "
                             f"(options: {', '.join(OPTIONS)}, parts, PART.KEY)")
        elif name not in parts:
            raise UsageError(f"fusion: {key!r} names part {name!r}, but the parts are "
                             f"{', '.join(parts) or 'none'}{did_you_mean(name, parts)}")
        elif setting in PART_SETTINGS:
            parts[name][setting] = value
        else:
            parts[name]["config"][setting] = value
    if not parts:
        raise UsageError("fusion needs its parts: hub finetune fusion --model text=nlp/bert-tiny --model image=vision/resnet18")
    check_options(options)
    for name, part in parts.items():
        check_part(name, part)
    return options, parts


def check_options(options: dict) -> None:
    if options["fusion"] not in FUSIONS:
        raise UsageError(f"fusion = {options['fusion']!r} must be one of {', '.join(FUSIONS)}")
    if options["missing"] not in MISSING_POLICIES:
        raise UsageError(f"fusion: missing = {options['missing']!r} must be one of {', '.join(MISSING_POLICIES)}")
    for key, low in (("width", 1), ("heads", 1)):
        if isinstance(options[key], bool) or not isinstance(options[key], int) or options[key] < low:
            raise UsageError(f"fusion: {key} must be a whole number of at least {low}, got {options[key]!r}")
    if isinstance(options["dropout"], bool) or not isinstance(options["dropout"], (int, float)) \
            or not 0 <= options["dropout"] < 1:
        raise UsageError(f"fusion: dropout must be in [0, 1), got {options['dropout']!r}")


def check_part(name: str, part: dict) -> None:
    unknown = [key for key in part if key not in PART_SETTINGS]
    if unknown:
        raise UsageError(f"fusion: part {name!r} has no setting {unknown[0]!r}{did_you_mean(unknown[0], PART_SETTINGS)} "
                         f"(settings: {', '.join(PART_SETTINGS)})")
    if "model" not in part and "backbone" not in part:
        raise UsageError(f"fusion: part {name!r} names no model (--model {name}=MODEL)")
    freeze = str(part.get("freeze", "auto"))
    if freeze not in ("auto", "none", "backbone") and not (freeze.startswith("last-") and freeze[5:].isdigit()):
        raise UsageError(f"fusion: {name}.freeze = {freeze!r}: expected {FREEZE_HELP}, or auto")
    for key, kind in (("lora", int), ("lr", float), ("lora_alpha", float)):
        if key in part and (isinstance(part[key], bool) or not isinstance(part[key], (int, float))
                            or part[key] < 0 or (kind is int and part[key] != int(part[key]))):
            raise UsageError(f"fusion: {name}.{key} must be a {'whole ' if kind is int else ''}number, got {part[key]!r}")
    if part.get("lr") == 0:
        raise UsageError(f"fusion: {name}.lr must be positive (to keep a part fixed: {name}.freeze=backbone)")


def build_part(catalogue, name: str, part: dict) -> SimpleNamespace:
    """A part's backbone: by preset/backbone name like any model, or exactly as hub.json saved it."""
    if "backbone" in part:
        spec, config, weights = catalogue.get("backbone", part["backbone"]), dict(part["config"]), part.get("weights")
    else:
        spec, config, weights, _ = catalogue.resolve_model(str(part["model"]))
        config = {**config, **part["config"]}
        weights = part.get("weights", weights)
    if spec.modality == "multimodal":
        raise UsageError(f"fusion: part {name!r} is itself a fusion model; give its parts directly")
    if "pooled" not in spec.features:
        raise UsageError(f"fusion: part {name!r}: backbone {spec.name!r} yields no pooled features")
    backbone = spec.create(config, weights, catalogue)
    settings = {k: v for k, v in part.items() if k in TRAINING_SETTINGS}
    return SimpleNamespace(backbone=backbone, spec=spec, modality=catalogue.modality(spec.modality), settings=settings)


def build(config: dict, weights: str | None = None, *, catalogue=None) -> FusionBackbone:
    """The ``fusion`` backbone's factory; the catalogue builds the parts."""
    if catalogue is None:
        raise UsageError("the fusion backbone is built by hub: it needs the catalogue of registered backbones")
    if weights:
        raise UsageError("fusion: --weights does not apply to a fusion model; give each part's weights "
                         "with --backbone-option PART.weights=SOURCE")
    options, parts = parse_config(config)
    return FusionBackbone({name: build_part(catalogue, name, part) for name, part in parts.items()}, options)
