"""A preset's training recipe: defaults ⊕ the preset's ``train`` table ⊕ ``--config`` ⊕ flags.

A preset names the fine-tuning settings its backbone family is known to want (published
in the presets file beside each value, with its source), so ``hub finetune PRESET`` with no
flags trains the way the field trains that kind of model. ``target_steps`` sets the epochs
from the data size: enough epochs to reach that many optimizer steps, between
``min_epochs`` and ``epochs``. Whatever the user sets, in a file or a flag, wins; the run
says which values came from where (``TrainConfig.recipe``, also in hub.json).
"""
from __future__ import annotations

import dataclasses
import math

MIN_PATIENCE, AUTO_PATIENCE = 3, 4  # default early stopping: max(3, epochs // 4) epochs without a gain

SHOWN = ("lr", "head_lr", "layer_decay", "batch_size", "epochs", "warmup", "schedule", "weight_decay", "patience", "monitor",
         "class_weight", "label_smoothing", "freeze", "task_options", "preprocess")


def preset_recipe(catalogue, model: str) -> tuple[dict, str | None]:
    """(the preset's train table, its name) for a preset name; ({}, None) for anything else."""
    from hub_core.model.manifest import is_model_dir

    if is_model_dir(model):
        return {}, None
    preset = catalogue.find("preset", model.partition(":")[0])
    return (dict(getattr(preset, "train", None) or {}), preset.name) if preset is not None else ({}, None)


def layered(recipe: dict, recipe_name: str | None, from_file: dict, from_flags: dict) -> tuple[dict, dict]:
    """The merged values and, per key, where each came from."""
    values, sources = {}, {}
    for layer, where in ((recipe, f"preset {recipe_name}"), (from_file, "--config"), (from_flags, "flag")):
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                value = {**values[key], **value}
            values[key], sources[key] = value, where
    user = {**from_file, **from_flags}
    if "epochs" in user and "target_steps" not in user:  # epochs the user chose are the epochs
        values["target_steps"], sources["target_steps"] = 0, sources["epochs"]
    return values, sources


def resolve_epochs(config, steps_per_epoch: int):
    """The config with ``epochs`` set from the data size when the recipe asks (target_steps)."""
    if not config.target_steps:
        return config
    epochs = max(config.min_epochs, min(config.epochs, math.ceil(config.target_steps / max(1, steps_per_epoch))))
    recipe = {**config.recipe, "epochs": f"{config.recipe.get('target_steps', 'recipe')}: {config.target_steps} "
                                         f"steps at {steps_per_epoch}/epoch, within {config.min_epochs}..{config.epochs}"}
    return dataclasses.replace(config, epochs=epochs, target_steps=0, recipe=recipe)


def resolve_patience(config):
    """The config with ``patience`` settled: the user's; off when the user chose the epochs
    (``--epochs N`` trains N, as with ``target_steps``); else the recipe's, else AUTO_PATIENCE of
    the epochs (at least 3), so a run the recipe sized stops once validation stops gaining."""
    chosen = ("flag", "--config")
    if config.recipe.get("epochs") in chosen and config.recipe.get("patience") not in chosen:
        why = "--epochs given" if config.recipe["epochs"] == "flag" else "epochs set in --config"
        return dataclasses.replace(config, patience=0, recipe={**config.recipe, "patience": f"off: {why}"})
    if config.patience is not None:
        return config
    patience = max(MIN_PATIENCE, config.epochs // AUTO_PATIENCE)
    recipe = {**config.recipe, "patience": f"auto: a {AUTO_PATIENCE}th of {config.epochs} epochs, at least {MIN_PATIENCE}"}
    return dataclasses.replace(config, patience=patience, recipe=recipe)


def describe(config) -> str:
    """One line: the settings that matter and, for those not at the engine's defaults, whose they are."""
    defaults = type(config)()  # a TrainConfig (config.py imports this module: no import back)
    parts = []
    for key in SHOWN:
        value = getattr(config, key, None)
        if (value is None and key != "head_lr") or value == {}:
            continue
        source = config.recipe.get(key)
        if source is None and value == getattr(defaults, key, None) and key not in ("lr", "epochs", "batch_size"):
            continue
        shown = f"{value:g}" if isinstance(value, float) else str(value if value is not None else "= lr")
        parts.append(f"{key} {shown}" + (f" ({source})" if source else ""))
    return "recipe: " + ", ".join(parts)
