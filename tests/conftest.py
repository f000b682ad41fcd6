import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def tiny_hub(monkeypatch):
    """The hub with the tiny test plugin loaded as if it were installed."""
    from hub_core import plugins

    monkeypatch.setattr(plugins, "BUILTINS", {**plugins.BUILTINS, "tiny": "tests.tinyplug"})
    return plugins.load_hub()


@pytest.fixture
def hub_cli(tiny_hub):
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""
    import contextlib
    import io

    from hub_core.cli import main

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
            except SystemExit as exit_:
                code = exit_.code or 0
        return code, out.getvalue(), err.getvalue()

    return run
