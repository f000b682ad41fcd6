"""The disk cache: content-keyed entries under ``$PLUGHUB_HOME/cache``, built atomically.

An entry is a folder named by its key (a hex digest the caller computes from everything the
content depends on). It is built in a temporary sibling ``.tmp-KEY-PID-bRANDOM`` under an
flock of ``.lock-KEY-PID-bRANDOM`` and renamed into place when complete, so a process killed
while building leaves only a ``.tmp-*`` folder whose lock is free, which no reader ever opens
and the next build removes (a live build elsewhere, even in another PID namespace, holds its
lock and is left alone). Using an entry touches it; when the
cache grows past its limit, the least recently used entries go first.

``PLUGHUB_CACHE`` names another folder; ``PLUGHUB_CACHE_LIMIT`` is the size limit (bytes, or
with a K/M/G/T suffix; default 20G); a limit of 0 turns the cache off. A cache folder that
cannot be written (a file in the way, a read-only folder) turns it off too, with a notice.

Entries are verified, not trusted: ``entry.json`` lists every file with its size and a fast
content digest (``fasthash``); a lookup checks every size and the largest files' digests, and
an entry that fails (a kill during a deletion, a truncated or overwritten file) is removed
with a one-line notice and built again. Entries are deleted by renaming them aside first, so
a kill during ``hub cache clear`` or a trim leaves no half-deleted entry that looks whole.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hub_core.common.errors import ConfigError
from hub_core.common.fasthash import file_digest

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
        number = float(text[:len(text) - len(unit)])
        if not math.isfinite(number) or number < 0:
            raise ValueError(number)
        return int(number * _UNITS[unit])
    except ValueError:  # also inf, nan and negative sizes
        raise ConfigError(f"PLUGHUB_CACHE_LIMIT={os.environ['PLUGHUB_CACHE_LIMIT']!r}: expected a size "
                          f"such as 500M, 20G or 0 (off)") from None


_unusable: dict[str, bool] = {}  # cache folder -> whether it was found unwritable (said once per process)


def usable() -> bool:
    """Whether the cache folder exists or can be made, and can be written; else a notice, once."""
    base = root()
    if str(base) not in _unusable:
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / f".probe-{os.getpid()}"
            probe.mkdir(exist_ok=True)
            probe.rmdir()
            _unusable[str(base)] = False
        except OSError as err:
            _unusable[str(base)] = True
            from hub_core.common.console import notice

            notice(f"the disk cache {base} cannot be written ({err.strerror or err}): running without it "
                   "(set PLUGHUB_CACHE to a writable folder)")
    return not _unusable[str(base)]


def enabled() -> bool:
    return limit() > 0 and usable()


def lookup(key: str) -> Path | None:
    """The complete, verified entry for ``key``, touched (it was used now), or None (a damaged
    entry is removed with a notice: the caller builds it again)."""
    entry = root() / key
    if not (entry / META).is_file():
        return None
    fault = damage(entry)
    if fault:
        from hub_core.common.console import notice

        notice(f"the disk cache entry {key[:12]} is damaged ({fault}): building it again")
        remove(entry)
        return None
    try:
        os.utime(entry / META)
    except OSError:  # a read-only cache still serves
        pass
    return entry


VERIFIED_DIGESTS = 8  # the largest files' contents are checked at each lookup; every file's size


def inventory(folder: Path) -> dict[str, list]:
    """{relative path: [size, fast digest]} of every file under ``folder`` (entry.json aside)."""
    return {str(file.relative_to(folder)): [file.stat().st_size, file_digest(file)]
            for file in sorted(folder.rglob("*")) if file.is_file() and file.name != META}


def damage(entry: Path) -> str | None:
    """What is wrong with ``entry``, or None: a file missing, of another size or contents."""
    try:
        meta = json.loads((entry / META).read_text())
        if "files" not in meta:
            return "made by an earlier version, without its file list"
        files = meta["files"]
        for name, (size, _) in files.items():
            if (entry / name).stat().st_size != size:
                return f"{name} is {(entry / name).stat().st_size} bytes, not {size}"
        for name, (size, digest) in sorted(files.items(), key=lambda item: -item[1][0])[:VERIFIED_DIGESTS]:
            if file_digest(entry / name) != digest:
                return f"{name} was changed"
    except FileNotFoundError as err:
        return f"{Path(err.filename).name if err.filename else 'a file'} is missing"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"entry.json unreadable: {type(err).__name__}"
    return None


def remove(entry: Path) -> None:
    """Delete an entry: renamed aside first (atomic), so no reader ever sees it half deleted."""
    aside = entry.with_name(f".del-{entry.name}-{os.getpid()}")
    try:
        os.rename(entry, aside)
    except OSError:  # gone already, or another process renamed it
        return
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def building(key: str, kind: str, description: str) -> Iterator[Path]:
    """``with building(key, ...) as folder: write into folder`` -> the entry, published when
    the block ends without an error (then the cache is trimmed to its limit); on an error,
    or a kill, nothing is published."""
    base = root()
    base.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(base)
    tmp = base / f".tmp-{key}-{os.getpid()}-b{secrets.token_hex(4)}"  # PIDs repeat across containers
    with _held(_lock_of(tmp)), _building_in(tmp):
        yield tmp
        _sync_folder(tmp)
        meta = {"kind": kind, "description": description, "created": time.time(), "files": inventory(tmp)}
        (tmp / META).write_text(json.dumps(meta) + "\n")  # written last: its presence marks a whole entry
        try:
            os.rename(tmp, base / key)
        except OSError:  # another process published the same key meanwhile: theirs is as good
            pass
        _sync_folder(base)
    trim()


@contextmanager
def _building_in(tmp: Path) -> Iterator[None]:
    tmp.mkdir()
    try:
        yield
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _lock_of(tmp: Path) -> Path:
    return tmp.with_name(".lock-" + tmp.name.removeprefix(".tmp-"))


@contextmanager
def _held(lock: Path) -> Iterator[None]:
    """An flock on ``lock`` for the build: a build is live while its lock is held, whatever PID
    namespace the builder runs in (containers sharing a volume); the kernel drops it on a kill."""
    import fcntl

    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _abandoned(tmp: Path) -> bool:
    """Whether the build in ``tmp`` is dead: its lock is free (or, for a build of an older
    version without a lock, its PID is gone)."""
    import fcntl

    lock = _lock_of(tmp)
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        pid = tmp.name.rsplit("-", 1)[-1]
        return pid.isdigit() and not _alive(int(pid))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    lock.unlink(missing_ok=True)
    return True


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
    """``.tmp-*`` folders of builds that died (killed while building), and ``.del-*`` folders
    a deletion left (killed while deleting)."""
    for tmp in base.glob(".tmp-*"):
        if _abandoned(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    for aside in base.glob(".del-*"):
        shutil.rmtree(aside, ignore_errors=True)


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
        remove(Path(entry["path"]))
        total -= entry["bytes"]
        removed.append(entry["key"])
    return removed


def clear() -> tuple[int, int]:
    """Remove every entry and abandoned build; (entries removed, bytes freed)."""
    base = root()
    found = entries()
    for entry in found:
        remove(Path(entry["path"]))
    if base.is_dir():
        _remove_abandoned(base)
    return len(found), sum(e["bytes"] for e in found)
