"""End to end through the ``hub`` CLI: fine-tune on generated shapes, predict, evaluate,
export; multi-label and regression from a CSV; --freeze, --lora; ImageNet weights on
real photos; bad data gives one clear line."""
import json
import time

import numpy as np
import pytest
from PIL import Image

SHAPES_TRAIN = ["--epochs", "15", "--lr", "1e-2", "--batch-size", "32", "-p", "min_scale=0.6", "-p", "color_jitter=0.2"]


@pytest.fixture(scope="module")
def shapes_model(make_shapes, tmp_path_factory, hub):
    """vision/tiny fine-tuned on 450 generated 32 px shapes (the example's recipe)."""
    root = tmp_path_factory.mktemp("shapes_e2e")
    data = make_shapes(root / "data", per_class=150, size=32, seed=0)
    held_out = make_shapes(root / "test", per_class=30, size=32, seed=99)
    out = root / "model"
    started = time.perf_counter()
    code, _, err = hub("finetune", "vision/tiny", "--task", "classification", "--data", data, "--out", out, "-q",
                       *SHAPES_TRAIN)
    assert code == 0, err
    return out, held_out, time.perf_counter() - started


@pytest.mark.slow
def test_shapes_are_learned_and_predicted(shapes_model, hub):
    out, held_out, seconds = shapes_model
    manifest = json.loads((out / "hub.json").read_text())
    print(f"vision/tiny on 450 shapes: {seconds:.1f} s, validation accuracy {manifest['metrics']['accuracy']:.3f}")
    assert manifest["metrics"]["accuracy"] >= 0.8
    assert manifest["preprocessor"]["config"]["image_size"] == 32

    code, out_text, err = hub("evaluate", out, "--data", held_out, "--json")
    assert code == 0, err
    assert json.loads(out_text)["accuracy"] >= 0.8  # fresh images, never seen in training

    circle = sorted((held_out / "circle").iterdir())[0]
    code, out_text, err = hub("predict", out, circle)
    assert code == 0, err
    path, label, score = out_text.strip().split("\t")[:3]
    assert path == str(circle)[:60] and label in ("circle", "square", "triangle") and 0 < float(score) <= 1
    code, out_text, _ = hub("predict", out, held_out, "--json")
    answers = json.loads(out_text)
    assert len(answers) == 90
    right = sum(a["answer"]["label"] == a["input"].split("/")[-2] for a in answers)
    assert right >= 0.8 * 90


@pytest.mark.slow
def test_export_and_onnx_prediction_agree(shapes_model, hub):
    out, held_out, _ = shapes_model
    code, _, err = hub("export", out)
    assert code == 0, err
    images = sorted((held_out / "triangle").iterdir())[:4]
    code, torch_out, _ = hub("predict", out, *images, "--json")
    code_onnx, onnx_out, err = hub("predict", out, *images, "--json", "--onnx")
    assert code == code_onnx == 0, err
    for a, b in zip(json.loads(torch_out), json.loads(onnx_out)):
        assert a["answer"]["label"] == b["answer"]["label"]
        assert abs(a["answer"]["score"] - b["answer"]["score"]) < 1e-4


@pytest.fixture
def shapes_table(shapes, tmp_path):
    """A CSV of the shapes: multi-label tags (the shape, "light" for bright images) and a number."""
    rows = ["file,tags,brightness"]
    for image in sorted(shapes.rglob("*.*")):
        brightness = float(np.asarray(Image.open(image).convert("L")).mean())
        tags = image.parent.name + ("|light" if brightness > 150 else "")
        rows.append(f"{image},{tags},{brightness:.2f}")
    table = tmp_path / "table.csv"
    table.write_text("\n".join(rows) + "\n")
    return table


def test_multilabel_and_regression_from_a_csv(shapes_table, tmp_path, hub):
    common = ["--epochs", "1", "--batch-size", "16", "-q", "-p", "augment=false"]
    code, _, err = hub("finetune", "vision/tiny", "--task", "multilabel", "--data", shapes_table,
                       "--label-column", "tags", "--out", tmp_path / "ml", *common)
    assert code == 0, err
    assert {"f1_micro", "map"} <= set(json.loads((tmp_path / "ml" / "hub.json").read_text())["metrics"])
    code, _, err = hub("finetune", "vision/tiny", "--task", "regression", "--data", shapes_table,
                       "--label-column", "brightness", "--out", tmp_path / "reg", *common)
    assert code == 0, err
    image = shapes_table.read_text().splitlines()[1].split(",")[0]
    code, out_text, err = hub("predict", tmp_path / "reg", image, "--json")
    assert code == 0, err
    assert isinstance(json.loads(out_text)[0]["answer"]["value"], float)


