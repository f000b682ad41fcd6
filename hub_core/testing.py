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


def load_hub_with(monkeypatch, **modules: str):
    """The hub with extra plugin modules (``name="package.module"``) loaded as if they were
    installed, for the length of a test (``monkeypatch`` is pytest's fixture)."""
    from hub_core.plugin import manager

    monkeypatch.setattr(manager, "BUILTINS", {**manager.BUILTINS, **modules})
    return manager.load_hub()
