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


# ----------------------------------------------------------------------------- files stored as bytes
def png_bytes(n: int, seed: int = 0, size: int = 16) -> list[bytes]:
    import io

    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def wav_bytes(n: int, seed: int = 0) -> list[bytes]:
    import io

    import soundfile

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        buffer = io.BytesIO()
        soundfile.write(buffer, (0.1 * rng.standard_normal(800 + 40 * i)).astype(np.float32), 16000, format="WAV")
        out.append(buffer.getvalue())
    return out


def bytes_tables(tmp_path: Path, column: str, blobs: list[bytes], suffix: str, feature=None) -> list[Path]:
    """The Hugging Face layouts: a datasets folder and its Parquet ({bytes, path} structs, as
    ``datasets``' Image/Audio features store them), and a Parquet of plain binary cells."""
    datasets = pytest.importorskip("datasets")
    labels = ["odd" if i % 2 else "even" for i in range(len(blobs))]
    ds = datasets.Dataset.from_dict({column: [{"bytes": b, "path": f"{i}{suffix}"} for i, b in enumerate(blobs)],
                                     "label": labels})
    if feature is not None:
        ds = ds.cast_column(column, feature)
    ds.save_to_disk(str(tmp_path / "ds"))
    ds.to_parquet(str(tmp_path / "structs.parquet"))
    pq.write_table(pa.table({column: blobs, "label": labels}), tmp_path / "binary.parquet", row_group_size=5)
    return [tmp_path / "ds", tmp_path / "structs.parquet", tmp_path / "binary.parquet"]


def reader(modality: str):
    from hub_core.plugin.manager import load_hub
    from hub_core.plugin.specs import resolve

    return resolve(load_hub().catalogue.modality(modality).reader)


def test_images_stored_as_bytes_are_read_lazily_and_keyed_by_their_content(tmp_path):
    import io

    import datasets
    from PIL import Image

    from hub_core.common.cells import Cell
    from hub_core.data.arraycache import examples_key
    from hub_vision.images import as_rgb
    from hub_vision.preprocess import ImagePreprocessor

    blobs = png_bytes(12)
    tables = bytes_tables(tmp_path, "image", blobs, ".png", datasets.Image())
    keys = []
    for table in tables:
        examples = reader("image")(table, ReadOptions())
        assert [e.label for e in examples] == ["odd" if i % 2 else "even" for i in range(12)]
        assert all(isinstance(e.input, Cell) for e in examples) and examples[3].source == f"{table}:4"
        first = as_rgb(examples[7].input)  # decoded again from the table by row, as a worker does
        assert np.array_equal(np.asarray(first), np.asarray(Image.open(io.BytesIO(blobs[7])).convert("RGB")))
        keys.append(examples_key(examples, ImagePreprocessor({"image_size": 16}), None, labelled=False))
    assert len(set(keys)) == 1  # the same bytes in three tables: one cache entry
    changed = list(blobs)
    changed[4] = png_bytes(1, seed=9)[0]
    pq.write_table(pa.table({"image": changed}), tmp_path / "changed.parquet")
    examples = reader("image")(tmp_path / "changed.parquet", ReadOptions(labelled=False))
    assert examples_key(examples, ImagePreprocessor({"image_size": 16}), None, labelled=False) != keys[0]


def test_a_corrupt_image_stored_as_bytes_names_the_table_and_row_or_is_skipped(tmp_path, capsys):
    blobs = png_bytes(10)
    blobs[6] = blobs[6][:40]  # truncated PNG
    table = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"image": blobs, "label": ["a", "b"] * 5}), table, row_group_size=4)
    with pytest.raises(DataError, match=r"bad\.parquet:7: cannot read image"):
        reader("image")(table, ReadOptions())
    kept = reader("image")(table, ReadOptions(skip_bad=True))
    assert len(kept) == 9 and "skipped 1 unreadable" in capsys.readouterr().err


def test_a_table_changed_after_reading_is_one_line_in_the_worker(tmp_path):
    from hub_vision.images import as_rgb

    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"image": png_bytes(4), "label": ["a", "b"] * 2}), table)
    examples = reader("image")(table, ReadOptions())
    pq.write_table(pa.table({"image": png_bytes(4, seed=5), "label": ["a", "b"] * 2}), table)
    from hub_core.common import cells

    cells._open = cells._Open()  # a fresh process, as a new worker is
    with pytest.raises(DataError, match=r"t\.parquet:2: the table changed"):
        as_rgb(examples[1].input)


def test_audio_stored_as_bytes_in_parquet_and_a_datasets_folder(tmp_path, capsys):
    import io

    import soundfile

    from hub_core.common.cells import Cell
    from hub_speech.preprocess import AudioPreprocessor

    blobs = wav_bytes(10)
    for table in bytes_tables(tmp_path, "audio", blobs, ".wav"):
        examples = reader("audio")(table, ReadOptions())
        assert all(isinstance(e.input, Cell) for e in examples) and examples[3].source == f"{table}:4"
        pre = AudioPreprocessor({"sample_rate": 16000})
        got = pre(examples[5].input)
        expected = pre(soundfile.read(io.BytesIO(blobs[5]), dtype="float32")[0])
        assert all(np.array_equal(got[k], expected[k]) for k in expected)
    blobs[3] = b"RIFF not a wav"
    pq.write_table(pa.table({"audio": blobs, "label": ["a", "b"] * 5}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match=r"bad\.parquet:4: not a readable audio file"):
        reader("audio")(tmp_path / "bad.parquet", ReadOptions())
    assert len(reader("audio")(tmp_path / "bad.parquet", ReadOptions(skip_bad=True))) == 9


def test_images_stored_as_bytes_preprocessed_in_workers_give_the_batches_of_one_process(tmp_path):
    from hub_core.data.sets import ExampleSet, plan_batches
    from hub_core.data.loader import Loader
    from hub_vision.preprocess import ImagePreprocessor

    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"image": png_bytes(24)}), table, row_group_size=5)
    examples = reader("image")(table, ReadOptions(labelled=False))
    data = ExampleSet(examples, ImagePreprocessor({"image_size": 16}), None, train=True, seed=1, labelled=False)
    plan = plan_batches(len(data), 8, shuffle=True, seed=1, epoch=0)
    batches = []
    for workers in (0, 2):
        loader = Loader(data, workers, tensors=False)
        try:
            batches.append(list(loader(plan, 0)))
        finally:
            loader.close()
    assert all(np.array_equal(a[0][k], b[0][k]) for a, b in zip(*batches) for k in a[0])
