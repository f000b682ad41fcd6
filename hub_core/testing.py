"""Helpers for testing the hub and its plugins (also for third-party plugin authors)."""
from __future__ import annotations

import contextlib
import io


def run_hub(*args) -> tuple[int, str, str]:
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from hub_core.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exit_:
            code = exit_.code or 0
    return code, out.getvalue(), err.getvalue()
