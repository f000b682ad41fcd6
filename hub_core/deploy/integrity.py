"""What ships is what was validated: ``export.json`` records the SHA-256 of each graph it
wrote, and every command that runs a graph (predict, evaluate, serve, bench) checks it first.

A ``model.onnx`` replaced after ``hub export`` (another model's graph, an edited file) would
otherwise run under a report that says "ok". A report without digests (an export older than
this check) or a graph it does not name is not refused: there is nothing to compare with.
"""
from __future__ import annotations

import json
from pathlib import Path

from hub_core.common.digest import sha256_file
from hub_core.common.errors import ExportError

REPORT = "export.json"
KEY = "sha256"
sha256 = sha256_file  # a graph's digest, as export.json records it


def digests(*paths) -> dict[str, str]:
    """{file name: SHA-256} of the graphs among ``paths`` that exist."""
    return {Path(p).name: sha256(Path(p)) for p in paths if p and Path(p).is_file()}


def check(directory: Path, graph: Path) -> None:
    """ExportError when ``export.json`` in ``directory`` names ``graph`` with another digest."""
    try:
        recorded = json.loads((Path(directory) / REPORT).read_text(encoding="utf-8")).get(KEY) or {}
    except (OSError, ValueError, AttributeError):
        return  # no report (a graph exported elsewhere), or one the export summary already calls unreadable
    expected = recorded.get(Path(graph).name) if isinstance(recorded, dict) else None
    if expected and sha256(Path(graph)) != expected:
        raise ExportError(f"{graph}: not the graph {REPORT} validated (its SHA-256 differs from the one recorded at "
                          "export): it was replaced or changed since; run 'hub export' again")
