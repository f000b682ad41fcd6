"""The ``plughub`` entry points of the installed distributions, cached between runs.

Scanning every installed distribution with importlib.metadata costs ~30 ms (its import
plus parsing a hundred METADATA files) on each ``hub`` start. The cache is keyed on
sys.path and on the modification times of each path entry and of each distribution's
``entry_points.txt``, so installing, uninstalling or editing a distribution invalidates
it by itself. ``PLUGHUB_NO_CACHE=1`` turns it off; ``PLUGHUB_CACHE_DIR`` moves it
(default ``$XDG_CACHE_HOME/plughub`` or ``~/.cache/plughub``).
"""
from __future__ import annotations

import marshal
import os
import re
import sys
import zlib
from dataclasses import astuple, dataclass
from pathlib import Path

GROUP = "plughub"
FORMAT = 2  # bump when the cached record changes shape
SLOTS = 4  # fingerprints kept per interpreter (`hub` and `python -m hub_core` see different sys.paths)


@dataclass(frozen=True)
class PluginEntry:
    """One entry point of the group: ``name = value`` declared by ``dist`` ``version``."""

    name: str
    value: str  # "package.module" or "package.module:attribute"
    dist: str | None
    version: str | None


def normalize(dist_name: str) -> str:
    """PEP 503 normalisation: ``Hub_Plugin.Example`` and ``hub-plugin-example`` are one name."""
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def plugin_entries() -> list[PluginEntry]:
    """The group's entry points, sorted by distribution then name (a stable load order)."""
    if os.environ.get("PLUGHUB_NO_CACHE") == "1":
        return _scan()
    key = fingerprint()
    path = _cache_file()
    slots = _read_cache(path)
    if key in slots:
        return [PluginEntry(*fields) for fields in slots[key]]
    entries = _scan()
    kept = list(slots.items())[-(SLOTS - 1):] + [(key, tuple(astuple(e) for e in entries))]
    write_atomically(path, marshal.dumps((FORMAT, tuple(kept))))
    return entries


def _read_cache(path: Path) -> dict:
    """The cached fingerprint -> entries slots; {} when there is none or it is damaged in any
    way (truncated, foreign bytes, another shape): it is then rebuilt, never a failure."""
    try:
        # marshal, not json: it costs no import; the file is ours and holds plain tuples
        fmt, slots = marshal.loads(path.read_bytes())
        slots = dict(slots) if fmt == FORMAT else {}
        for key, entries in slots.items():
            if not isinstance(key, str) or not all(
                    isinstance(e, tuple) and len(e) == 4 and all(f is None or isinstance(f, str) for f in e)
                    and isinstance(e[0], str) and isinstance(e[1], str) for e in entries):
                return {}
        return slots
    except Exception:  # noqa: BLE001 - marshal meets damaged bytes with ValueError, EOFError, TypeError...
        return {}


def _scan() -> list[PluginEntry]:
    from importlib import metadata  # ~20 ms to import: only on a cache miss

    found = {}
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist else None
        version = ep.dist.version if ep.dist else None
        found.setdefault((normalize(dist or ""), ep.name), PluginEntry(ep.name, ep.value, dist, version))
    return [found[k] for k in sorted(found)]


def fingerprint() -> str:
    """What the entry points depend on: sys.path, each entry's and each dist-info's mtime."""
    parts = []
    for entry in sys.path:
        where = entry or os.getcwd()
        try:
            parts.append(f"{where}={os.stat(where).st_mtime_ns}")
            with os.scandir(where) as listing:
                names = sorted(d.name for d in listing if d.name.endswith((".dist-info", ".egg-info")))
        except OSError:  # missing entry, or a zip file: its own mtime is enough
            parts.append(f"{where}=?")
            continue
        for name in names:
            try:
                parts.append(f"{name}={os.stat(os.path.join(where, name, 'entry_points.txt')).st_mtime_ns}")
            except OSError:
                pass  # a distribution without entry points
    return "\n".join(parts)


def _cache_file() -> Path:
    return cache_file("entry-points")


def cache_file(stem: str) -> Path:
    """Where a start-up cache called ``stem`` lives (PLUGHUB_CACHE_DIR, else the user's cache)."""
    base = os.environ.get("PLUGHUB_CACHE_DIR")
    if not base:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "plughub"
    # one file per interpreter, so that two virtual environments do not evict each other
    return Path(base) / f"{stem}-{zlib.crc32(sys.prefix.encode()):08x}-py{sys.version_info[0]}{sys.version_info[1]}"


def write_atomically(path: Path, data: bytes) -> None:
    from hub_core.common import atomic

    try:
        atomic.write_bytes(path, data)
    except OSError:  # a read-only home: run without the cache
        pass
