"""A fresh SQLite study file appears whole: built in a temporary sibling, then linked into place.

Optuna's RDBStorage creates the tables and stamps ``alembic_version`` the first time it opens
an empty database. Two processes doing that at once (a second ``hub tune`` on the same
``--storage``, ``--jobs``, a script or a test reading the study while the first trial
starts) both find it empty and both write; one of them fails with "UNIQUE constraint
failed: alembic_version.version_num" or "table studies already exists" (3 processes
opening one fresh file at once, 10 times: 11 of the 30 opens failed). So the hub never lets an empty
file be seen: the schema is built in ``.study.db.XXXXXXXX.creating`` and hard-linked to
``study.db``, which fails rather than replace a file another process linked first. Every
later open only reads the schema. A process killed while building leaves the temporary
sibling, never a half-built ``study.db``. (Optuna itself completes a half-built file, but
not two processes at once.)
"""
from __future__ import annotations

import os
from pathlib import Path

from hub_core.common import atomic


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL; None for other databases and in-memory ones."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:  # not a URL: RDBStorage says so to the user
        return None
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    return Path(database)


def create_whole(url: str) -> None:
    """Give a SQLite URL whose file does not exist yet an initialised Optuna schema, atomically."""
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import SQLAlchemyError

    path = sqlite_file(url)
    if path is None or path.exists() or not path.parent.is_dir():
        return  # nothing to build, or an error RDBStorage reports in its own words
    try:
        tmp = atomic.temporary_path(path, ".creating")  # mode 0666 less the umask, as any output
    except OSError:  # a read-only folder, a full disk: RDBStorage reports it on the real path
        return
    try:
        RDBStorage(f"sqlite:///{tmp.resolve()}").engine.dispose()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.link(tmp, path)  # never over a file another process put there first
    except FileExistsError:
        pass
    except (OSError, SQLAlchemyError):  # no hard links here, or no room: Optuna creates it in place (open_storage retries)
        pass
    finally:
        tmp.unlink(missing_ok=True)
