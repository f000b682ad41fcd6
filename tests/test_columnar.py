"""Columnar inputs: a Parquet file and a ``datasets`` folder (``save_to_disk``) are tables in
every modality that reads tables, read batch by batch; they give the examples (and the
model) the same CSV gives."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hub_core.common.errors import DataError  # noqa: E402
from hub_core.common.table import iter_rows  # noqa: E402
from hub_core.model.contracts import ReadOptions  # noqa: E402
from tests.tinyplug import make_blobs  # noqa: E402


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))


def as_parquet(rows: list[dict], path: Path, numeric=()) -> Path:
    columns = {k: [float(r[k]) if k in numeric else r[k] for r in rows] for k in rows[0]}
    pq.write_table(pa.table(columns), path, row_group_size=7)  # several row groups, read one batch at a time
    return path


def as_datasets_folder(rows: list[dict], path: Path, numeric=()) -> Path:
    datasets = pytest.importorskip("datasets")
    columns = {k: [float(r[k]) if k in numeric else r[k] for r in rows] for k in rows[0]}
    datasets.Dataset.from_dict(columns).save_to_disk(str(path))
    return path


def test_iter_rows_reads_parquet_and_datasets_folders_like_csv(tmp_path):
    data = make_blobs(tmp_path / "train.csv", n=30)
    rows = csv_rows(data)
    for table in (as_parquet(rows, tmp_path / "t.parquet"), as_datasets_folder(rows, tmp_path / "ds")):
        read = list(iter_rows(table, required=("label",)))
        assert [n for n, _ in read] == list(range(1, 31)) and [r for _, r in read] == rows
        with pytest.raises(DataError, match="missing column 'target'"):
            list(iter_rows(table, required=("target",)))


def test_unreadable_columnar_data_is_one_line(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"bad.parquet: not a readable Parquet file"):
        list(iter_rows(bad))
    rows = csv_rows(make_blobs(tmp_path / "train.csv", n=30))
    folder = as_datasets_folder(rows, tmp_path / "dd" / "train")
    (tmp_path / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    with pytest.raises(DataError, match="a DatasetDict: give one split's folder"):
        list(iter_rows(tmp_path / "dd"))
    arrow = next(folder.glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:200])  # truncated
    with pytest.raises(DataError, match=r"\.arrow: unreadable Arrow data|unreadable after row"):
        list(iter_rows(folder))


def same_examples(modality: str, table: Path, others: list[Path], options: ReadOptions):
    from hub_core.plugin.manager import load_hub
    from hub_core.plugin.specs import resolve

    reader = resolve(load_hub().catalogue.modality(modality).reader)
    expected = reader(table, options)
    for other in others:
        got = reader(other, options)
        assert [(e.input, e.label) for e in got] == [(e.input, e.label) for e in expected], other
        assert got[3].source.endswith(":4")  # errors name the row
    return expected


def table_of_files(folder: Path, suffix: str, tmp_path: Path) -> list[dict]:
    files = sorted(p for p in folder.rglob(f"*{suffix}"))
    return [{"path": str(p.resolve()), "label": p.parent.name} for p in files]


def test_images_from_parquet_and_a_datasets_folder(tmp_path):
    from hub_vision.demo import make_shapes

    folder = make_shapes(tmp_path / "shapes", per_class=4, size=16, seed=1)
    rows = table_of_files(folder, ".png", tmp_path)
    (tmp_path / "t.csv").write_text("path,label\n" + "".join(f"{r['path']},{r['label']}\n" for r in rows))
    examples = same_examples("image", tmp_path / "t.csv", [as_parquet(rows, tmp_path / "t.parquet"),
                                                           as_datasets_folder(rows, tmp_path / "ds")], ReadOptions())
    assert len(examples) == len(rows) >= 6


def test_audio_from_parquet_and_a_datasets_folder(tmp_path):
    from hub_speech.signals import write_dataset

    write_dataset(tmp_path / "tones", 3, kinds=("low", "high"), seconds=(0.2, 0.3), seed=1)
    rows = table_of_files(tmp_path / "tones", ".wav", tmp_path)
    (tmp_path / "t.csv").write_text("path,label\n" + "".join(f"{r['path']},{r['label']}\n" for r in rows))
    examples = same_examples("audio", tmp_path / "t.csv", [as_parquet(rows, tmp_path / "t.parquet"),
                                                           as_datasets_folder(rows, tmp_path / "ds")], ReadOptions())
    assert len(examples) == len(rows) >= 6


def test_text_from_parquet_and_a_datasets_folder(tmp_path):
    rows = [{"text": f"example number {i} is {'good' if i % 2 else 'bad'}", "label": "pos" if i % 2 else "neg"}
            for i in range(20)]
    with (tmp_path / "t.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    same_examples("text", tmp_path / "t.csv", [as_parquet(rows, tmp_path / "t.parquet"),
                                               as_datasets_folder(rows, tmp_path / "ds")], ReadOptions())


def test_finetune_from_parquet_and_a_datasets_folder_gives_the_csv_model(hub_cli, tmp_path):
    from safetensors.numpy import load_file

    data = make_blobs(tmp_path / "train.csv", n=200, seed=5)
    rows = csv_rows(data)
    numeric = [k for k in rows[0] if k.startswith("x")]
    weights = []
    for source in (data, as_parquet(rows, tmp_path / "t.parquet", numeric),
                   as_datasets_folder(rows, tmp_path / "ds", numeric)):
        out = tmp_path / f"run-{len(weights)}"
        code, _, err = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", source, "-o", out, "--epochs", "1",
                               "--quiet")
        assert code == 0, err
        weights.append(load_file(out / "model.safetensors"))
    for other in weights[1:]:
        assert all(np.array_equal(weights[0][k], other[k]) for k in weights[0])
