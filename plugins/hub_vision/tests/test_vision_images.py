"""Opening images: every format and mode becomes 8-bit RGB; broken files name themselves."""
import numpy as np
import pytest
from PIL import Image

from hub_core.common.errors import DataError
from hub_vision.images import as_rgb, open_rgb


@pytest.mark.parametrize("suffix", ["png", "jpg", "bmp", "webp", "gif", "tiff"])
def test_formats_open_as_rgb(tmp_path, picture, suffix):
    path = tmp_path / f"image.{suffix}"
    Image.fromarray(picture).save(path)
    image = open_rgb(path)
    assert image.mode == "RGB" and image.size == (64, 48)
    if suffix in ("png", "bmp", "tiff"):  # lossless
        assert np.array_equal(np.asarray(image), picture)


def test_greyscale_rgba_palette_and_16_bit(tmp_path, picture):
    Image.fromarray(picture).convert("L").save(tmp_path / "grey.png")
    grey = np.asarray(open_rgb(tmp_path / "grey.png"))
    assert grey.shape == (48, 64, 3) and np.array_equal(grey[..., 0], grey[..., 2])

    rgba = np.dstack([picture, np.zeros((48, 64), np.uint8)])  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert (np.asarray(open_rgb(tmp_path / "clear.png")) == 255).all()  # laid on white

    Image.fromarray(picture).convert("P").save(tmp_path / "palette.png")
    assert open_rgb(tmp_path / "palette.png").mode == "RGB"

    deep = (np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    scaled = np.asarray(open_rgb(tmp_path / "deep.png"))[..., 0]
    assert scaled.max() > 200 and scaled.min() == 0  # 16 bits scaled, not clipped to white


def test_exif_orientation_is_applied(tmp_path, picture):
    image = Image.fromarray(picture)
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    image.save(tmp_path / "phone.jpg", exif=exif)
    assert open_rgb(tmp_path / "phone.jpg").size == (48, 64)


def test_broken_files_are_named(tmp_path, picture):
    with pytest.raises(DataError, match=r"missing\.png: image not found"):
        open_rgb(tmp_path / "missing.png")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(DataError, match=r"text\.jpg: cannot read image"):
        open_rgb(tmp_path / "text.jpg")
    Image.fromarray(picture).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.png: cannot read image"):
        open_rgb(tmp_path / "cut.png")


def test_arrays_and_pil_images(picture):
    assert np.array_equal(np.asarray(as_rgb(picture)), picture)
    assert as_rgb(Image.fromarray(picture).convert("LA")).mode == "RGB"
    assert as_rgb(picture[..., :1]).mode == "RGB"
    with pytest.raises(DataError, match="uint8"):
        as_rgb(picture.astype(np.float32))
    with pytest.raises(DataError, match="HxW"):
        as_rgb(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(DataError, match="expected an image path"):
        as_rgb(42)
