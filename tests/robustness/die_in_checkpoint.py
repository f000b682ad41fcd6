"""``hub`` with the tiny test plugin that SIGKILLs itself inside its Nth checkpoint write,
just before one of the renames that publish it (for test_interruption.py):

    python die_in_checkpoint.py WHERE N HUB-ARGS...

WHERE is the moment of the write (hub_core.train.checkpoint.save_checkpoint) to die at:
  inside       a file of the new temporary folder is being put in place (the folder is partial)
  before-swap  the new folder is complete; the old ``last`` is still in place
  mid-swap     the old ``last`` has been moved aside to ``last.old``; the new one is not in place
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub_core.plugin import manager as plugins  # noqa: E402

plugins.BUILTINS["tiny"] = "tests.tinyplug"
WHERE, NTH = sys.argv[1], int(sys.argv[2])
MOMENTS = {
    "inside": lambda dst: dst.parent.name.startswith(".last.tmp-") and dst.name == "model.safetensors",
    "before-swap": lambda dst: dst.name == "last.old",
    "mid-swap": lambda dst: dst.name == "last" and dst.with_name("last.old").exists(),
}
real_replace, seen = os.replace, 0


def replace(src, dst, *args, **kwargs):
    global seen
    if MOMENTS[WHERE](Path(dst)):
        seen += 1
        if seen == NTH:
            os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(src, dst, *args, **kwargs)


os.replace = replace

from hub_core.cli.main import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[3:])
