"""The only place a model is constructed (timm's ``create_model``): the catalogue looks names
up, this module builds.

    create_model(catalogue, "nlp/bert-tiny", task="classification", examples=...)
        a new HubModel: backbone (preset or backbone name, or continued from a model
        directory), preprocessor and task fitted on the examples, a head on top
    load_model(catalogue, directory)
        a model directory back, weights included, in eval mode

The torch-free half of a model directory (preprocessor and task, what the ONNX runtime
needs) stays in ``hub_core.model.manifest``.
"""
from __future__ import annotations

import os
from pathlib import Path

from hub_core.common.errors import DataError, ModelDirError, UsageError
from hub_core.model import budget, fitcache, snapshot
from hub_core.model.directory import HubModel, load_weights, make_manifest
from hub_core.model.manifest import MANIFEST, WEIGHTS, is_model_dir, load_preprocessor_and_task, specs_of
from hub_core.plugin.specs import call_with_options


def create_model(catalogue, model: str, *, examples: list, task: str | None = None, weights: str | None = None,
                 backbone_options: dict | None = None, preprocess: dict | None = None,
                 task_options: dict | None = None, head: str | None = None, head_options: dict | None = None,
                 data: str = "the data", stand_in: bool = False) -> HubModel:
    """A model to train: ``model`` is a preset, a backbone (``backbone:variant``) or a model
    directory to continue from; ``examples`` fit the preprocessor (of a new model) and the
    task; ``data`` names them in messages. ``stand_in``: a new backbone that stays frozen
    may be its recorded snapshot (``hub_core.model.snapshot``); the model's ``snapshot_key``
    is what recording one needs (None: nothing to record)."""
    head_options = dict(head_options or {})
    base = load_model(catalogue, model) if is_model_dir(model) else None
    key = None
    if base is None:
        backbone_spec, backbone, preprocessor, task_name, key = _new_backbone(
            catalogue, model, examples, task, weights, backbone_options or {}, preprocess or {}, stand_in)
    else:
        if backbone_options:
            raise UsageError(f"--backbone-option / --model configure a new model, not the model directory {model}")
        backbone, preprocessor = base.backbone, base.preprocessor
        if preprocess:  # e.g. a new --max-length on top of the saved, fitted preprocessor
            preprocessor = catalogue.modality(base.manifest["modality"]).load_preprocessor(
                Path(model) / "preprocessor", {**preprocessor.config, **preprocess}, catalogue)
            backbone.fit_to(preprocessor)  # the backbone checks the new settings (positions for a --max-length)
        backbone_spec = catalogue.get("backbone", base.manifest["backbone"]["name"])
        task_name = task or base.manifest["task"]["name"]
    task_spec, head_spec = catalogue.task_for(task_name, backbone_spec)
    if head:
        head_spec = catalogue.head(head)
        catalogue.check_compatible(backbone_spec, head_spec)
    fitted = call_with_options(task_spec.factory, f"task {task_spec.name!r}", "--task-option", **(task_options or {}))
    try:
        fitted.fit(examples)
        fitted.fit_to(preprocessor)
    except ValueError as err:
        raise DataError(f"{data}: {err}") from None
    with budget.limited(f"head {head_spec.name!r} with {fitted.num_outputs:,} outputs"):
        top = call_with_options(head_spec.factory, f"head {head_spec.name!r}", "--head-option", backbone.feature_dim,
                                fitted.num_outputs, **head_options)
    if isinstance(backbone, snapshot.Snapshot) and not snapshot.serves(top, fitted):
        backbone = backbone.real(preprocessor)  # this head or task needs the backbone itself
    if base is not None and base.manifest["task"]["name"] == task_spec.name and same_state(base.task, fitted) \
            and base.manifest["head"]["name"] == head_spec.name:
        top.load_state_dict(base.head.state_dict())  # same task and labels: continue with the trained head
    else:
        top.init_from(backbone)  # e.g. an MLM decoder started from the input embeddings
    manifest = make_manifest(backbone_spec, backbone, head_spec.name, head_options, task_spec, fitted, preprocessor,
                             catalogue.modality(backbone_spec.modality), catalogue)
    hub_model = HubModel(backbone, top, fitted, preprocessor, manifest)
    hub_model.snapshot_key = key  # (key, generator before and after the build) or None
    return hub_model


