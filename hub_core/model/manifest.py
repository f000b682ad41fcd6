"""The manifest (hub.json) of a model directory and its torch-free parts.

The ONNX runtime uses this module: it must never import torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from hub_core.plugin.catalogue import Catalogue
from hub_core.common.errors import ModelDirError
from hub_core.plugin.specs import NAME_RE, resolve

FORMAT_VERSION = 1
MANIFEST = "hub.json"
WEIGHTS = "model.safetensors"


# What hub.json holds, field by field: every field the hub reads is checked before use (a
# model directory may be a stranger's). A check is a JSON type, a (type, test, wanted) triple,
# or a dict of a nested object's fields; OPTIONAL fields may be absent.
def _positive(value) -> bool:
    return value >= 1


def _name(value) -> bool:
    return NAME_RE.match(value) is not None


def _strings(value) -> bool:
    return all(isinstance(item, str) for item in value)


def _fraction(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1)


def _inputs(value) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get("name"), str) and isinstance(i.get("dtype"), str)
               and isinstance(i.get("axes"), list) and all(isinstance(a, str) or (type(a) is int and a >= 1)
                                                           for a in i["axes"]) for i in value)


NAME = (str, _name, "a lower-case registered name ('namespace/name')")
SHAPE = {"modality": NAME, "backbone": {"name": NAME, "config": dict},
         "head": {"name": NAME, "options": dict, "num_outputs": (int, _positive, "a whole number of at least 1")},
         "task": {"name": NAME, "state": dict}, "preprocessor": {"config": dict}}
OPTIONAL = {"inputs": (list, _inputs, "a list of {name, dtype, axes} objects (axes: names or sizes >= 1)"),
            "plugins": (list, _strings, "a list of distribution names"),
            "backbone.feature_dim": (int, _positive, "a whole number of at least 1"),
            "task.output_names": (list, _strings, "a list of strings"),
            "metrics": dict, "training": dict, "monitor": dict, "source": dict, "versions": dict,
            "data": {"train": (str, None, "a path"), "val": (object, lambda v: v is None or isinstance(v, str),
                                                            "a path or null"),
                     "val_split": (object, _fraction, "a number from 0 to below 1, or null"),
                     "seed": (int, None, "a whole number"), "read": dict}}
KIND_NAMES = {str: "a string", dict: "an object", int: "an integer", list: "a list"}


def _check(path: Path, name: str, value, check, required: bool) -> None:
    if isinstance(check, dict):
        if not isinstance(value, dict):
            raise ModelDirError(f"{path}: field {name} must be an object, got {value!r}"[:300])
        for field, inner in check.items():
            if field in value or required:
                _check(path, f"{name}.{field}", value.get(field), inner, required)
        return
    kind, test, wanted = check if isinstance(check, tuple) else (check, None, KIND_NAMES[check])
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is int)
    if not ok or (test is not None and not test(value)):
        raise ModelDirError(f"{path}: field {name} must be {wanted}, got {value!r}"[:300])


def check_manifest(path: Path, manifest: dict) -> None:
    """Every field the hub reads, of the right type and range; the first wrong one is one line."""
    for key, check in SHAPE.items():
        if key not in manifest:
            raise ModelDirError(f"{path}: missing field {key!r}")
        _check(path, key, manifest[key], check, required=True)
    for dotted, check in OPTIONAL.items():
        key, _, field = dotted.partition(".")
        holder = manifest if not field else manifest[key]
        name = field or key
        if name in holder and not (field and isinstance(check, dict)):
            _check(path, dotted, holder[name], check, required=False)


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
    except RecursionError:
        raise ModelDirError(f"{path}: nested too deeply to be a manifest") from None
    version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if type(version) is not int or version < 1:
        raise ModelDirError(f"{path}: no integer format_version of at least 1")
    if version > FORMAT_VERSION:
        raise ModelDirError(f"{path}: format version {version} is newer than this hub's {FORMAT_VERSION}; upgrade plughub")
    check_manifest(path, manifest)
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
