"""Data at scale: batches from worker processes, the disk cache, bad data inside a worker.

Batches must not depend on the worker count (augmentation is seeded by (seed, epoch,
index)); a kill -9 resume with workers is bit-identical; the disk cache is keyed by the
data (a changed file is a new entry), atomic (a killed build is never read) and bounded.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hub_core.common import diskcache
from hub_core.common.errors import DataError, UsageError
from hub_core.model.contracts import Example
from hub_core.data.sets import ExampleSet, plan_batches
from hub_core.data.loader import Loader, default_workers
from tests.tinyplug import VectorPreprocessor, make_blobs


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PLUGHUB_CACHE_LIMIT", raising=False)


class Noisy(VectorPreprocessor):
    """Augments: noise drawn from the rng it is given. ``bad`` inputs fail as a corrupt file does."""

    augments = True

    def __call__(self, raw, *, train=False, rng=None):
        if isinstance(raw, str) and raw.startswith("bad"):
            raise ValueError("cannot identify image file (truncated)")
        arrays = super().__call__(raw)
        if train:
            arrays["x"] = arrays["x"] + rng.normal(size=arrays["x"].shape).astype(np.float32)
        return arrays


class Task:
    def encode(self, label, arrays):
        return np.asarray(label, dtype=np.int64)

    def collate_targets(self, targets):
        return np.stack(targets)

    def state(self):
        return {"labels": 3}


def vectors(n=200, bad=()):
    rng = np.random.default_rng(0)
    return [Example("bad" if i in bad else rng.normal(size=8).astype(np.float32).tolist(), i % 3, f"data.csv:{i + 2}")
            for i in range(n)]


def preprocessor(cls=Noisy):
    p = cls({})
    p.config.update(mean=[0.0] * 8, std=[1.0] * 8)
    return p


def epoch_batches(data, workers, epoch=1, start=0):
    plan = plan_batches(len(data), 16, shuffle=True, seed=3, epoch=epoch)
    loader = Loader(data, workers, tensors=False)
    try:
        return list(loader(plan[start:], epoch))
    finally:
        loader.close()


def test_default_workers_leave_a_core_to_training():
    cores = len(os.sched_getaffinity(0))
    assert default_workers() == (0 if cores == 1 else min(4, cores - 1))


def test_batches_are_identical_whatever_the_worker_count_and_resume_takes_the_tail():
    data = ExampleSet(vectors(), preprocessor(), Task(), train=True, seed=3)
    alone, two, three = (epoch_batches(data, w) for w in (0, 2, 3))
    assert len(alone) == len(two) == len(three) == 13
    for a, b, c in zip(alone, two, three):
        assert np.array_equal(a[0]["x"], b[0]["x"]) and np.array_equal(a[0]["x"], c[0]["x"])
        assert np.array_equal(a[1], b[1])
    tail = epoch_batches(data, 2, start=5)  # a run resumed at batch 5 sees the same batches 5..
    assert all(np.array_equal(a[0]["x"], t[0]["x"]) for a, t in zip(alone[5:], tail))
    assert not np.array_equal(epoch_batches(data, 0, epoch=2)[0][0]["x"], alone[0][0]["x"])  # augmentation moves


def test_a_bad_example_inside_a_worker_is_one_line_and_stops_the_workers():
    data = ExampleSet(vectors(bad={37}), preprocessor(), Task(), train=True, seed=3)
    with pytest.raises(DataError) as caught:
        epoch_batches(data, 2)
    assert str(caught.value) == "data.csv:39: cannot identify image file (truncated)"
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()


def test_skip_bad_leaves_the_example_out_and_counts_it(capsys):
    data = ExampleSet(vectors(bad={37, 90}), preprocessor(), Task(), train=True, seed=3, skip_bad=True)
    batches = epoch_batches(data, 2)
    assert sum(len(b[1]) for b in batches) == 198
    assert len(data.skipped) == 2 and "data.csv:39" in " ".join(data.skipped)
    assert "skipped 2 unreadable example(s)" in capsys.readouterr().err


class HangsInAWorker(Noisy):
    """Never returns example 50 inside a worker (as a worker forked while another thread held a
    lock it needs waits); in the training process it is an ordinary example."""

    def __call__(self, raw, *, train=False, rng=None):
        from torch.utils.data import get_worker_info

        if get_worker_info() is not None and raw == "hang":
            time.sleep(3600)
        return super().__call__(vectors()[50].input if raw == "hang" else raw, train=train, rng=rng)


def test_workers_that_send_nothing_are_given_up_and_the_batches_are_the_same(monkeypatch, capsys):
    examples = vectors()
    expected = epoch_batches(ExampleSet(examples, preprocessor(), Task(), train=True, seed=3), 0)
    examples[50] = Example("hang", examples[50].label, examples[50].source)
    monkeypatch.setenv("PLUGHUB_WORKER_TIMEOUT", "2")
    got = epoch_batches(ExampleSet(examples, preprocessor(HangsInAWorker), Task(), train=True, seed=3), 2)
    assert len(got) == len(expected) == 13
    assert all(np.array_equal(a[0]["x"], b[0]["x"]) and np.array_equal(a[1], b[1]) for a, b in zip(expected, got))
    assert "the data workers sent no batch in 2 s" in capsys.readouterr().err
    assert not multiprocessing.active_children()


def test_a_worker_timeout_that_is_not_a_number_is_one_line(monkeypatch):
    monkeypatch.setenv("PLUGHUB_WORKER_TIMEOUT", "soon")
    data = ExampleSet(vectors(), preprocessor(), Task(), train=True, seed=3)
    with pytest.raises(UsageError, match="PLUGHUB_WORKER_TIMEOUT='soon'"):
        epoch_batches(data, 2)


class FromFile(VectorPreprocessor):
    """Reads its vector from the file an example names (as an image or a clip is read)."""

    def __call__(self, raw, *, train=False, rng=None):
        return super().__call__(Path(raw).read_text().strip())

    def length(self, arrays):
        return int(arrays["x"][0] > 0) + 1


def files(folder: Path, n=40):
    folder.mkdir(exist_ok=True)
    examples = []
    for i in range(n):
        path = folder / f"{i}.vec"
        path.write_text(",".join(str(i + j) for j in range(8)))
        examples.append(Example(str(path), i % 3, str(path)))
    return examples


def test_a_deterministic_set_is_preprocessed_once_into_the_disk_cache(tmp_path):
    examples = files(tmp_path / "data")
    direct = ExampleSet(examples, preprocessor(FromFile), Task(), train=False)
    first = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached(workers=2)
    assert first.store is not None and len(diskcache.entries()) == 1
    again = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached()
    assert again.store.folder == first.store.folder  # a hit, not a second entry
    assert len(diskcache.entries()) == 1
    indices = np.array([3, 1, 39])
    for got in (first.collate(indices), again.collate(indices)):
        assert np.array_equal(got[0]["x"], direct.collate(indices)[0]["x"]) and np.array_equal(got[1], [0, 1, 0])
    np.testing.assert_equal(first.lengths(), direct.lengths())
    assert isinstance(first.store.columns["x"].flat, np.memmap)  # mapped, not held


def test_a_cached_set_lets_its_raw_examples_go_and_reads_the_entry(tmp_path):
    examples = files(tmp_path / "data")
    direct = ExampleSet(examples, preprocessor(FromFile), Task(), train=False)
    cached = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached()
    cached.forget_inputs()
    assert len(cached) == 40 and cached.lengths() is not None
    indices = np.array([0, 39, 7])
    assert np.array_equal(cached.collate(indices)[0]["x"], direct.collate(indices)[0]["x"])
    with pytest.raises(RuntimeError, match="let go"):
        cached.examples[0]
    uncached = ExampleSet(examples, preprocessor(FromFile), Task(), train=False)
    uncached.forget_inputs()  # no entry: the examples are still what it reads
    assert uncached.examples is examples


def test_integer_arrays_are_stored_narrow_and_read_back_as_given(tmp_path):
    """Token ids (int64 from the tokenizer) go to disk in the narrowest type that holds them:
    the cache and the pages a pass maps are 4-8x smaller; every read gives the original type."""
    from types import SimpleNamespace

    from hub_core.data.arraycache import Cached, Writer

    rng = np.random.default_rng(0)
    given = [{"ids": rng.integers(0, 30_000, 16), "mask": np.ones(16, np.int64), "signed": np.array([-5, 100], np.int32),
              "big": np.array([2**40], np.int64), "float": rng.standard_normal(3).astype(np.float32)} for _ in range(50)]
    writer = Writer(tmp_path)
    for arrays in given:
        writer.add(SimpleNamespace(arrays=arrays, target=np.int64(7)), 16)
    writer.close()
    meta = json.loads((tmp_path / "arrays.json").read_text())
    assert {name: spec.get("stored") for name, spec in meta["arrays"].items()} == {
        "ids": "<u2", "mask": "|u1", "signed": "|i1", "big": None, "float": None}
    assert (tmp_path / "a0.bin").stat().st_size == 50 * 16 * 2
    cached = Cached(tmp_path)
    for i in (0, 17, 49):
        arrays, target = cached.item(i)
        assert target == 7 and target.dtype == np.int64
        for name, value in given[i].items():
            assert arrays[name].dtype == value.dtype and np.array_equal(arrays[name], value)
    batch, targets = cached.rows([3, 1])
    assert batch["ids"].dtype == np.int64 and np.array_equal(batch["ids"], np.stack([given[3]["ids"], given[1]["ids"]]))


def test_examples_of_varying_shapes_come_back_exactly(tmp_path):
    """Ragged arrays (texts of different lengths, 2-D spans) are read back through their mapped
    offsets and shapes; one varying column makes the entry not fixed, a shared shape makes it fixed."""
    from types import SimpleNamespace

    from hub_core.data.arraycache import Cached, Writer

    rng = np.random.default_rng(1)
    given = [{"ids": rng.integers(0, 9, int(rng.integers(1, 20))), "grid": rng.standard_normal((i % 3 + 1, 2)),
              "same": np.arange(4)} for i in range(300)]
    writer = Writer(tmp_path)
    for i, arrays in enumerate(given):
        writer.add(SimpleNamespace(arrays=arrays, target=None), len(arrays["ids"]))
    writer.close()
    cached = Cached(tmp_path)
    assert not cached.fixed and cached.columns["same"].fixed and not cached.columns["grid"].fixed
    assert cached.lengths.tolist() == [len(a["ids"]) for a in given]
    for i in (0, 1, 2, 150, 299):
        arrays, target = cached.item(i)
        assert target is None
        for name, value in given[i].items():
            assert arrays[name].dtype == value.dtype and np.array_equal(arrays[name], value)


def test_a_changed_data_file_or_label_map_is_a_new_entry(tmp_path):
    examples = files(tmp_path / "data")
    first = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached()
    path = Path(examples[5].input)
    path.write_text(",".join(["100"] * 8))
    os.utime(path, ns=(time.time_ns() + 10**9,) * 2)
    second = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached()
    assert second.store.folder != first.store.folder
    assert second.get(5).arrays["x"][0] == 100 and first.get(5).arrays["x"][0] == 5

    class OtherLabels(Task):
        def state(self):
            return {"labels": 4}

    third = ExampleSet(examples, preprocessor(FromFile), OtherLabels(), train=False).cached()
    assert third.store.folder not in (first.store.folder, second.store.folder)


def test_a_killed_build_is_never_read_and_is_cleaned_up(tmp_path):
    examples = files(tmp_path / "data")
    root = diskcache.root()
    root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    from hub_core.data.arraycache import examples_key

    key = examples_key(examples, preprocessor(FromFile), Task(), labelled=True)
    abandoned = root / f".tmp-{key}-{dead.stdout.strip()}"
    abandoned.mkdir()
    (abandoned / "a0.bin").write_bytes(b"\0" * 10)  # half a build: no arrays.json, no entry.json
    (root / key).mkdir()  # and a folder under the final name without its marker
    assert diskcache.lookup(key) is None
    (root / key).rmdir()
    data = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached()
    assert data.store is not None and not abandoned.exists()
    assert data.get(7).arrays["x"][0] == 7


def test_a_build_that_fails_publishes_nothing(tmp_path):
    examples = files(tmp_path / "data")
    Path(examples[30].input).unlink()  # vanished after reading
    with pytest.raises(DataError, match="30.vec"):
        ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached(workers=2)
    assert diskcache.entries() == [] and not list(diskcache.root().glob(".tmp-*"))
    skipping = ExampleSet(examples, preprocessor(FromFile), Task(), train=False, skip_bad=True).cached()
    assert skipping.store is None  # a set with holes is preprocessed on access instead


def test_the_size_limit_evicts_the_least_recently_used(tmp_path, monkeypatch):
    sets = [files(tmp_path / f"d{i}") for i in range(3)]
    folders = [ExampleSet(s, preprocessor(FromFile), Task(), train=False).cached().store.folder for s in sets[:2]]
    size = diskcache.entries()[0]["bytes"]
    os.utime(folders[0] / diskcache.META, (time.time() + 5,) * 2)  # the first was used last
    monkeypatch.setenv("PLUGHUB_CACHE_LIMIT", str(int(size * 2.5)))
    ExampleSet(sets[2], preprocessor(FromFile), Task(), train=False).cached()
    kept = {e["path"] for e in diskcache.entries()}
    assert str(folders[0]) in kept and str(folders[1]) not in kept and len(kept) == 2
    monkeypatch.setenv("PLUGHUB_CACHE_LIMIT", "0")
    assert ExampleSet(sets[1], preprocessor(FromFile), Task(), train=False).cached().store is None


def test_cache_list_and_clear(hub_cli, tmp_path):
    ExampleSet(files(tmp_path / "data"), preprocessor(FromFile), Task(), train=False).cached()
    code, out, _ = hub_cli("cache", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed["entries"]) == 1 and listed["entries"][0]["kind"] == "examples"
    code, _, err = hub_cli("cache", "clear")
    assert code == 0 and "removed 1 entries" in err and diskcache.entries() == []


# ----------------------------------------------------------------------------- end to end
def finetune(hub_cli, data, out, *extra):
    code, stdout, stderr = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", out,
                                   "--epochs", "2", "--batch-size", "16", *extra)
    assert code == 0, stderr
    return stderr


def test_finetune_with_workers_gives_the_weights_of_a_run_without(hub_cli, tmp_path):
    from safetensors.numpy import load_file

    data = make_blobs(tmp_path / "train.csv", n=300, seed=2)
    finetune(hub_cli, data, tmp_path / "w0", "--workers", "0", "--quiet")
    finetune(hub_cli, data, tmp_path / "w2", "--workers", "2", "--quiet")
    first, second = load_file(tmp_path / "w0" / "model.safetensors"), load_file(tmp_path / "w2" / "model.safetensors")
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    assert json.loads((tmp_path / "w2" / "run.json").read_text())["config"]["workers"] == 2


def test_a_second_head_only_run_reuses_the_backbone_features(hub_cli, tmp_path):
    data = make_blobs(tmp_path / "train.csv", n=300, seed=2)
    first = finetune(hub_cli, data, tmp_path / "a", "--freeze", "backbone")
    second = finetune(hub_cli, data, tmp_path / "b", "--freeze", "backbone")
    assert "backbone features cached;" in first and "reused from the disk cache" in second
    metrics = [json.loads((tmp_path / d / "hub.json").read_text())["metrics"] for d in "ab"]
    assert metrics[0] == metrics[1]


def test_kill_9_mid_epoch_with_workers_resumes_bit_identically(tmp_path):
    from tests.robustness.helpers import assert_identical
    from tests.robustness.test_interruption import ENV, RUNNER, command, wait_for_progress

    data = make_blobs(tmp_path / "train.csv", n=800, seed=4)
    subprocess.run(RUNNER + command(data, tmp_path / "straight", "--workers", "2"), check=True, env=ENV, timeout=300)
    out = tmp_path / "killed"
    proc = subprocess.Popen(RUNNER + command(data, out, "--workers", "2"), env=ENV)
    wait_for_progress(proc, out, beyond=7)
    proc.kill()
    proc.wait()
    subprocess.run(RUNNER + command(data, out, "--workers", "2", "--resume"), check=True, env=ENV, timeout=300)
    assert_identical(tmp_path / "straight", out)


def test_a_set_too_large_for_the_cache_is_preprocessed_on_access(tmp_path, monkeypatch, capsys):
    examples = files(tmp_path / "data")
    monkeypatch.setenv("PLUGHUB_CACHE_LIMIT", str(40 * 32 * 4 - 1))  # a quarter of it holds less than the set
    data = ExampleSet(examples, preprocessor(FromFile), Task(), train=False).cached()
    assert data.store is None and diskcache.entries() == []
    assert "40 examples would take about" in capsys.readouterr().err
    assert data.get(9).arrays["x"][0] == 9


@pytest.mark.slow
def test_two_nodes_on_localhost_train_one_model(tmp_path):
    """torchrun --nnodes 2 with c10d rendezvous, one process a "node", as on two machines
    (docs/user-guide.md, Distributed training): each rank trains on its share of the batches."""
    from tests.torchrun import two_nodes

    data = make_blobs(tmp_path / "train.csv", n=400, seed=0)
    results = two_nodes("hub-two-nodes", "finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o",
                        tmp_path / "two-nodes", "--epochs", "4", "--lr", "3e-3", "--workers", "1", "--quiet")
    assert [code for code, _ in results] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    manifest = json.loads((tmp_path / "two-nodes" / "hub.json").read_text())
    assert manifest["metrics"]["accuracy"] >= 0.9
