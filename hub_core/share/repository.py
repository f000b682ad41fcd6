"""A model directory as a repository revision: the files that load it (weights, ``hub.json``,
the preprocessor, the exported graphs and their report), its card with the Hub's metadata, the
interop files of its plugin, and an index of every file's SHA-256, whose own digest names
the revision: the same content is the same revision, on any machine."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from hub_core.common.digest import sha256_file as sha256_of
from hub_core.common.errors import ModelDirError

INDEX = "plughub-repo.json"
FORMAT = 1
# what a pulled directory needs to predict, evaluate, serve and fine-tune further; the rest
# (checkpoints, TensorBoard events, run.json with the machine's paths) stays home
TOP_FILES = ("hub.json", "model.safetensors", "README.md", "export.json")
TOP_SUFFIXES = (".onnx",)
FOLDERS = ("preprocessor",)


@dataclass(frozen=True)
class Revision:
    id: str  # the index's SHA-256 (64 hex digits)
    files: dict  # relative path -> {"sha256", "size"}

    @property
    def short(self) -> str:
        return self.id[:12]


def published_files(directory: Path) -> list[Path]:
    """The files of ``directory`` a repository carries, relative to it."""
    if not (directory / "hub.json").is_file():
        raise ModelDirError(f"{directory}: not a model directory (no hub.json)")
    chosen = [Path(name) for name in TOP_FILES if (directory / name).is_file()]
    chosen += sorted(Path(p.name) for p in directory.iterdir() if p.is_file() and p.suffix in TOP_SUFFIXES)
    for folder in FOLDERS:
        if (directory / folder).is_dir():
            chosen += sorted(p.relative_to(directory) for p in (directory / folder).rglob("*") if p.is_file())
    if Path("model.safetensors") not in chosen:
        raise ModelDirError(f"{directory}: no model.safetensors to publish")
    return chosen


def stage(directory: Path, staging: Path, card_head: str, interop=None) -> Revision:
    """Copy what ``directory`` publishes into ``staging``, card it, add the plugin's interop
    files (``interop(folder) -> note``), and write the index; the revision it makes."""
    from hub_core.share.card import carded

    for relative in published_files(directory):
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / relative, target)
    readme = staging / "README.md"
    body = readme.read_text(encoding="utf-8") if readme.exists() else f"# {directory.name}\n"
    if interop is not None:
        note = interop(staging)
        body += f"\n## Without plughub\n\n{note}\n"
    readme.write_text(carded(body, card_head), encoding="utf-8")
    return write_index(staging)


def write_index(staging: Path) -> Revision:
    files = {p.relative_to(staging).as_posix(): {"sha256": sha256_of(p), "size": p.stat().st_size}
             for p in sorted(staging.rglob("*")) if p.is_file() and p.name != INDEX}
    text = index_text(files)
    (staging / INDEX).write_text(text, encoding="utf-8")
    return Revision(hashlib.sha256(text.encode()).hexdigest(), files)


def index_text(files: dict) -> str:
    return json.dumps({"format": FORMAT, "files": files}, indent=1, sort_keys=True) + "\n"


def read_index(text: str, where: str) -> Revision:
    """A revision's index, checked: its digest is the revision's id, its paths stay inside."""
    try:
        index = json.loads(text)
        files = index["files"]
        ok = index.get("format") == FORMAT and isinstance(files, dict) and all(
            isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int)
            for v in files.values())
    except (ValueError, KeyError, TypeError):
        ok, files = False, {}
    if not ok:
        raise ModelDirError(f"{where}: not a plughub repository index (format {FORMAT})")
    for path in files:
        parts = Path(path).parts
        if not parts or Path(path).is_absolute() or ".." in parts or path.startswith("/"):
            raise ModelDirError(f"{where}: a file path {path!r} leaves the repository")
    return Revision(hashlib.sha256(text.encode()).hexdigest(), files)