def _new_backbone(catalogue, model, examples, task, weights, backbone_options, preprocess, stand_in=False):
    """(spec, backbone or its snapshot, fitted preprocessor, task name, what a snapshot record
    needs or None) of a new model from a preset or backbone name."""
    import torch

    spec, config, preset_weights, preset = catalogue.resolve_model(model)
    config, source = {**config, **backbone_options}, weights or preset_weights

    def build():
        with budget.limited(f"model {model!r}"):
            return spec.create(config, source, catalogue)

    key = snapshot.source_key(spec, config, source, catalogue) if stand_in else None
    backbone = snapshot.find(key, build)
    if backbone is None:
        if not source:  # from a config alone: sized on the meta device first
            budget.estimate(lambda: spec.create(config, None, catalogue), f"model {model!r}")
        before = torch.random.get_rng_state()
        backbone = build()
        key = (key, before, torch.random.get_rng_state()) if key else None  # what a record needs
    else:
        key = None  # recorded already
    task = task or (preset.task if preset else None)
    if task is None:
        raise UsageError("--task is required (see 'hub list tasks')")
    modality = catalogue.modality(spec.modality)
    task_defaults = task_preprocess(catalogue, task, spec)
    preprocessor = modality.create_preprocessor({**backbone.preprocessor_config(), **task_defaults, **preprocess},
                                                catalogue)
    preprocessor = fitcache.fitted(modality, preprocessor, examples, catalogue)  # a tokenizer trained once per data
    backbone.fit_to(preprocessor)
    return spec, backbone, preprocessor, task, key


def task_preprocess(catalogue, task: str, backbone_spec) -> dict:
    """The preprocessor options the task's class asks for (``Task.preprocess``); {} for a task
    whose factory is not a class."""
    from hub_core.plugin.specs import resolve

    factory = resolve(catalogue.task_for(task, backbone_spec)[0].factory)
    return dict(getattr(factory, "preprocess", None) or {})


def same_state(a, b) -> bool:
    """The same task and labels (a tuned decision threshold aside): the trained head fits."""
    def learned(task):
        return {k: v for k, v in task.state().items() if k != "threshold"}
    return learned(a) == learned(b)


def load_model(catalogue, directory: str | os.PathLike) -> HubModel:
    """A model directory back as a HubModel (torch), weights loaded, in eval mode."""
    directory = Path(directory)
    manifest, preprocessor, task = load_preprocessor_and_task(catalogue, directory)
    _, backbone_spec, _, head_spec = specs_of(catalogue, manifest, directory)

    def parts():
        backbone = backbone_spec.create(dict(manifest["backbone"]["config"]), None, catalogue)
        if backbone.feature_dim != manifest["backbone"].get("feature_dim", backbone.feature_dim):
            raise ModelDirError(f"{directory}: backbone {backbone_spec.name!r} built with feature size "
                                f"{backbone.feature_dim}, hub.json says {manifest['backbone']['feature_dim']}")
        return backbone, call_with_options(head_spec.factory, f"head {head_spec.name!r} in {directory / MANIFEST}",
                                           "option", backbone.feature_dim, manifest["head"]["num_outputs"],
                                           **manifest["head"]["options"])

    budget.estimate(parts, f"{directory / MANIFEST}")  # a stranger's hub.json is sized before memory is taken
    with budget.limited(f"{directory / MANIFEST}"):
        backbone, head = parts()
    model = HubModel(backbone, head, task, preprocessor, manifest)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ModelDirError(f"{directory}: no {WEIGHTS}")
    load_weights(model, weights)
    model.eval()
    return model
