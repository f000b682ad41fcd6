"""``hub cache list`` and ``hub cache clear``: the disk cache of preprocessed data and
backbone features (``hub_core.common.diskcache``)."""
from __future__ import annotations

import time

import click


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def add_commands(cli: click.Group) -> None:
    @cli.group("cache")
    def cache():
        """The disk cache: preprocessed data sets and frozen-backbone features, reused by later
        runs of the same data (under $PLUGHUB_HOME/cache, or $PLUGHUB_CACHE; size limit
        $PLUGHUB_CACHE_LIMIT, default 20G, least recently used entries go first; 0 turns it off)."""

    @cache.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    def list_cmd(as_json):
        """The entries, least recently used first, with their size and the total."""
        from hub_core.common import diskcache
        from hub_core.common.console import print_json, print_table

        found = diskcache.entries()
        if as_json:
            print_json({"root": str(diskcache.root()), "limit": diskcache.limit(), "entries": found})
            return
        total = sum(e["bytes"] for e in found)
        print_table(f"{diskcache.root()}: {len(found)} entries, {_size(total)} of {_size(diskcache.limit())}",
                    ["key", "kind", "size", "last used", "what"],
                    [[e["key"][:12], e["kind"], _size(e["bytes"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(e["used"])),
                      e["description"]] for e in found])

    @cache.command("clear")
    def clear_cmd():
        """Remove every entry (and builds that were killed before they finished)."""
        from hub_core.common import diskcache
        from hub_core.common.console import notice

        count, freed = diskcache.clear()
        notice(f"removed {count} entries ({_size(freed)}) from {diskcache.root()}")
