"""HubModel = backbone + head (+ its task and preprocessor), and the model directory.

The model directory is the artifact every command passes along::

    hub.json            manifest: format version, backbone + config, head, task, labels,
                        preprocessor config, input spec, metrics, package versions
    model.safetensors   weights (safetensors only: nothing is ever unpickled)
    preprocessor/       tokenizer files, vocabularies, image/audio settings

Loading needs nothing but the directory and the installed plugins.
"""
from __future__ import annotations

import dataclasses
import re
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from hub_core.common import atomic
from hub_core.plugin.catalogue import Catalogue
from hub_core.common.errors import ModelDirError, UsageError
from hub_core.model.manifest import (FORMAT_VERSION, MANIFEST, WEIGHTS, is_model_dir,  # noqa: F401 - re-exported
                               load_preprocessor_and_task, read_manifest)
LIBRARIES = ("plughub", "torch", "numpy", "safetensors", "onnx", "onnxruntime")  # the core's own


class HubModel(nn.Module):
    """A backbone with a head on top. ``forward(**inputs)`` returns the task's named outputs
    (``{name: tensor}``), what the exported graph returns too."""

    def __init__(self, backbone, head, task, preprocessor, manifest: dict):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.task = task
        self.preprocessor = preprocessor
        self.manifest = manifest

    def forward(self, **inputs):
        return self.head_outputs(self.backbone(**inputs))

    def head_outputs(self, features: dict) -> dict:
        """The named outputs from the backbone's features (cached features skip the backbone)."""
        return self.task.outputs(self.head(features))


def package_versions(plugins=()) -> dict[str, str]:
    """Installed versions of the core's libraries, of the ``plugins`` distributions (those a
    model uses: hub.json "plugins") and of what each of them requires (timm for hub-vision)."""
    names = list(LIBRARIES)
    for plugin in plugins:
        names.append(plugin)
        try:
            requires = metadata.requires(plugin) or []
        except metadata.PackageNotFoundError:
            continue
        # "timm>=1.0", "pillow; extra == 'x'": the name, for requirements not behind an extra
        names += [re.match(r"[A-Za-z0-9._-]+", r)[0] for r in requires if "extra ==" not in r]
    versions = {}
    for name in dict.fromkeys(names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def save_weights(module: nn.Module, path: Path) -> None:
    """safetensors, written atomically; shared (tied) tensors are stored once."""
    from safetensors.torch import save_model

    with atomic.replacing(path) as tmp:
        save_model(module, str(tmp))


def load_weights(module: nn.Module, path: Path) -> None:
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(module, str(path), strict=False)
    except Exception as err:  # noqa: BLE001 - a corrupt or mismatched file, whatever safetensors raises
        reason = " ".join(str(err).split())  # torch's size-mismatch report spans lines: the user gets one
        raise ModelDirError(f"{path}: cannot load weights ({type(err).__name__}: {reason[:300]})") from None
    if missing or unexpected:
        what = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise ModelDirError(f"{path}: weights do not fit the model described in hub.json ({what})")


def make_manifest(backbone_spec, backbone, head_name, head_options, task_spec, task, preprocessor, modality,
                  catalogue: Catalogue | None = None) -> dict:
    """hub.json of a new model; with the catalogue, "plugins" names the distributions of the
    plugins that registered its modality, backbone (and parts), head and task."""
    inputs = backbone.input_specs(modality)
    uses = [("modality", modality.name), ("backbone", backbone_spec.name), ("head", head_name),
            ("task", task_spec.name), *backbone.registered_parts()]
    return {
        "format_version": FORMAT_VERSION,
        "modality": modality.name,
        "inputs": [dataclasses.asdict(i) for i in inputs],
        "backbone": {"name": backbone_spec.name, "config": backbone.hub_config(), "feature_dim": backbone.feature_dim},
        "head": {"name": head_name, "options": head_options, "num_outputs": task.num_outputs},
        "task": {"name": task_spec.name, "state": task.state(), "output_names": list(task.output_names)},
        "preprocessor": {"config": preprocessor.config},
        "plugins": catalogue.distributions_of(uses) if catalogue is not None else [],
    }


def save_model(model: HubModel, directory: Path, **extra) -> None:
    """Write hub.json, model.safetensors and preprocessor/ (each file atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "preprocessor").mkdir(exist_ok=True)
    model.preprocessor.save(directory / "preprocessor")
    save_weights(model, directory / WEIGHTS)
    model.manifest.update(extra)
    model.manifest["task"]["state"] = model.task.state()  # what training learned after the manifest was made (a threshold)
    model.manifest["preprocessor"] = {"config": model.preprocessor.config}
    model.manifest["versions"] = package_versions(model.manifest.get("plugins", ()))
    atomic.write_json(directory / MANIFEST, model.manifest)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def device_for(name: str | None = None) -> torch.device:
    """``--device NAME``, checked against what this machine has; default: cuda if available."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r} is not a device (cpu, cuda, cuda:1, mps...)") from None
    backend = getattr(torch, device.type, None)
    if device.type != "cpu" and not (backend is not None and hasattr(backend, "is_available") and backend.is_available()):
        raise UsageError(f"--device {name}: no {device.type} device is available on this machine")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
