"""Reading image data: class folders, CSV/JSONL tables, clear errors, --skip-bad."""
import json

import numpy as np
import pytest
from PIL import Image

from hub_core.model.contracts import ReadOptions
from hub_core.common.errors import DataError
from hub_vision.data import read_examples


def save(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
    return path


def test_class_folders(shapes):
    examples = read_examples(shapes, ReadOptions())
    assert len(examples) == 60
    assert {e.label for e in examples} == {"circle", "square", "triangle"}
    assert all(e.input.startswith(str(shapes)) and e.source == e.input for e in examples)


def test_folder_ignores_hidden_and_other_files(tmp_path):
    save(tmp_path / "cat" / "a.png")
    save(tmp_path / "cat" / "deeper" / "b.jpg")
    save(tmp_path / "dog" / "c.bmp")
    save(tmp_path / "dog" / ".thumb.png")
    save(tmp_path / ".cache" / "x.png")
    (tmp_path / "dog" / "notes.txt").write_text("hi")
    (tmp_path / "README.md").write_text("hi")
    examples = read_examples(tmp_path, ReadOptions())
    assert sorted((e.label, e.input.rsplit("/", 1)[-1]) for e in examples) == [
        ("cat", "a.png"), ("cat", "b.jpg"), ("dog", "c.bmp")]


def test_unlabelled_folder_and_single_image(tmp_path):
    save(tmp_path / "a" / "one.png")
    save(tmp_path / "two.webp")
    found = read_examples(tmp_path, ReadOptions(labelled=False))
    assert [e.input.rsplit("/", 1)[-1] for e in found] == ["one.png", "two.webp"] and found[0].label is None
    assert read_examples(tmp_path / "two.webp", ReadOptions(labelled=False))[0].input.endswith("two.webp")


@pytest.mark.parametrize("layout, message", [
    ({"cat/a.png": 1, "dog/readme.txt": 0}, "class folder 'dog' has no images"),
    ({"a.png": 1}, "expected one subfolder per class (e.g. cat/ and dog/), found no subfolders but 1 loose images"),
    ({"cat/a.png": 1, "b.png": 1}, "images directly in the folder, outside any class subfolder (first: b.png)"),
])
def test_bad_folders(tmp_path, layout, message):
    for name, is_image in layout.items():
        if is_image:
            save(tmp_path / name)
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("x")
    with pytest.raises(DataError) as err:
        read_examples(tmp_path, ReadOptions())
    assert message in str(err.value)


def test_csv_paths_relative_to_the_table(tmp_path):
    save(tmp_path / "img" / "a.png")
    save(tmp_path / "img" / "b.png", 1)
    (tmp_path / "train.csv").write_text("image,tags,score\nimg/a.png,cat|outdoor,0.5\nimg/b.png,dog,2\n")
    rows = read_examples(tmp_path / "train.csv", ReadOptions(label_column="tags"))
    assert [(e.input, e.label) for e in rows] == [(str(tmp_path / "img" / "a.png"), "cat|outdoor"),
                                                  (str(tmp_path / "img" / "b.png"), "dog")]
    assert rows[1].source == f"{tmp_path / 'train.csv'}:3"
    scores = read_examples(tmp_path / "train.csv", ReadOptions(label_column="score"))
    assert [e.label for e in scores] == ["0.5", "2"]


def test_jsonl_with_list_labels_and_a_named_column(tmp_path):
    save(tmp_path / "a.png")
    (tmp_path / "data.jsonl").write_text(json.dumps({"file_name": "a.png", "label": ["x", "y"]}) + "\n")
    rows = read_examples(tmp_path / "data.jsonl", ReadOptions(input_columns=("file_name",)))
    assert rows[0].label == ["x", "y"]


@pytest.mark.parametrize("table, message", [
    ("path,label\nmissing.png,cat\n", "train.csv:2: image not found — field 'path' — value 'missing.png'"),
    ("path,label\nbroken.png,cat\n", "train.csv:2: ", ),
    ("path,label\ngood.png,\n", "train.csv:2: empty label — field 'label'"),
    ("picture,label\ngood.png,cat\n", "filepath or --input-column NAME"),
    ("path,label\n../outside.png,cat\n", "escapes --data-root"),
])
def test_bad_tables(tmp_path, table, message):
    save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "train.csv").write_text(table)
    with pytest.raises(DataError) as err:
        read_examples(tmp_path / "train.csv", ReadOptions(data_root=str(tmp_path)))
    assert message in str(err.value)
    if "broken" in table:
        assert "broken.png: cannot read image" in str(err.value)


def test_skip_bad_skips_and_counts(tmp_path, capsys):
    save(tmp_path / "cat" / "good.png")
    save(tmp_path / "cat" / "good2.png", 1)
    (tmp_path / "cat" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"bad\.jpg: cannot read image"):
        read_examples(tmp_path, ReadOptions())
    kept = read_examples(tmp_path, ReadOptions(skip_bad=True))
    assert len(kept) == 2
    assert "skipped 1 unreadable example(s) (--skip-bad)" in capsys.readouterr().err

    (tmp_path / "t.csv").write_text("path,label\ncat/good.png,a\nnowhere.png,b\ncat/bad.jpg,c\n")
    assert [e.label for e in read_examples(tmp_path / "t.csv", ReadOptions(skip_bad=True))] == ["a"]
    assert "skipped 2" in capsys.readouterr().err


def test_nothing_readable(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_examples(tmp_path / "nope", ReadOptions())
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="expected an image folder, a CSV/TSV/JSONL table or an image"):
        read_examples(tmp_path / "notes.txt", ReadOptions())
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "bad.png").write_text("x")
    with pytest.raises(DataError, match="no readable images"):
        read_examples(tmp_path / "only", ReadOptions(labelled=False, skip_bad=True))
