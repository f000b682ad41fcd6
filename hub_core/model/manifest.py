"""The manifest (hub.json) of a model directory and its torch-free parts.

The ONNX runtime uses this module: it must never import torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from hub_core.plugin.catalogue import Catalogue
from hub_core.common.errors import ModelDirError
from hub_core.plugin.specs import resolve

FORMAT_VERSION = 1
MANIFEST = "hub.json"
WEIGHTS = "model.safetensors"


# What hub.json must hold (beyond format_version), and the JSON type of each field.
SHAPE = {"modality": str, "backbone": {"name": str, "config": dict},
         "head": {"name": str, "options": dict, "num_outputs": int}, "task": {"name": str, "state": dict},
         "preprocessor": {"config": dict}}
KIND_NAMES = {str: "a string", dict: "an object", int: "an integer"}


def is_model_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / MANIFEST).is_file()


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
    for key, fields in SHAPE.items():
        if key not in manifest:
            raise ModelDirError(f"{path}: missing field {key!r}")
        value = manifest[key]
        for field, kind in (fields.items() if isinstance(fields, dict) else [(None, fields)]):
            found = value if field is None else value.get(field) if isinstance(value, dict) else None
            if not isinstance(found, kind):
                name = key if field is None else f"{key}.{field}"
                raise ModelDirError(f"{path}: field {name} must be {KIND_NAMES[kind]}, got {found!r}"[:300])
    return manifest


def specs_of(catalogue: Catalogue, manifest: dict, where: Path):
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
    modality, _, task_spec, _ = specs_of(catalogue, manifest, directory)
    preprocessor = modality.load_preprocessor(directory / "preprocessor", manifest["preprocessor"]["config"], catalogue)
    try:
        task = resolve(task_spec.factory).from_state(manifest["task"]["state"])
    except (KeyError, TypeError, ValueError) as err:  # a hand-edited or foreign task state
        raise ModelDirError(f"{directory / MANIFEST}: task.state does not fit task {task_spec.name!r} "
                            f"({type(err).__name__}: {err})") from None
    return manifest, preprocessor, task
