"""ImagePreprocessor: timm's evaluation transform exactly, seeded augmentation, checked options."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hub_core.common.errors import UsageError
from hub_vision.preprocess import ImagePreprocessor


@pytest.mark.parametrize("settings", [
    {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875, "mean": (0.5,) * 3, "std": (0.5,) * 3},
    {"input_size": (3, 160, 160), "interpolation": "bilinear", "crop_pct": 0.95, "crop_mode": "center"},
    {"input_size": (3, 96, 96), "interpolation": "bicubic", "crop_pct": 1.0, "crop_mode": "squash"},
])
def test_evaluation_matches_timm(settings, picture):
    """The numpy/PIL path gives timm's (torchvision's) eval tensor, bit for bit."""
    from skimage import data
    from timm.data import create_transform

    reference = create_transform(**settings)
    ours = ImagePreprocessor({"image_size": settings["input_size"][1], "interpolation": settings["interpolation"],
                              "crop_pct": settings["crop_pct"], "crop_mode": settings.get("crop_mode", "center"),
                              **{k: settings[k] for k in ("mean", "std") if k in settings}})
    for array in (data.chelsea(), data.camera(), picture, np.full((300, 37, 3), 90, np.uint8)):
        expected = reference(Image.fromarray(array).convert("RGB")).numpy()
        np.testing.assert_allclose(ours(array)["pixel_values"], expected, atol=1e-6)


def test_paths_and_cli_strings(tmp_path, picture):
    Image.fromarray(picture).save(tmp_path / "a.png")
    pre = ImagePreprocessor({"image_size": 32})
    from_path = pre(str(tmp_path / "a.png"))["pixel_values"]
    assert from_path.shape == (3, 32, 32) and from_path.dtype == np.float32
    np.testing.assert_array_equal(from_path, pre(tmp_path / "a.png")["pixel_values"])
    np.testing.assert_array_equal(from_path, pre(picture)["pixel_values"])


def test_training_augmentation_is_seeded_and_varied(picture):
    pre = ImagePreprocessor({"image_size": 32, "min_scale": 0.3, "vflip": 0.5})
    assert pre.augments
    first = pre(picture, train=True, rng=np.random.default_rng(5))["pixel_values"]
    again = pre(picture, train=True, rng=np.random.default_rng(5))["pixel_values"]
    other = pre(picture, train=True, rng=np.random.default_rng(6))["pixel_values"]
    assert first.shape == (3, 32, 32)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    plain = ImagePreprocessor({"image_size": 32, "augment": "false"})
    assert not plain.augments
    np.testing.assert_array_equal(plain(picture, train=True, rng=np.random.default_rng(0))["pixel_values"],
                                  plain(picture)["pixel_values"])


def test_non_square_size_and_collate(picture):
    pre = ImagePreprocessor({"image_size": [24, 40]})
    assert pre.config["image_size"] == [24, 40]
    batch = pre.collate([pre(picture), pre(picture, train=True, rng=np.random.default_rng(0))])
    assert batch["pixel_values"].shape == (2, 3, 24, 40)
    synthetic = pre.synthetic(3, 2.0, np.random.default_rng(0))["pixel_values"]
    assert synthetic.shape == (3, 3, 24, 40) and synthetic.dtype == np.float32


def test_options_from_the_command_line_are_coerced():
    pre = ImagePreprocessor({"image_size": "64", "mean": "0.5,0.5,0.5", "std": "0.25", "hflip": "0", "augment": "no"})
    assert pre.size == (64, 64) and pre.mean == (0.5, 0.5, 0.5) and pre.std == (0.25,) * 3
    assert pre.hflip == 0.0 and pre.augment is False
    assert ImagePreprocessor.load(None, pre.config).config == pre.config


@pytest.mark.parametrize("options, message", [
    ({"imagesize": 32}, "unknown image option 'imagesize' (did you mean 'image_size'?)"),
    ({"image_size": "big"}, "'image_size' must be a whole number"),
    ({"image_size": 2}, "'image_size' must be a whole number"),
    ({"std": [0.5, 0, 0.5]}, "'std' must be three positive numbers"),
    ({"crop_pct": 0}, "'crop_pct' must be in (0.0, 1.0]"),
    ({"interpolation": "cubic"}, "'interpolation' must be one of nearest, bilinear, bicubic"),
    ({"crop_mode": "border"}, "'crop_mode' must be one of center, squash"),
    ({"augment": "maybe"}, "'augment' must be true or false"),
])
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError) as err:
        ImagePreprocessor(options)
    assert message in str(err.value)


def test_preprocessing_never_imports_torch():
    """The ONNX runtime runs this code without torch."""
    code = ("import sys, numpy as np; from hub_vision.preprocess import ImagePreprocessor; "
            "ImagePreprocessor({'image_size': 16})(np.zeros((20, 20, 3), np.uint8)); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
