"""An exclusive lock on an output folder: one writer at a time.

``with hold(out, "--out"):`` takes ``fcntl.flock`` on ``out/.hub.lock`` (the folder is made
if missing) and writes the holder's PID into it. A second hub process that wants the same
folder gets a UsageError naming that PID at once (no waiting). The kernel releases a flock
when its process dies, however it dies, so a lock file left by a killed run is no blocker:
the next run takes it. On release the file is removed, and so are the folders the lock
itself created if nothing else was written into them (a run that failed early leaves no
empty --out behind).
"""
from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hub_core.common.errors import HubError, UsageError

LOCK_NAME = ".hub.lock"


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "a process whose PID is not recorded yet"


def _unusable(folder: Path, option: str, err: OSError) -> HubError:
    """A folder that cannot hold the lock file: too long a path, read-only, not a folder."""
    reason = {errno.ENAMETOOLONG: "the path is too long for the file system",
              errno.EACCES: "permission denied: the folder is not writable",
              errno.EROFS: "the file system is read-only",
              errno.ENOTDIR: "a part of the path is a file, not a folder",
              errno.EEXIST: "it is a file, not a folder"}.get(err.errno, err.strerror or str(err))
    shown = str(folder) if len(str(folder)) <= 120 else f"{str(folder)[:60]}…{str(folder)[-40:]}"
    return UsageError(f"{option} {shown}: cannot write there ({reason})")


def _acquire(path: Path, option: str) -> int:
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(f"{option} {path.parent} is in use by another hub process ({_holder(path)}); wait for it "
                             f"to finish, or choose another {option}") from None
        try:  # the holder before us may have removed the file between our open and our lock: lock the new one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextmanager
def hold(folder: str | os.PathLike, option: str = "--out") -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` for the block; yields the folder."""
    folder = Path(folder)
    created: list[Path] = []
    try:
        created = [p for p in [folder, *folder.parents] if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOCK_NAME
        fd = _acquire(path, option)
    except OSError as err:
        _remove_empty(created)
        raise _unusable(folder, option, err) from None
    except BaseException:
        _remove_empty(created)
        raise
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # a full disk: the lock holds all the same, only its PID goes unsaid
            pass
        yield folder
    finally:
        try:
            path.unlink(missing_ok=True)  # while still held: a waiting process re-checks the inode
        except OSError:
            pass
        os.close(fd)
        _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    for folder in created:  # deepest first
        try:
            folder.rmdir()
        except OSError:  # not empty (the run wrote into it), or never made
            return


def is_lock_file(path: Path) -> bool:
    return path.name == LOCK_NAME
