"""A training run's Job and TrainConfig, made once and checked before torch and the data load.

``hub finetune``, ``hub pretrain``, ``hub tune`` and the Python API (``hub_core.python.finetune``)
all start here, so a flag and a keyword argument mean the same thing: the model name is
resolved once, the preset's recipe goes under the user's values (``overrides``: TrainConfig
keys, as ``--config`` files spell them).
"""
from __future__ import annotations

from hub_core.common.errors import UsageError
from hub_core.model.contracts import ReadOptions
from hub_core.model.manifest import is_model_dir
from hub_core.train.config import TrainConfig, build_config
from hub_core.train.loop import Job
from hub_core.train.recipe import preset_recipe


def plan(catalogue, model: str, task: str | None, data: str, out: str, *, val: str | None = None,
         weights: str | None = None, read: ReadOptions | None = None, overrides: dict | None = None,
         config_file: str | None = None, resume: bool = False, **job_options) -> tuple[Job, TrainConfig]:
    """(Job, TrainConfig) for training ``model`` on ``data`` into ``out``; ``overrides`` are
    the user's settings (None values: not given), on top of ``config_file`` and the recipe."""
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    check_keys(overrides)
    source = None if is_model_dir(model) else catalogue.resolve_model(model)
    if task is None and not resume and source is not None and not getattr(source.preset, "task", None):
        raise UsageError("--task is required (see 'hub list tasks')")
    if (overrides.get("backbone_options") or {}).get("parts") and (source is None or source.spec.name != "fusion"):
        raise UsageError(f"--model PART=MODEL names the parts of a new fusion model ('hub finetune fusion --model "
                         f"text=... --model image=...'), not of {model!r}")
    recipe, recipe_name = preset_recipe(catalogue, model)
    config = build_config(config_file, overrides, recipe, recipe_name)
    job = Job(model=model, task=task, data=data, val=val, out=out, weights=weights, read=read or ReadOptions(),
              resume=resume, **job_options)
    return job, config


def check_keys(overrides: dict) -> None:
    """A setting TrainConfig does not have is one line with "did you mean", not a KeyError."""
    import dataclasses

    from hub_core.plugin.catalogue import did_you_mean

    known = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "recipe"]
    for key in overrides:
        if key not in known:
            raise UsageError(f"unknown training setting {key!r}{did_you_mean(key, known)}")
