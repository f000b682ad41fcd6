"""Output for people (rich tables, on stderr-free stdout) and for scripts (JSON)."""
from __future__ import annotations

import json
import sys


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str | None, columns: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console(soft_wrap=False).print(table)


def notice(message: str) -> None:
    """A one-line notice for the user on stderr (never mixed into JSON output)."""
    sys.stderr.write(f"hub: {message}\n")
