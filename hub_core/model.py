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
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from hub_core.catalogue import Catalogue
from hub_core.errors import ModelDirError
from hub_core.specs import resolve

FORMAT_VERSION = 1
MANIFEST = "hub.json"
WEIGHTS = "model.safetensors"
PACKAGES = ("plughub", "torch", "transformers", "timm", "torchaudio", "onnx", "onnxruntime", "hub-nlp", "hub-vision",
            "hub-speech", "hub-recsys")


class HubModel(nn.Module):
    """A backbone with a head on top. ``forward(**inputs)`` returns the head's output."""

    def __init__(self, backbone, head, task, preprocessor, manifest: dict):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.task = task
        self.preprocessor = preprocessor
        self.manifest = manifest

    def forward(self, **inputs):
        return self.head(self.backbone(**inputs))


def is_model_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def save_weights(module: nn.Module, path: Path) -> None:
    """safetensors, written atomically; shared (tied) tensors are stored once."""
    from safetensors.torch import save_model

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        save_model(module, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_weights(module: nn.Module, path: Path) -> None:
    from safetensors.torch import load_model

    try:
        missing, unexpected = load_model(module, str(path), strict=False)
    except Exception as err:  # noqa: BLE001 - a corrupt or mismatched file, whatever safetensors raises
        raise ModelDirError(f"{path}: cannot load weights ({type(err).__name__}: {err})") from None
    if missing or unexpected:
        what = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise ModelDirError(f"{path}: weights do not fit the model described in hub.json ({what})")


def make_manifest(backbone_spec, backbone, head_name, head_options, task_spec, task, preprocessor, modality) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "modality": modality.name,
        "inputs": [dataclasses.asdict(i) for i in modality.inputs],
        "backbone": {"name": backbone_spec.name, "config": backbone.hub_config(), "feature_dim": backbone.feature_dim},
        "head": {"name": head_name, "options": head_options, "num_outputs": task.num_outputs},
        "task": {"name": task_spec.name, "state": task.state(), "output_names": list(task.output_names)},
        "preprocessor": {"config": preprocessor.config},
    }


def save_model(model: HubModel, directory: Path, **extra) -> None:
    """Write hub.json, model.safetensors and preprocessor/ (each file atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "preprocessor").mkdir(exist_ok=True)
    model.preprocessor.save(directory / "preprocessor")
    save_weights(model, directory / WEIGHTS)
    model.manifest.update(extra)
    model.manifest["preprocessor"] = {"config": model.preprocessor.config}
    model.manifest["versions"] = package_versions()
    atomic_write_json(directory / MANIFEST, model.manifest)


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ModelDirError(f"{directory}: not a model directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelDirError(f"{path}: not valid JSON ({err})") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if not isinstance(version, int):
        raise ModelDirError(f"{path}: no integer format_version")
    if version > FORMAT_VERSION:
        raise ModelDirError(f"{path}: format version {version} is newer than this hub's {FORMAT_VERSION}; upgrade plughub")
    for key in ("modality", "backbone", "head", "task", "preprocessor"):
        if key not in manifest:
            raise ModelDirError(f"{path}: missing field {key!r}")
    return manifest


def build_parts(catalogue: Catalogue, manifest: dict, where: Path):
    """The modality, backbone spec, preprocessor class, task class and head class a manifest names."""
    def lookup(kind, name):
        spec = catalogue.find(kind, name)
        if spec is None:
            raise ModelDirError(f"{where}: names {kind} {name!r}, which no installed plugin provides (see 'hub plugins')")
        return spec

    backbone_spec = lookup("backbone", manifest["backbone"]["name"])
    if backbone_spec.modality != manifest["modality"]:
        raise ModelDirError(f"{where}: backbone {backbone_spec.name!r} is for {backbone_spec.modality!r}, "
                            f"but the manifest says {manifest['modality']!r}")
    modality = lookup("modality", manifest["modality"])
    task_spec = lookup("task", manifest["task"]["name"])
    head_spec = lookup("head", manifest["head"]["name"])
    return modality, backbone_spec, task_spec, head_spec


def load_preprocessor_and_task(catalogue: Catalogue, directory: Path):
    """The torch-free half of a model directory: manifest, preprocessor and task."""
    manifest = read_manifest(directory)
    modality, _, task_spec, _ = build_parts(catalogue, manifest, directory)
    preprocessor = resolve(modality.preprocessor).load(directory / "preprocessor", manifest["preprocessor"]["config"])
    task = resolve(task_spec.factory).from_state(manifest["task"]["state"])
    return manifest, preprocessor, task


def load_model(catalogue: Catalogue, directory: str | os.PathLike) -> HubModel:
    directory = Path(directory)
    manifest, preprocessor, task = load_preprocessor_and_task(catalogue, directory)
    _, backbone_spec, _, head_spec = build_parts(catalogue, manifest, directory)
    backbone = resolve(backbone_spec.factory)(dict(manifest["backbone"]["config"]), None)
    if backbone.feature_dim != manifest["backbone"].get("feature_dim", backbone.feature_dim):
        raise ModelDirError(f"{directory}: backbone {backbone_spec.name!r} built with feature size {backbone.feature_dim}, "
                            f"hub.json says {manifest['backbone']['feature_dim']}")
    head = resolve(head_spec.factory)(backbone.feature_dim, manifest["head"]["num_outputs"], **manifest["head"]["options"])
    model = HubModel(backbone, head, task, preprocessor, manifest)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ModelDirError(f"{directory}: no {WEIGHTS}")
    load_weights(model, weights)
    model.eval()
    return model


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def device_for(name: str | None = None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
