"""Files that are not regular files (a FIFO, a device) are refused as data at once: opening
a FIFO waits for a writer for ever."""
from __future__ import annotations

import pytest


def test_a_fifo_named_as_an_image_is_refused_at_once(tmp_path):
    import os
    import signal

    from hub_core.common.errors import DataError
    from hub_vision.images import open_rgb

    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    signal.alarm(20)  # opening it would wait for a writer for ever: the test fails instead of hanging
    try:
        with pytest.raises(DataError, match="not a regular file"):
            open_rgb(fifo)
    finally:
        signal.alarm(0)


def test_data_naming_a_fifo_is_refused_as_not_a_regular_file(hub_cli, tmp_path):
    import os

    os.mkfifo(tmp_path / "data.csv")
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", tmp_path / "data.csv",
                              "-o", tmp_path / "run")
    assert code != 0 and stderr.count("\n") == 1 and "is not a regular file" in stderr, stderr
