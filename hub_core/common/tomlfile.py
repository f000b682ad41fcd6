"""Read TOML files with errors that say ``file:line:column: what is wrong``."""
from __future__ import annotations

import re
from pathlib import Path

from hub_core.common.errors import ConfigError

_AT = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def load_toml(path: str | Path) -> dict:
    import tomllib  # here, not at module level: `hub --help` reads no TOML

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except RecursionError:  # tomllib recurses once per level of nesting
        raise ConfigError(f"{path}: nested too deeply (arrays or tables thousands of levels deep)") from None
    except tomllib.TOMLDecodeError as err:
        found = _AT.match(str(err))
        if found:
            raise ConfigError(f"{path}:{found['line']}:{found['col']}: {found['msg']}") from None
        message = str(err).replace(" (at end of document)", "")
        lines = data.decode("utf-8").splitlines() or [""]
        raise ConfigError(f"{path}:{len(lines)}:{len(lines[-1]) + 1}: {message} (at the end of the file)") from None


def line_of(path: str | Path, needle: str) -> int | None:
    """The first line of ``path`` containing ``needle`` (to point at a bad table)."""
    try:
        for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if needle in text:
                return number
    except OSError:
        return None
    return None


def _key(name: str) -> str:
    """A TOML key as written: bare, "quoted" or 'quoted'."""
    quoted = re.escape(name)
    return rf"""(?:"{quoted}"|'{quoted}'|{quoted})"""


def locate(path: str | Path, *keys: str) -> tuple[int, int]:
    """Line and column (1-based) where the dotted key ``keys`` is written in ``path``.

    Finds the table header naming the longest prefix of ``keys`` (``[presets."x"]``),
    then the line inside that table where the next key is assigned. Falls back to the
    first line mentioning the last key, then to 1:1. Meant for error messages only.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1, 1
    for depth in range(len(keys), 0, -1):
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(_key(k) for k in keys[:depth]) + r"\s*\]")
        for number, text in enumerate(lines):
            if not header.match(text):
                continue
            if depth == len(keys):
                return number + 1, text.find(keys[-1]) + 1
            assignment = re.compile(r"^\s*" + _key(keys[depth]) + r"\s*[=.]")
            for inner in range(number + 1, len(lines)):
                if lines[inner].lstrip().startswith("["):
                    break
                if assignment.match(lines[inner]):
                    return inner + 1, max(lines[inner].find(keys[-1]), lines[inner].find(keys[depth])) + 1
            return number + 1, 1
    for number, text in enumerate(lines):
        if keys and keys[-1] in text:
            return number + 1, text.find(keys[-1]) + 1
    return 1, 1
