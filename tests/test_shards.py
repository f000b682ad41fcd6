"""WebDataset-style tar shards as --data: images and audio with their labels, a glob of
shards, a truncated shard named in one line, unpacked once into the disk cache."""
from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from hub_core.common import diskcache
from hub_core.common.errors import DataError
from hub_core.model.contracts import ReadOptions
from hub_core.data.sets import read_examples


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PLUGHUB_CACHE_LIMIT", raising=False)


def write_shards(files: list[Path], out: Path, per_shard: int, label_as: str = "cls") -> list[Path]:
    """files of class folders -> out-000.tar, out-001.tar ...: KEY.<ext> + KEY.cls (or KEY.json)."""
    shards = []
    for start in range(0, len(files), per_shard):
        shard = out.parent / f"{out.name}-{len(shards):03d}.tar"
        with tarfile.open(shard, "w") as tar:
            for i, file in enumerate(files[start:start + per_shard]):
                key = f"sample{start + i:05d}"
                tar.add(file, arcname=f"{key}{file.suffix}")
                label = (file.parent.name if label_as == "cls" else json.dumps({"label": file.parent.name})).encode()
                info = tarfile.TarInfo(f"{key}.{label_as}")
                info.size = len(label)
                tar.addfile(info, io.BytesIO(label))
        shards.append(shard)
    return shards


def modality(name: str):
    from hub_core.plugin.manager import load_hub

    return load_hub().catalogue.modality(name)


def check_same(examples, files):
    assert [e.label for e in examples] == [f.parent.name for f in files]
    assert [Path(e.input).read_bytes() for e in examples] == [f.read_bytes() for f in files]


def test_image_shards_read_as_the_folder_they_came_from(tmp_path):
    from hub_vision.demo import make_shapes

    folder = make_shapes(tmp_path / "shapes", per_class=5, size=16, seed=2)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    write_shards(files, tmp_path / "train", per_shard=4)
    examples = read_examples(modality("image"), str(tmp_path / "train-*.tar"), ReadOptions())
    check_same(examples, files)
    assert [e["kind"] for e in diskcache.entries()] == ["shards"]
    again = read_examples(modality("image"), str(tmp_path / "train-*.tar"), ReadOptions())
    assert [e.input for e in again] == [e.input for e in examples] and len(diskcache.entries()) == 1


def test_audio_shards_with_json_labels(tmp_path):
    from hub_speech.signals import write_dataset

    write_dataset(tmp_path / "tones", 3, kinds=("low", "high"), seconds=(0.2, 0.3), seed=1)
    files = sorted(tmp_path.joinpath("tones").rglob("*.wav"))
    (shard,) = write_shards(files, tmp_path / "clips", per_shard=100, label_as="json")
    check_same(read_examples(modality("audio"), shard, ReadOptions()), files)


