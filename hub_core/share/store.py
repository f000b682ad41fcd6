"""Repositories on any file system fsspec reaches: a local folder, ``file://``, ``s3://``,
``gs://``, ``hf://`` (the Hugging Face Hub, through huggingface_hub, with a token and a network).

Layout: ``TARGET/revisions/ID/...`` holds each revision's files, immutable (ID: the SHA-256 of
its index); ``TARGET/refs/main`` names the newest. A push uploads the index last and the ref
after it, so an interrupted push leaves no revision anyone can pull, and the next push skips
the files already up. A pull downloads into a hidden sibling of the destination, checks every
file's size and digest, refuses pickles and checks the manifest, and only then renames it into
place: a pull interrupted half-way leaves nothing that loads.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from hub_core.common.errors import ModelDirError, UsageError
from hub_core.share.repository import INDEX, Revision, read_index, sha256_of

REF = "main"
HEX = re.compile(r"^[0-9a-f]{6,64}$")
# a checkpoint that unpickles runs code when loaded: a shared repository never carries one
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"}
# formats that cannot hold a pickle (a safetensors header length may begin with a pickle's bytes)
PLAIN_SUFFIXES = {".safetensors", ".onnx", ".json", ".md", ".txt", ".png"}


def split_source(source: str) -> tuple[str, str | None]:
    """``URL[@REV]`` -> (URL, REV or None); REV is 6 to 64 hex digits of a revision's id."""
    url, at, rev = source.rpartition("@")
    if at and HEX.match(rev):
        return url, rev
    return source, None


def filesystem(url: str):
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise UsageError(f"{url}: cannot open this location ({err})") from None
    return fs, root.rstrip("/")


def push(staging: Path, revision: Revision, url: str, announce=None) -> str:
    """Upload a staged revision to ``url``; its id. Files already there (a push that stopped
    part-way, or the same content pushed before) are not sent again."""
    fs, root = filesystem(url)
    base = f"{root}/revisions/{revision.id}"
    if not fs.exists(f"{base}/{INDEX}"):
        for path, info in sorted(revision.files.items()):
            remote = f"{base}/{path}"
            if fs.exists(remote) and fs.size(remote) == info["size"]:
                continue
            fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(staging / path), remote)
            if announce:
                announce(f"sent {path} ({info['size'] / 1e6:.2f} MB)")
        fs.put_file(str(staging / INDEX), f"{base}/{INDEX}")  # last: the revision now exists
    fs.makedirs(f"{root}/refs", exist_ok=True)
    fs.pipe_file(f"{root}/refs/{REF}", (revision.id + "\n").encode())
    return revision.id


def revisions(url: str) -> list[str]:
    """The ids of the complete revisions at ``url`` (those whose index is up)."""
    return complete_revisions(*filesystem(url))


def complete_revisions(fs, root: str) -> list[str]:
    try:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(f"{root}/revisions", detail=False)]
    except FileNotFoundError:
        return []
    return sorted(n for n in names if HEX.match(n) and fs.exists(f"{root}/revisions/{n}/{INDEX}"))


def resolve(fs, root: str, url: str, rev: str | None) -> str:
    """The full id of ``rev`` (a prefix is enough when unique), or of the ref ``main``."""
    if rev is None:
        try:
            rev = fs.cat_file(f"{root}/refs/{REF}").decode().strip()
        except FileNotFoundError:
            raise ModelDirError(f"{url}: no plughub repository here (no refs/{REF}; push one first)") from None
    complete = complete_revisions(fs, root)
    matches = [r for r in complete if r.startswith(rev)]
    if len(matches) != 1:
        known = ", ".join(r[:12] for r in complete) or "none"
        raise ModelDirError(f"{url}: {'no' if not matches else 'more than one'} revision {rev!r} "
                            f"(complete revisions: {known})")
    return matches[0]


def pull(url: str, rev: str | None, destination: Path, check_manifest, overwrite: bool = False) -> Revision:
    """Download revision ``rev`` (or the newest) of ``url`` into ``destination``, verified first."""
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise UsageError(f"{destination}: already exists (choose another folder, or --overwrite)")
    fs, root = filesystem(url)
    revision_id = resolve(fs, root, url, rev)
    base = f"{root}/revisions/{revision_id}"
    index = fs.cat_file(f"{base}/{INDEX}").decode("utf-8", errors="replace")  # read once: checked, then kept
    revision = read_index(index, f"{url} {INDEX}")
    if revision.id != revision_id:
        raise ModelDirError(f"{url}: revision {revision_id[:12]}'s index has digest {revision.id[:12]}: it was "
                            "changed after the push; not pulled")
    destination.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.pull-", dir=destination.parent))
    try:
        for path, info in sorted(revision.files.items()):
            local = temp / path
            local.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f"{base}/{path}", str(local))
            verify_file(local, info, f"{url}@{revision.short}: {path}")
        (temp / INDEX).write_text(index, encoding="utf-8")
        check_manifest(temp)
        place(temp, destination)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return revision


def verify_file(path: Path, info: dict, where: str) -> None:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES or (suffix not in PLAIN_SUFFIXES and looks_pickled(path)):
        raise ModelDirError(f"{where}: a pickled file (it would run code when loaded); not pulled")
    size = path.stat().st_size
    if size != info["size"] or sha256_of(path) != info["sha256"]:
        raise ModelDirError(f"{where}: its content does not match the revision's digest ({size} bytes, "
                            f"{info['size']} expected): changed after the push, or cut short; not pulled")


def looks_pickled(path: Path) -> bool:
    """A pickle's first bytes (protocol 2 to 5), or a zip holding one (torch.save's format)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head == b"PK\x03\x04":
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith(".pkl") for name in archive.namelist())
        except zipfile.BadZipFile:
            return False
    return False


def place(temp: Path, destination: Path) -> None:
    """``temp`` becomes ``destination``; an old one is moved aside first and removed after."""
    old = None
    if destination.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=destination.parent))
        destination.rename(old / "previous")
    temp.rename(destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
