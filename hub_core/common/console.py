"""Output for people (tables: boxed on a terminal, plain aligned columns to a pipe or file) and for scripts (JSON)."""
from __future__ import annotations

import json
import sys


def print_json(data) -> None:
    def plain(value):  # numpy arrays and scalars (a many-class task's per-class rows) as lists and numbers
        return value.tolist() if hasattr(value, "tolist") else str(value)

    sys.stdout.write(json.dumps(data, indent=2, default=plain) + "\n")


def print_table(title: str | None, columns: list[str], rows: list[list], wrap: tuple[str, ...] = ()) -> None:
    """A table whose names stay whole at any width: only the ``wrap`` columns (default: the
    last, the free text) wrap, at spaces; where even that does not fit (a narrow terminal,
    COLUMNS=80), each row becomes a short block instead. On a terminal in a box, to a pipe
    or a file as plain aligned columns (``common/plaintable.py``, without rich)."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    wrapping = set(wrap or columns[-1:])
    widths = [_min_width(column, [row[i] for row in cells], column in wrapping) for i, column in enumerate(columns)]
    plain = not sys.stdout.isatty()
    rules = 2 * (len(columns) - 1) if plain else 3 * len(columns) + 1  # the gaps, or the box's borders and padding
    # no terminal anywhere (CI, a log file) and no COLUMNS: no width to fit, so aligned columns whole, not blocks
    width = terminal_width(None) or sum(max(map(len, [c, *(row[i] for row in cells)])) for i, c in enumerate(columns)) + rules
    if sum(widths) + rules > width:
        sys.stdout.write(_blocks(title, columns, cells, wrapping, width))
        return
    from hub_core.common import plaintable

    sys.stdout.write(plaintable.render(title, columns, cells, wrapping, widths, width, boxed=not plain,
                                       bold=not plain and _colour()))


def _colour() -> bool:
    """Bold headers, unless the user asked for no colour (NO_COLOR, TERM=dumb)."""
    import os

    return "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


WRAP_MIN = 24  # a wrapping column is never narrower than this (or its longest word, if shorter)


def _min_width(header: str, values: list[str], wraps: bool) -> int:
    words = [w for text in [header, *values] for w in text.split()] or [""]
    longest_word = max(map(len, words))
    if wraps:
        return min(max(longest_word, min(WRAP_MIN, max(map(len, [header, *values])))), 40)
    return max(max((len(v) for v in values), default=0), longest_word)


def terminal_width(fallback: int | None = 80) -> int | None:
    """rich's choice of width, without rich: the terminal's width (of stdin, stdout or stderr:
    ``hub list | less`` still fits the screen), COLUMNS when set, else ``fallback``."""
    import os

    width = None
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
            break
        except (AttributeError, ValueError, OSError):  # not a terminal
            pass
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or fallback


def _blocks(title, columns, cells, wrapping, width: int) -> str:
    """The narrow form: one line of the short fields per row, the wrapping fields below it, indented."""
    import textwrap

    short = [i for i, c in enumerate(columns) if c not in wrapping]
    long = [i for i, c in enumerate(columns) if c in wrapping]
    width = max(width - 4, 20)
    lines = [title] if title else []
    lines.append("  ".join(columns[i] for i in short) + "".join(f"\n    ({columns[i]})" for i in long))
    for row in cells:
        lines.append("  ".join(row[i] for i in short))
        lines.extend(textwrap.fill(row[i], width, initial_indent="    ", subsequent_indent="    ",
                                   break_long_words=False, break_on_hyphens=False) for i in long if row[i])
    return "\n".join(lines) + "\n"


def notice(message: str) -> None:
    """A one-line notice for the user on stderr (never mixed into JSON output)."""
    sys.stderr.write(f"hub: {message}\n")