def test_freeze_cache_and_lora(shapes, tmp_path, hub):
    registry = tmp_path / "presets.toml"
    registry.write_text('[presets."vision/vit-test"]\nbackbone = "vision/timm"\n'
                        'config = { model_name = "test_vit", image_size = 32 }\n')
    common = ["--task", "classification", "--data", shapes, "--epochs", "1", "--batch-size", "16"]
    code, _, err = hub("finetune", "vision/tiny", *common, "--freeze", "last-1", "--out", tmp_path / "last")
    assert code == 0, err
    assert "frozen: backbone except its last 1 of" in err
    code, _, err = hub("finetune", "vision/tiny", *common, "--freeze", "backbone", "-p", "augment=false",
                       "--out", tmp_path / "probe")
    assert code == 0, err
    assert "backbone features cached" in err
    code, _, err = hub("--registry", registry, "finetune", "vision/vit-test", *common, "--lora", "4",
                       "--out", tmp_path / "lora")
    assert code == 0, err
    manifest = json.loads((tmp_path / "lora" / "hub.json").read_text())
    assert manifest["backbone"]["config"] == {"model_name": "test_vit", "image_size": 32}
    code, out_text, err = hub("predict", tmp_path / "lora", sorted((shapes / "square").iterdir())[0])
    assert code == 0, err  # LoRA merged: the directory loads without peft adapters


def test_bad_data_gives_one_clear_line(tmp_path, hub, shapes):
    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    (empty / "dog").mkdir()
    Image.new("RGB", (8, 8)).save(empty / "cat" / "a.png")
    code, _, err = hub("finetune", "vision/tiny", "--task", "classification", "--data", empty, "--out", tmp_path / "o")
    assert code == 1 and err.strip().endswith("class folder 'dog' has no images (.png, .jpg, .jpeg, .bmp, .webp, "
                                              ".gif, .tif, .tiff)")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1

    table = tmp_path / "train.csv"
    table.write_text(f"path,label\n{sorted((shapes / 'circle').iterdir())[0]},circle\nlost.png,square\n")
    code, _, err = hub("finetune", "vision/tiny", "--task", "classification", "--data", table, "--out", tmp_path / "o")
    assert code == 1 and f"{table}:3: image not found — field 'path' — value 'lost.png'" in err

    broken = tmp_path / "broken"
    for kind in ("circle", "square"):
        (broken / kind).mkdir(parents=True)
        for image in sorted((shapes / kind).iterdir())[:6]:
            (broken / kind / image.name).write_bytes(image.read_bytes())
    (broken / "square" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ncut short")
    args = ["finetune", "vision/tiny", "--task", "classification", "--data", broken, "--epochs", "1"]
    code, _, err = hub(*args, "--out", tmp_path / "o")
    assert code == 1 and "bad.png: cannot read image" in err
    code, _, err = hub(*args, "--out", tmp_path / "skipped", "--skip-bad", "-q")
    assert code == 0 and "skipped 1 unreadable example(s)" in err

    code, _, err = hub("predict", tmp_path / "skipped", tmp_path / "nowhere.jpg")
    assert code == 1 and "nowhere.jpg: image not found" in err and "Traceback" not in err
    code, _, err = hub("finetune", "vision/tiny", "--task", "classification", "--data", shapes, "-p", "imagesize=3",
                       "--out", tmp_path / "o2")
    assert code == 2 and "unknown image option 'imagesize' (did you mean 'image_size'?)" in err


@pytest.mark.slow
def test_imagenet_weights_recognise_real_photos(tmp_path, hub):
    """The EfficientNet-Lite0 package weights through the hub's own preprocessing: a cat
    is a cat and an espresso an espresso, so weights mapping and normalisation are right."""
    from skimage import data

    photos = {"cat": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}
    for name, pixels in photos.items():
        Image.fromarray(pixels).save(tmp_path / f"{name}.jpg", quality=95)
    code, _, err = hub("vision", "imagenet", "vision/tf_efficientnet_lite0", "--out", tmp_path / "in1k")
    assert code == 0, err
    code, out_text, err = hub("predict", tmp_path / "in1k", *(tmp_path / f"{n}.jpg" for n in photos), "-k", "3", "--json")
    assert code == 0, err
    top = {row["input"].rsplit("/", 1)[-1][:-4]: row["answer"] for row in json.loads(out_text)}
    assert top["cat"]["label"] in ("tiger cat", "tabby, tabby cat", "Egyptian cat")
    assert top["coffee"]["label"] == "espresso" and top["coffee"]["score"] > 0.5
    assert {"missile", "projectile, missile", "space shuttle"} & {a["label"] for a in top["rocket"]["top_k"]}
    code, _, err = hub("vision", "imagenet", "vision/tiny", "--out", tmp_path / "none")
    assert code == 2 and "vision/tiny has no pretrained weights" in err
