"""The plugins' commands as ``hub --help`` lists them, cached between runs.

Listing them otherwise means importing pluggy, the spec records and every plugin, and
running their ``register_commands`` hooks: ~20 ms of a ~50 ms ``hub --help``. The cache
holds each command's name and the texts its short help is made from, and is valid while
nothing it was made from changed: the entry points' fingerprint (sys.path, installs and
uninstalls, see entrypoints.py), PLUGHUB_PLUGINS, and the size and modification time of
every module file imported while the plugins and their commands loaded (a plugin's own
sources, edited in place, included). It is written only when every plugin loaded cleanly;
anything else (a failure, a damaged file, PLUGHUB_NO_CACHE=1) means the plugins load.
Only the listing uses it: running any command, or asking for its help, loads the plugins.
"""
from __future__ import annotations

import marshal
import os
import sys

from hub_core.plugin.entrypoints import cache_file, fingerprint, write_atomically

FORMAT = 1  # bump when the cached record changes shape


def module_files(names) -> list[str]:
    """The source files of the modules ``names`` (those imported while the plugins loaded)."""
    files = {getattr(sys.modules.get(name), "__file__", None) for name in names}
    return sorted(f for f in files if isinstance(f, str))


def _stamps(files: list[str]) -> tuple | None:
    stamps = []
    for path in files:
        try:
            status = os.stat(path)
        except OSError:
            return None  # a module file gone: the cache is stale
        stamps.append((path, status.st_mtime_ns, status.st_size))
    return tuple(stamps)


def _key() -> tuple[str, str | None]:
    return fingerprint(), os.environ.get("PLUGHUB_PLUGINS")


def load() -> list[tuple] | None:
    """The cached command rows ``(name, help, short_help, hidden, deprecated)``, or None
    when there is no valid cache."""
    if os.environ.get("PLUGHUB_NO_CACHE") == "1":
        return None
    try:
        fmt, key, stamps, rows = marshal.loads(cache_file("commands").read_bytes())
        if fmt != FORMAT or key != _key() or _stamps([s[0] for s in stamps]) != stamps:
            return None
        if not all(isinstance(r, tuple) and len(r) == 5 and isinstance(r[0], str) for r in rows):
            return None
        return list(rows)
    except Exception:  # noqa: BLE001 - missing, truncated or foreign bytes: load the plugins instead
        return None


def save(rows: list[tuple], files: list[str]) -> None:
    """Keep ``rows`` for the next listing, tied to ``files`` and the installed distributions."""
    if os.environ.get("PLUGHUB_NO_CACHE") == "1":
        return
    stamps = _stamps(files)
    if stamps is not None:
        write_atomically(cache_file("commands"), marshal.dumps((FORMAT, _key(), stamps, tuple(rows))))


def rows_of(commands) -> list[tuple]:
    """The cacheable description of click commands: what their short help is made from."""
    return [(c.name, c.help or "", c.short_help, bool(c.hidden), c.deprecated) for c in commands]
