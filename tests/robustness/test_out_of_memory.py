"""Too little memory (for torch, for the first batch) is one line saying what to ask for
less of, not an internal error: MemoryError, and torch's allocator failing on CPU or GPU."""
from __future__ import annotations

import pytest

from tests.tinyplug import make_blobs

FAILURES = [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't "
                                        "allocate memory: you tried to allocate 3221225472 bytes. Error code 12"),
            RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")]


@pytest.mark.parametrize("failure", FAILURES, ids=["MemoryError", "cpu-allocator", "cuda"])
def test_out_of_memory_is_one_line(hub_cli, tmp_path, monkeypatch, failure):
    from hub_core.train import loop

    def no_memory(*args, **kwargs):
        raise failure

    monkeypatch.setattr(loop, "train", no_memory)
    make_blobs(tmp_path / "train.csv", n=60)
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", tmp_path / "train.csv",
                              "-o", tmp_path / "run")
    assert code == 1 and stderr.count("\n") == 1 and "internal error" not in stderr, stderr
    assert stderr.startswith("hub: error: out of memory") and "--batch-size" in stderr


def test_other_runtime_errors_stay_internal(hub_cli, tmp_path, monkeypatch):
    from hub_core.train import loop

    monkeypatch.setattr(loop, "train", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    make_blobs(tmp_path / "train.csv", n=60)
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", tmp_path / "train.csv",
                              "-o", tmp_path / "run")
    assert code == 1 and "internal error: RuntimeError: shape mismatch" in stderr
