"""Read TOML files with errors that say ``file:line:column: what is wrong``."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from hub_core.errors import ConfigError

_AT = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def load_toml(path: str | Path) -> dict:
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
    except tomllib.TOMLDecodeError as err:
        found = _AT.match(str(err))
        if found:
            raise ConfigError(f"{path}:{found['line']}:{found['col']}: {found['msg']}") from None
        raise ConfigError(f"{path}: {err}") from None


def line_of(path: str | Path, needle: str) -> int | None:
    """The first line of ``path`` containing ``needle`` (to point at a bad table)."""
    try:
        for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if needle in text:
                return number
    except OSError:
        return None
    return None
