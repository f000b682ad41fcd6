"""The one atomic writer: a file appears whole or not at all.

Every output the hub writes (hub.json, model.safetensors, preprocessor files, ONNX graphs,
caches) goes through here: a temporary sibling ``.NAME.XXXXXXXX`` in the same folder (so the
rename never crosses a file system), fsync, then ``os.replace`` over the target. The file
ends with the mode any new file of the user's gets (0666 less the umask: 0644 under umask
022), not mkstemp's private 0600: a model directory is for sharing. A writer killed before
the rename leaves only the temporary sibling, which ``discard_partial_writes`` recognises.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:  # reading the umask means setting it; keep other threads out meanwhile
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def temporary_path(path: str | os.PathLike, suffix: str = "") -> Path:
    """A new empty file beside ``path``, named ``.NAME.XXXXXXXX`` + ``suffix``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:  # 1 in 4 billion: draw again
            continue


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """fsync ``tmp``, give it a normal file's mode and rename it over ``path``."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o666 & ~_umask())  # whatever wrote it (a library, mkstemp) may have made it private
    os.replace(tmp, path)
    try:  # the rename itself survives a power cut once the folder is synced
        folder = os.open(Path(path).parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(folder)


@contextmanager
def replacing(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """``with replacing(target) as tmp: write tmp`` -> ``target`` replaced when the block ends
    without an error; on an error the temporary file is removed and ``target`` is untouched."""
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        publish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


# A library that writes (safetensors, in Rust) reports the OS error in its message only.
_OS_CODE = re.compile(r"(?:os error|code:|Errno)\s*(\d+)")


def storage_reason(err: BaseException) -> str | None:
    """Why a write failed, as the OS says it ('No space left on device'), or None when
    ``err`` is not a failed write (a bug stays a bug)."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    found = _OS_CODE.search(str(err))
    return os.strerror(int(found[1])) if found else None


@contextmanager
def writing(what: str, after: str = "") -> Iterator[None]:
    """A failed write inside the block becomes one StorageError line: 'writing WHAT failed:
    REASON' + ``after`` (what is still intact, what to do)."""
    from hub_core.common.errors import StorageError

    try:
        yield
    except StorageError:
        raise
    except Exception as err:  # noqa: BLE001 - only write failures are turned; storage_reason says which
        reason = storage_reason(err)
        if reason is None:
            raise
        raise StorageError(f"writing {what} failed: {reason}{after}") from None


def check_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """A StorageError now, before any work, when ``folder``'s file system has less than
    ``needed`` bytes free."""
    import shutil

    from hub_core.common.errors import StorageError

    free = shutil.disk_usage(folder).free
    if free < needed:
        raise StorageError(f"{what}: {_size(free)} free on its file system, this needs about {_size(needed)}; "
                           "free some space or write elsewhere")


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def discard_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the ``.NAME.XXXXXXXX*`` temporary siblings of ``path`` that killed writers left.
    Only for a writer that holds the folder's lock (hub_core.common.lock): nobody else is
    writing them. Returns what was removed."""
    path = Path(path)
    stale = re.compile(rf"^\.{re.escape(path.name)}\.[0-9a-f]{{8}}(\..*)?$")
    try:
        found = [p for p in path.parent.iterdir() if stale.match(p.name) and p.is_file()]
    except OSError:  # no folder yet: nothing left there
        return []
    for leftover in found:
        leftover.unlink(missing_ok=True)
    return found
