"""A ready-to-predict model directory from pretrained ImageNet weights, classifier kept.

``hub vision imagenet vision/tf_efficientnet_lite0 --out lite0-in1k`` builds the
backbone with its weights, turns the checkpoint's own ImageNet classifier into the
hub's linear head and names the classes with timm's ImageNet labels. The result is an
ordinary model directory: ``hub predict`` answers "tiger cat" for a cat, ``hub export``
exports it, ``hub finetune`` continues from it. It is the check that weights and
preprocessing are right: wrong normalisation or a bad weight mapping shows at once.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from hub_core.api import HubError, UsageError, resolve


def imagenet_labels(num_classes: int) -> list[str]:
    """timm's class descriptions for an ImageNet-sized classifier, made unique ("crane" is
    both a bird and a machine: the second gets its WordNet id)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    subset = infer_imagenet_subset({"num_classes": num_classes})
    if subset is None:
        raise HubError(f"a classifier of {num_classes} classes is not an ImageNet one (1000, 11821, 21841, ...)")
    info = ImageNetInfo(subset)
    labels, seen = [], set()
    for index in range(num_classes):
        name = info.index_to_description(index)
        if name in seen:
            name = f"{name} ({info.index_to_label_name(index)})"
        seen.add(name)
        labels.append(name)
    return labels


def write_imagenet_model(catalogue, model: str, out: Path, weights: str | None = None,
                         overwrite: bool = False) -> dict:
    """Build MODEL with its pretrained classifier as the head; write the model directory."""
    from hub_core.api import HubModel, make_manifest, save_model

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UsageError(f"--out {out} is not empty (use --overwrite to replace it)")
    backbone_spec, config, preset_weights, _ = catalogue.resolve_model(model)
    source = weights or preset_weights
    if not source:
        raise UsageError(f"{model} has no pretrained weights: pass --weights (a file, package:..., hf:... or timm)")
    backbone = resolve(backbone_spec.factory)(config, source)
    classifier = getattr(backbone, "pretrained_classifier", None)
    if classifier is None:
        raise HubError(f"weights {source!r} carry no classifier to predict ImageNet classes with")
    weight, bias = classifier
    labels = imagenet_labels(weight.shape[0])

    task_spec, head_spec = catalogue.task_for("classification", backbone_spec)
    task = resolve(task_spec.factory)(labels=labels)
    head = resolve(head_spec.factory)(backbone.feature_dim, len(labels))
    linear = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if len(linear) != 1 or linear[0].weight.shape != weight.shape:
        raise HubError(f"head {head_spec.name!r} is not one linear layer of shape {tuple(weight.shape)}")
    with torch.no_grad():
        linear[0].weight.copy_(weight)
        linear[0].bias.copy_(bias if bias is not None else torch.zeros(len(labels)))
    modality = catalogue.modality(backbone_spec.modality)
    preprocessor = resolve(modality.preprocessor)(backbone.preprocessor_config())
    manifest = make_manifest(backbone_spec, backbone, head_spec.name, {}, task_spec, task, preprocessor, modality,
                             catalogue)
    hub_model = HubModel(backbone, head, task, preprocessor, manifest).eval()
    if overwrite and out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    save_model(hub_model, out, metrics={}, source={"model": model, "weights": source, "classifier": "pretrained"})
    return {"out": str(out), "classes": len(labels), "weights": source}
