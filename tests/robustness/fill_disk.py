"""``hub`` with the tiny test plugin whose file system "fills up" at a chosen write: a real OS
limit (RLIMIT_FSIZE, lowered to a few bytes, with SIGXFSZ ignored so that a write past it
fails with EFBIG as a full disk fails with ENOSPC) comes into force just before that write
(for test_full_disk.py):

    python fill_disk.py WHERE N HUB-ARGS...

WHERE: ``checkpoint`` (the Nth checkpoint write of the loop) or ``model`` (the final model
directory, N ignored).
"""
import resource
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hub_core.plugin import manager as plugins  # noqa: E402
from hub_core.train import loop  # noqa: E402

plugins.BUILTINS["tiny"] = "tests.tinyplug"
WHERE, NTH = sys.argv[1], int(sys.argv[2])
FULL = 64  # bytes: less than any file the hub writes


def filling(real, nth: int):
    calls = 0

    def write(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (FULL, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        return real(*args, **kwargs)

    return write


if WHERE == "checkpoint":
    loop.save_checkpoint = filling(loop.save_checkpoint, NTH)
else:
    loop.save_model = filling(loop.save_model, 1)

from hub_core.cli.main import main  # noqa: E402

if __name__ == "__main__":
    main(sys.argv[3:])