def test_a_truncated_shard_is_one_line_and_a_changed_one_a_new_entry(tmp_path):
    from hub_vision.demo import make_shapes

    folder = make_shapes(tmp_path / "shapes", per_class=3, size=16, seed=2)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    shards = write_shards(files, tmp_path / "train", per_shard=4)
    read_examples(modality("image"), str(tmp_path / "train-*.tar"), ReadOptions())
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[:len(data) // 2 + 100])
    os.utime(shards[1], ns=(time.time_ns() + 10**9,) * 2)
    with pytest.raises(DataError, match=r"train-001.tar: truncated or unreadable shard"):
        read_examples(modality("image"), str(tmp_path / "train-*.tar"), ReadOptions())
    assert len(diskcache.entries()) == 1 and not list(diskcache.root().glob(".tmp-*"))  # nothing half-built kept
    with pytest.raises(DataError, match="no shards match"):
        read_examples(modality("image"), str(tmp_path / "none-*.tar"), ReadOptions())


def test_finetune_and_evaluate_on_a_glob_of_shards(hub_cli, tmp_path):
    from hub_vision.demo import make_shapes

    folder = make_shapes(tmp_path / "shapes", per_class=12, size=32, seed=4)
    write_shards(sorted(p for p in folder.rglob("*") if p.is_file()), tmp_path / "train", per_shard=10)
    code, _, err = hub_cli("finetune", "vision/tiny", "-t", "classification", "-d", tmp_path / "train-*.tar", "-o",
                           tmp_path / "run", "--max-steps", "3", "--workers", "1", "--quiet")
    assert code == 0, err
    code, out, err = hub_cli("evaluate", tmp_path / "run", "-d", tmp_path / "train-*.tar", "--json")
    assert code == 0, err
    assert 0 <= json.loads(out)["accuracy"] <= 1


def test_predict_on_shards_and_on_images_stored_in_parquet_names_each_sample(hub_cli, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from hub_vision.demo import make_shapes

    folder = make_shapes(tmp_path / "shapes", per_class=6, size=16, seed=3)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    write_shards(files, tmp_path / "test", per_shard=5)
    code, _, err = hub_cli("finetune", "vision/tiny", "-t", "classification", "-d", folder, "-o", tmp_path / "run",
                           "--max-steps", "2", "--workers", "0", "-p", "image_size=16", "--quiet")
    assert code == 0, err
    code, out, err = hub_cli("predict", tmp_path / "run", "--data", str(tmp_path / "test-*.tar"), "--json",
                             "--workers", "0")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["input"] for r in rows] == [f"test-{i // 5:03d}.tar:sample{i:05d}" for i in range(len(files))]
    code, out, _ = hub_cli("predict", tmp_path / "run", str(tmp_path / "test-*.tar"), "--json", "--workers", "0")
    assert code == 0 and json.loads(out) == rows  # the glob as INPUTS, the same
    code, _, err = hub_cli("predict", tmp_path / "run", "--data", str(tmp_path / "none-*.tar"))
    assert code != 0 and "no shards match" in err
    code, _, err = hub_cli("predict", tmp_path / "run", "x.png", "--data", folder)
    assert code != 0 and "not both" in err
    code, folder_out, err = hub_cli("predict", tmp_path / "run", folder, "--json", "--workers", "0")
    assert [r["answer"] for r in json.loads(folder_out)] == [r["answer"] for r in rows]  # as on the folder
    pq.write_table(pa.table({"image": [f.read_bytes() for f in files]}), tmp_path / "t.parquet", row_group_size=4)
    code, out, err = hub_cli("predict", tmp_path / "run", tmp_path / "t.parquet", "--json", "--workers", "0")
    assert code == 0, err
    parquet_rows = json.loads(out)
    assert [r["input"] for r in parquet_rows] == [f"{tmp_path / 't.parquet'}:{i + 1}" for i in range(len(files))]
    assert [r["answer"] for r in parquet_rows] == [r["answer"] for r in rows]


def test_a_corrupt_image_in_a_shard_names_the_shard_and_the_sample(tmp_path):
    from hub_vision.demo import make_shapes

    folder = make_shapes(tmp_path / "shapes", per_class=3, size=16, seed=2)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    files[4].write_bytes(files[4].read_bytes()[:30])
    write_shards(files, tmp_path / "train", per_shard=4)
    with pytest.raises(DataError, match=r"train-001\.tar:sample00004: .*cannot read image"):
        read_examples(modality("image"), str(tmp_path / "train-*.tar"), ReadOptions())
    kept = read_examples(modality("image"), str(tmp_path / "train-*.tar"), ReadOptions(skip_bad=True))
    assert len(kept) == len(files) - 1 and kept[0].source == "train-000.tar:sample00000"


def test_each_rank_takes_every_w_th_training_shard_and_held_out_shards_are_read_whole(tmp_path, monkeypatch, capsys):
    import numpy as np

    from hub_core.train import share
    from hub_core.data.sets import plan_batches

    files = []
    for i in range(6):
        files.append(tmp_path / f"train-{i:03d}.tar")
        with tarfile.open(files[-1], "w"):
            pass
    pattern = str(tmp_path / "train-*.tar")
    plans = [share.plan(pattern, rank=r, world=2, val_given=False, val_split=0.2) for r in (0, 1)]
    assert [p.train for p in plans] == [files[0:5:2], files[1:5:2]] and plans[0].val == plans[1].val == files[5:]
    given = share.plan(pattern, rank=1, world=2, val_given=True, val_split=0.2)
    assert given.train == files[1::2] and given.val == []
    assert share.plan(pattern, rank=0, world=6, val_given=False, val_split=0.1) is None  # 5 training shards, 6 ranks
    assert "every rank reads every shard" in capsys.readouterr().err
    assert share.plan(pattern, rank=0, world=1, val_given=True, val_split=0) is None
    assert share.plan(str(tmp_path / "t.csv"), rank=0, world=2, val_given=True, val_split=0) is None
    monkeypatch.setenv("PLUGHUB_SHARD_SPLIT", "0")
    assert share.plan(pattern, rank=0, world=2, val_given=True, val_split=0) is None
    # a rank's batches: its own seeded plan, cut to the count every rank has; the same seed, the same batches
    mine = share.Share(files[:2], [], common=3)
    first = share.batches(mine, 50, 8, seed=1, epoch=2, lengths=None, rank=1, world=2)
    again = share.batches(mine, 50, 8, seed=1, epoch=2, lengths=None, rank=1, world=2)
    assert len(first) == 3 and all(np.array_equal(a, b) for a, b in zip(first, again))
    assert all(np.array_equal(a, b) for a, b in zip(first, plan_batches(50, 8, shuffle=True, seed=1, epoch=2)))
    whole = share.batches(None, 50, 8, seed=1, epoch=2, lengths=None, rank=1, world=2)
    assert all(np.array_equal(a, b) for a, b in zip(whole, plan_batches(50, 8, shuffle=True, seed=1, epoch=2,
                                                                          rank=1, world=2)))


@pytest.mark.slow
def test_two_nodes_each_unpack_only_their_own_shards(tmp_path):
    """torchrun --nnodes 2 on shards: rank 0 unpacks shards 0 and 2, rank 1 shards 1 and 3,
    both the held-out shard 4; a rank whose shards miss a label stops both in one line."""
    import numpy as np

    from hub_vision.demo import make_shapes
    from tests.torchrun import two_nodes

    folder = make_shapes(tmp_path / "shapes", per_class=10, size=16, seed=4)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    mixed = [files[i] for i in np.random.default_rng(0).permutation(len(files))]
    write_shards(mixed, tmp_path / "train", per_shard=len(files) // 5)
    common = ("finetune", "vision/tiny", "-t", "classification", "-p", "image_size=16", "--epochs", "2",
              "--workers", "0", "--quiet", "--val-split", "0.2")
    results = two_nodes("hub-shards", *common, "-d", tmp_path / "train-*.tar", "-o", tmp_path / "run")
    assert [code for code, _ in results] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    assert (tmp_path / "run" / "hub.json").is_file()
    unpacked = sorted(e["description"] for e in diskcache.entries() if e["kind"] == "shards")
    assert unpacked == ["1 shard(s) train-004.tar", "2 shard(s) train-000.tar, train-002.tar",
                        "2 shard(s) train-001.tar, train-003.tar"]
    write_shards(files, tmp_path / "sorted", per_shard=len(files) // 5)  # one class a shard or two
    results = two_nodes("hub-sorted", *common, "-d", tmp_path / "sorted-*.tar", "-o", tmp_path / "bad")
    assert [code for code, _ in results] != [0, 0]
    assert any("fit another label map than rank 0's" in err for _, err in results), results[0][1][-2000:]
