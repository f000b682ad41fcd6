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
from hub_core.train.data import read_examples


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
    code, out, err = hub_cli("predict", tmp_path / "run", str(tmp_path / "test-*.tar"), "--json", "--workers", "0")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["input"] for r in rows] == [f"test-{i // 5:03d}.tar:sample{i:05d}" for i in range(len(files))]
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
