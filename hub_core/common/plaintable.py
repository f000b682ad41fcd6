"""Tables as plain aligned columns, for output that is not a terminal (a pipe, a file).

No box drawing and no rich (whose import and layout cost ~50 ms, a third of a ``hub list``
start): column-aligned text that ``grep``, ``cut`` and ``less`` read, like ``git`` or
``docker ps`` print when piped. The rules are the rich table's (see console.print_table):
names stay whole, only the wrapping columns wrap, at spaces.
"""
from __future__ import annotations

import textwrap

GAP = "  "


def render(title: str | None, columns: list[str], cells: list[list[str]], wrapping: set[str],
           min_widths: list[int], width: int) -> str:
    """The table as text lines, ``width`` columns at most where the minimum widths allow it."""
    natural = [max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)]
    widths = _fit(columns, natural, min_widths, wrapping, width)
    lines = [title] if title else []
    lines.append(_line(columns, widths))
    for row in cells:
        wrapped = [textwrap.wrap(value, widths[i], break_long_words=False, break_on_hyphens=False) or [""]
                   if columns[i] in wrapping else [value] for i, value in enumerate(row)]
        for depth in range(max(map(len, wrapped))):
            lines.append(_line([part[depth] if depth < len(part) else "" for part in wrapped], widths))
    return "\n".join(lines) + "\n"


def _fit(columns, natural, min_widths, wrapping, width) -> list[int]:
    """Natural widths if they fit; else the wrapping columns share what the others leave,
    in proportion to their natural widths, none below its minimum."""
    room = width - len(GAP) * (len(columns) - 1)
    if sum(natural) <= room:
        return natural
    fixed = sum(n for n, c in zip(natural, columns) if c not in wrapping)
    flexible = sum(n for n, c in zip(natural, columns) if c in wrapping) or 1
    spare = max(room - fixed, 0)
    return [n if c not in wrapping else max(m, min(n, spare * n // flexible))
            for n, m, c in zip(natural, min_widths, columns)]


def _line(values: list[str], widths: list[int]) -> str:
    return GAP.join(value.ljust(w) for value, w in zip(values, widths)).rstrip()
