"""The disk cache: content-keyed entries under ``$PLUGHUB_HOME/cache``, built atomically.

An entry is a folder named by its key (a hex digest the caller computes from everything the
content depends on). It is built in a temporary sibling ``.tmp-KEY-PID`` and renamed into
place when complete, so a process killed while building leaves only a ``.tmp-*`` folder,
which no reader ever opens and the next build removes. Using an entry touches it; when the
cache grows past its limit, the least recently used entries go first.

``PLUGHUB_CACHE`` names another folder; ``PLUGHUB_CACHE_LIMIT`` is the size limit (bytes, or
with a K/M/G/T suffix; default 20G); a limit of 0 turns the cache off.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hub_core.common.errors import ConfigError

DEFAULT_LIMIT = "20G"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
META = "entry.json"


def root() -> Path:
    if os.environ.get("PLUGHUB_CACHE"):
        return Path(os.environ["PLUGHUB_CACHE"])
    home = os.environ.get("PLUGHUB_HOME") or Path.home() / ".config" / "plughub"
    return Path(home) / "cache"


def limit() -> int:
    text = os.environ.get("PLUGHUB_CACHE_LIMIT", DEFAULT_LIMIT).strip().upper().removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    try:
        return int(float(text[:len(text) - len(unit)]) * _UNITS[unit])
    except ValueError:
        raise ConfigError(f"PLUGHUB_CACHE_LIMIT={os.environ['PLUGHUB_CACHE_LIMIT']!r}: expected a size "
                          f"such as 500M, 20G or 0 (off)") from None


def enabled() -> bool:
    return limit() > 0


def lookup(key: str) -> Path | None:
    """The complete entry for ``key``, touched (it was used now), or None."""
    entry = root() / key
    if not (entry / META).is_file():
        return None
    try:
        os.utime(entry / META)
    except OSError:  # a read-only cache still serves
        pass
    return entry


@contextmanager
def building(key: str, kind: str, description: str) -> Iterator[Path]:
    """``with building(key, ...) as folder: write into folder`` -> the entry, published when
    the block ends without an error (then the cache is trimmed to its limit); on an error,
    or a kill, nothing is published."""
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(base)
    tmp = base / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _sync_folder(tmp)
        meta = {"kind": kind, "description": description, "created": time.time()}
        (tmp / META).write_text(json.dumps(meta) + "\n")  # written last: its presence marks a whole entry
        try:
            os.rename(tmp, base / key)
        except OSError:  # another process published the same key meanwhile: theirs is as good
            pass
        _sync_folder(base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    trim()


def _sync_folder(folder: Path) -> None:
    for file in folder.iterdir():
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _remove_abandoned(base: Path) -> None:
    """``.tmp-*`` folders of processes that are gone (killed while building)."""
    for tmp in base.glob(".tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def entries() -> list[dict]:
    """Every complete entry, least recently used first: key, kind, description, bytes, used."""
    base = root()
    found = []
    for entry in base.iterdir() if base.is_dir() else ():
        meta_file = entry / META
        if entry.name.startswith(".") or not meta_file.is_file():
            continue
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            meta = {}
        found.append({"key": entry.name, "kind": meta.get("kind", "?"), "description": meta.get("description", ""),
                      "bytes": _size(entry), "used": meta_file.stat().st_mtime, "path": str(entry)})
    return sorted(found, key=lambda e: e["used"])


def trim(max_bytes: int | None = None) -> list[str]:
    """Remove least recently used entries until the cache fits ``max_bytes`` (default: the limit)."""
    budget = limit() if max_bytes is None else max_bytes
    found = entries()
    total, removed = sum(e["bytes"] for e in found), []
    for entry in found:
        if total <= budget:
            break
        shutil.rmtree(entry["path"], ignore_errors=True)
        total -= entry["bytes"]
        removed.append(entry["key"])
    return removed


def clear() -> tuple[int, int]:
    """Remove every entry and abandoned build; (entries removed, bytes freed)."""
    base = root()
    found = entries()
    for entry in found:
        shutil.rmtree(entry["path"], ignore_errors=True)
    if base.is_dir():
        _remove_abandoned(base)
    return len(found), sum(e["bytes"] for e in found)
