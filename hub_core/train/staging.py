"""``--overwrite`` without data loss: the new run is written beside the old one and swapped in
only when it has succeeded.

A run asked to replace a non-empty ``--out DIR`` trains in the sibling ``.DIR.hub-new``
(same folder, so the swap is two renames on one file system). On success the old DIR is
renamed aside, the new one renamed to DIR, and the old one removed. On failure the sibling
is removed and DIR is untouched; on Ctrl-C/SIGTERM the sibling keeps its resumable
checkpoint and ``--resume`` on DIR continues it (then swaps). The sibling's name is fixed
(not random) so that every DDP rank finds it and a killed run's leftover is found again;
the caller holds DIR's lock, so no other run uses it meanwhile.

``--out`` may not contain ``--data`` or ``--val``, nor lie inside them: a run would read its
own outputs, and an overwrite would delete the data (checked by ``check_apart``).
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from hub_core.common import atomic, lock
from hub_core.common.errors import Interrupted, UsageError
from hub_core.train.divergence import Diverged


def new_sibling(out: Path) -> Path:
    return out.parent / f".{out.name}.hub-new"


def old_sibling(out: Path) -> Path:
    return out.parent / f".{out.name}.hub-old"


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_apart(out: str, data: str | None, val: str | None) -> None:
    """Refuse an --out that holds the data, or that lies inside it."""
    where = Path(out).resolve()
    for option, path in (("--data", data), ("--val", val)):
        if not path or "://" in str(path):
            continue
        source = Path(path).resolve()
        if _within(source, where):
            raise UsageError(f"--out {out} contains {option} {path}: the run would write over its own data; "
                             "choose an --out outside it")
        if _within(where, source):
            raise UsageError(f"--out {out} is inside {option} {path}: the run would write into its own data; "
                             "choose an --out outside it")


def _occupied(out: Path) -> bool:
    return out.exists() and (not out.is_dir() or any(not lock.is_lock_file(p) for p in out.iterdir()))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _swap(out: Path, new: Path) -> None:
    """Put ``new`` in ``out``'s place; the lock file this run holds moves with it (the flocked
    inode stays the lock of DIR, so no other run can take DIR between the two renames)."""
    old = old_sibling(out)
    _remove(old)  # a killed swap's leftover
    held = out / lock.LOCK_NAME
    if held.exists():
        os.replace(held, new / lock.LOCK_NAME)
    os.replace(out, old)
    os.replace(new, out)
    _remove(old)


@contextmanager
def staged(job) -> Iterator:
    """The job to run: ``job`` itself, or the same job writing to the sibling, swapped in on success."""
    check_apart(job.out, job.data, job.val)
    out, new = Path(job.out), new_sibling(Path(job.out))
    writer = os.environ.get("RANK", "0") == "0"
    if job.resume and (new / "run.json").is_file():  # an interrupted overwrite: continue the new run
        pass
    elif job.overwrite and _occupied(out):
        if not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        if writer:
            _remove(new)  # what a killed overwrite left: the lock on DIR says no run uses it
    else:
        yield job
        return
    try:
        yield replace(job, out=str(new), overwrite=False)
    except Interrupted:
        raise Interrupted(f"interrupted: the new run's resumable checkpoint is kept in {new}; {out} still holds the "
                          "previous model. Continue with the same command and --resume instead of --overwrite, or "
                          "start again with --overwrite") from None
    except Diverged as err:  # its last good checkpoint is kept, beside the previous model
        raise Diverged(f"{err}; {out} still holds the previous model") from None
    except BaseException:
        if writer:
            _remove(new)  # the old model directory is untouched
        raise
    if writer:
        _record_asked(new, job)
        _swap(out, new)


def _record_asked(new: Path, job) -> None:
    """run.json names the --out the user asked for, not the sibling it was written in."""
    record = new / "run.json"
    if record.is_file():
        saved = json.loads(record.read_text())
        saved.get("job", {}).update(out=str(job.out), overwrite=job.overwrite)
        atomic.write_json(record, saved)
