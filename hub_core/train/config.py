"""The training configuration: defaults, the preset's recipe (hub_core.train.recipe), a TOML
file (``--config``), then flags on top.

Every key is checked: unknown keys get "did you mean", values must have the right type.
The resolved configuration is saved in hub.json so a run can be repeated.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from hub_core.common.errors import ConfigError
from hub_core.common.tomlfile import line_of, load_toml

FREEZE_HELP = "none | backbone | last-N (train the head and the backbone's last N blocks)"

# the loop seeds each batch's generator with (seed * 1_000_003 + epoch) * 1_000_003 + batch, which
# torch takes up to 2**64: a larger seed would fail mid-run, not here
MAX_SEED = 2**24 - 1


@dataclass
class TrainConfig:
    epochs: int = 3  # with target_steps: the most epochs
    target_steps: int = 0  # > 0: epochs from the data size, enough to reach this many optimizer steps
    min_epochs: int = 1  # with target_steps: the fewest epochs
    batch_size: int = 32
    lr: float = 5e-4
    head_lr: float | None = None  # default: the same as lr
    layer_decay: float = 1.0  # < 1: each backbone layer down trains at this factor of the one above
    weight_decay: float = 0.01
    warmup: float = 0.0  # fraction of all steps (< 1) or a number of steps (>= 1)
    schedule: str = "cosine"  # cosine | linear | constant
    grad_accum: int = 1
    clip: float | None = 1.0
    precision: str = "fp32"  # fp32 | bf16
    seed: int = 0
    freeze: str = "auto"  # auto (the backbone's own defaults) | none | backbone | last-N
    lora: int = 0  # LoRA rank; 0 = off
    lora_alpha: float | None = None
    patience: int | None = None  # stop after this many epochs without a gain; None: the recipe's, else auto
    # (hub_core.train.recipe.resolve_patience); 0 = off
    monitor: str | None = None  # default: the task's own (accuracy, rmse, ...)
    class_weight: str = "none"  # none | balanced: loss weights n / (k * count) per class (classification)
    label_smoothing: float = 0.0  # for tasks with a label_smoothing option (classification)
    val_split: float = 0.1
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints; 0 = end of each epoch only
    group_by_length: bool = True
    cache_features: bool = True  # with a frozen backbone and no augmentation
    compile: bool = False  # torch.compile the backbone and head for training (hub_core.train.loop.compile_model)
    device: str | None = None
    workers: int | None = None  # data-loading worker processes; None: min(4, cores - 1) (hub_core.data.loader)
    max_steps: int = 0  # stop after this many optimizer steps (0 = no limit); for smoke runs
    head: str | None = None  # override the task's default head
    head_options: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)
    preprocess: dict = field(default_factory=dict)  # options for the modality's preprocessor
    backbone_options: dict = field(default_factory=dict)  # merged into a new backbone's config (fusion: its parts)
    recipe: dict = field(default_factory=dict)  # key -> where its value came from, when not the engine's default

    def __post_init__(self):
        check(self)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


CHOICES = {"schedule": ("cosine", "linear", "constant"), "precision": ("fp32", "bf16"),
           "class_weight": ("none", "balanced")}


def check(config: TrainConfig) -> None:
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(f"{name} = {getattr(config, name)!r} must be one of {', '.join(allowed)}")
    freeze = config.freeze
    if freeze not in ("auto", "none", "backbone") and not (freeze.startswith("last-") and freeze[5:].isdigit()):
        raise ConfigError(f"freeze = {freeze!r}: expected {FREEZE_HELP}")
    for name in ("epochs", "batch_size", "grad_accum", "min_epochs"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.seed > MAX_SEED:
        raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED:,}, got {config.seed}")
    for name in ("seed", "lora", "checkpoint_every", "max_steps", "target_steps") + tuple(
            name for name in ("workers", "patience") if getattr(config, name) is not None):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be 0 or more, got {getattr(config, name)}")
    # `not x > 0` (rather than `x <= 0`) also refuses NaN, which compares false with everything
    if not 0 < config.lr < math.inf or (config.head_lr is not None and not 0 < config.head_lr < math.inf):
        raise ConfigError(f"learning rates must be positive finite numbers, got lr {config.lr}"
                          + (f", head_lr {config.head_lr}" if config.head_lr is not None else ""))
    if not 0 < config.layer_decay <= 1:
        raise ConfigError(f"layer_decay must be above 0 and at most 1, got {config.layer_decay}")
    if not 0 <= config.label_smoothing < 1:
        raise ConfigError(f"label_smoothing must be at least 0 and below 1, got {config.label_smoothing}")
    for name in ("weight_decay", "warmup") + (("clip",) if config.clip is not None else ()):
        if not 0 <= getattr(config, name) < math.inf:
            raise ConfigError(f"{name} must be a finite number, 0 or more, got {getattr(config, name)}")
    if not 0 <= config.val_split < 1:
        raise ConfigError(f"val_split must be at least 0 and below 1, got {config.val_split}")
    if config.lora and config.freeze == "backbone":
        raise ConfigError("--lora and --freeze backbone contradict each other: LoRA trains adapters inside the backbone")


def _coerce(name: str, value, kind, where: str):
    base = kind
    if hasattr(kind, "__args__"):  # Optional[...] written as "X | None"
        base = next(a for a in kind.__args__ if a is not type(None))
        if value is None:
            return None
    try:
        if base is bool and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return value.lower() in ("true", "1", "yes")
        if base is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        if base is dict:
            if not isinstance(value, dict):
                raise ValueError
            return value
        return base(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}{name} = {value!r} is not a valid {base.__name__}") from None


def build_config(file: str | None, overrides: dict, recipe: dict | None = None, recipe_name: str | None = None
                 ) -> TrainConfig:
    """Defaults ⊕ the preset's recipe ⊕ the TOML file (its [train] table or top level) ⊕ flags that were given."""
    import typing

    from hub_core.train.recipe import layered

    hints = typing.get_type_hints(TrainConfig)
    from_recipe = {}
    for key, value in (recipe or {}).items():
        if key not in hints or key == "recipe":
            raise ConfigError(f"preset {recipe_name!r}: train.{key} is not a training setting")
        from_recipe[key] = _coerce(key, value, hints[key], f"preset {recipe_name!r}: train.")
    values: dict = {}
    if file:
        data = load_toml(file)
        data = data.get("train", data)
        for key, value in data.items():
            if key not in hints:
                import difflib  # only for the error: not on every start (hub --help imports this module)

                hint = difflib.get_close_matches(key, hints, n=1)
                line = line_of(file, key)
                raise ConfigError(f"{file}:{line or 1}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            values[key] = _coerce(key, value, hints[key], f"{file}: ")
    flags = {key: value if key in ("head_options", "task_options", "preprocess", "backbone_options")
             else _coerce(key, value, hints[key], "--") for key, value in overrides.items() if value is not None}
    values, sources = layered(from_recipe, recipe_name, values, flags)
    return TrainConfig(**values, recipe=sources)


def parse_pairs(pairs: tuple[str, ...], option: str) -> dict:
    """``KEY=VALUE`` flags; values parsed as TOML scalars where they parse, else strings."""
    import tomllib

    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {pair!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw
        except RecursionError:  # tomllib recurses once per level of nesting
            raise ConfigError(f"{option} {key.strip()}=...: nested too deeply") from None
    return out
