"""``hub`` with the tiny test plugin loaded: ``python tests/run_hub.py ARGS`` (also under torchrun)."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_core.plugin import manager as plugins  # noqa: E402

plugins.BUILTINS["tiny"] = "tests.tinyplug"
if os.environ.get("PLUGHUB_TEST_SHAPES"):  # the task-contract shape tests' plugin
    plugins.BUILTINS["shapes"] = "tests.shapeplug"
    plugins.BUILTINS["seq"] = "tests.seqplug"

from hub_core.cli.main import main  # noqa: E402

if __name__ == "__main__":
    main()
