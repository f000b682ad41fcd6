"""Tables drawn without rich: plain aligned columns for a pipe or a file, the same layout
in a box (rich's heavy-head box, bold header) for a terminal.

rich's import and its table layout cost ~30 + ~50 ms: half of a ``hub list`` start, for
tables of a few dozen short rows. The rules are those of console.print_table: names stay
whole, only the wrapping columns wrap, at spaces. Widths count terminal cells (an East
Asian wide character is two, a combining mark none).
"""
from __future__ import annotations

import textwrap
import unicodedata

GAP = "  "
BOLD, RESET = "\x1b[1m", "\x1b[0m"


def cell_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render(title: str | None, columns: list[str], cells: list[list[str]], wrapping: set[str],
           min_widths: list[int], width: int, boxed: bool = False, bold: bool = False) -> str:
    """The table as text, ``width`` columns at most where the minimum widths allow it."""
    natural = [max([cell_width(column), *(cell_width(row[i]) for row in cells)]) for i, column in enumerate(columns)]
    rules = 3 * len(columns) + 1 if boxed else len(GAP) * (len(columns) - 1)
    widths = _fit(columns, natural, min_widths, wrapping, width - rules)
    header = _line(columns, widths, boxed, "┃", BOLD if bold else "")
    body = []
    for row in cells:
        wrapped = [textwrap.wrap(value, widths[i], break_long_words=False, break_on_hyphens=False) or [""]
                   if columns[i] in wrapping else [value] for i, value in enumerate(row)]
        for depth in range(max(map(len, wrapped))):
            body.append(_line([part[depth] if depth < len(part) else "" for part in wrapped], widths, boxed, "│"))
    lines = [title] if title else []
    if boxed:
        lines += [_rule("┏━┳┓", widths), header, _rule("┡━╇┩", widths), *body, _rule("└─┴┘", widths)]
    else:
        lines += [header, *body]
    return "\n".join(lines) + "\n"


def _fit(columns, natural, min_widths, wrapping, room) -> list[int]:
    """Natural widths if they fit; else the wrapping columns share what the others leave,
    in proportion to their natural widths, none below its minimum."""
    if sum(natural) <= room:
        return natural
    fixed = sum(n for n, c in zip(natural, columns) if c not in wrapping)
    flexible = sum(n for n, c in zip(natural, columns) if c in wrapping) or 1
    spare = max(room - fixed, 0)
    return [n if c not in wrapping else max(m, min(n, spare * n // flexible))
            for n, m, c in zip(natural, min_widths, columns)]


def _line(values: list[str], widths: list[int], boxed: bool, bar: str, style: str = "") -> str:
    padded = [value + " " * (w - cell_width(value)) for value, w in zip(values, widths)]
    if not boxed:
        return GAP.join(padded).rstrip()
    styled = [f"{style}{p}{RESET}" if style else p for p in padded]
    return bar + bar.join(f" {p} " for p in styled) + bar


def _rule(corners: str, widths: list[int]) -> str:
    left, line, joint, right = corners
    return left + joint.join(line * (w + 2) for w in widths) + right
