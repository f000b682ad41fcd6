"""``hub push``'s steps: stage the revision (card, interop files, index) and upload it."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hub_core.common.errors import PluginError
from hub_core.model.manifest import read_manifest
from hub_core.share import card, store
from hub_core.share.repository import Revision, stage


def publish(catalogue, directory: Path, target: str, *, license: str, datasets: list[str], interop: bool,
            announce=None) -> Revision:
    manifest = read_manifest(directory)
    modality = catalogue.modality(manifest["modality"])
    head = card.header(manifest, Path(directory).resolve().name, tag=dict(modality.pipeline_tags).get(
        manifest["task"]["name"]), base_model=base_model(catalogue, manifest), datasets=datasets, license=license)
    writer = interop_writer(catalogue, directory, modality) if interop and modality.interop else None
    with tempfile.TemporaryDirectory(prefix="hub-push-") as staging:
        revision = stage(Path(directory), Path(staging), head, writer)
        store.push(Path(staging), revision, target, announce)
    return revision


def base_model(catalogue, manifest: dict) -> str | None:
    """The Hub id of the weights it started from, when its preset names one."""
    source = manifest.get("source") or {}
    if source.get("kind") != "preset":
        return None
    preset = catalogue.find("preset", source.get("name", ""))
    return getattr(preset, "base_model", None) or None


def interop_writer(catalogue, directory: Path, modality):
    """``writer(staging) -> note``: the model loaded (torch) and handed to its plugin's interop,
    which may add files but never change the hub's own."""
    from hub_core.model.build import load_model
    from hub_core.plugin.specs import resolve

    def write(staging: Path) -> str:
        before = {p: p.stat().st_mtime_ns for p in staging.rglob("*") if p.is_file()}
        model = load_model(catalogue, directory)
        note = resolve(modality.interop)(model, staging)
        changed = [p for p, stamp in before.items() if not p.exists() or p.stat().st_mtime_ns != stamp]
        if changed:
            raise PluginError(f"modality {modality.name!r}: its interop changed {changed[0].relative_to(staging)}, "
                              "a file of the hub's own; it may only add files")
        return str(note)

    return write
