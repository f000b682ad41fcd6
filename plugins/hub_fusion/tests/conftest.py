"""Fixtures of the fusion tests: the root suite's hub with the core's tiny test plugin
(tests/tinyplug.py, numeric vectors and an MLP), so two tiny parts fuse in milliseconds."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.tinyplug, tests.conftest

from tests.conftest import hub_cli, tiny_hub  # noqa: E402,F401 - the same fixtures, not a copy
