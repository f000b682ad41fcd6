"""Open one image as 8-bit RGB, the way every vision command sees it (PIL + numpy, no torch).

EXIF orientation is applied (phone photos are stored sideways), transparency is laid
on white, 16-bit and float greyscale are scaled to 8 bits, animated files give their
first frame. Anything unreadable is a DataError naming the file (or, for an image stored
as bytes in a table, a Cell, the table and its row).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from hub_core.api import Cell, DataError, HubError, check_limit, read_cell

# PIL's own bomb check is replaced by check_limit("image_pixels") in decode: the same default
# (89 M pixels), named in the error and configurable (PLUGHUB_MAX_IMAGE_PIXELS)
Image.MAX_IMAGE_PIXELS = None

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def open_rgb(path: str | Path | Cell, *, draft_size: int | None = None, data: bytes | None = None) -> Image.Image:
    """The image at ``path`` (a file, or a Cell of a table) as a decoded RGB PIL image.

    ``draft_size`` lets JPEG decode at a reduced scale (at least that many pixels a
    side): the reader uses it to check every file quickly without a full decode.
    ``data``: the Cell's bytes, when the caller has them in hand.
    """
    if isinstance(path, Cell):
        return decode(io.BytesIO(data if data is not None else read_cell(path)), str(path), draft_size)
    path = Path(path)
    if not path.exists():
        raise DataError("image not found", file=path)
    if path.is_dir():
        raise DataError("is a directory, expected an image file", file=path)
    if not path.is_file():  # opening a FIFO would wait for a writer for ever
        raise DataError("is not a regular file (a FIFO, a device or a socket), expected an image file", file=path)
    return decode(path, path, draft_size)


def decode(source, path, draft_size: int | None) -> Image.Image:
    """Decode an open file or a path; errors name ``path``."""
    try:
        with Image.open(source) as image:  # reads the header only
            check_limit("image_pixels", image.width * image.height, path)  # before the pixels are decoded
            if draft_size:
                image.draft("RGB", (draft_size, draft_size))
            image.load()
            image = ImageOps.exif_transpose(image)
            return to_rgb(image)
    except HubError:  # a limit exceeded, or set wrong
        raise
    except Exception as err:  # noqa: BLE001 - PIL raises many types for broken files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"cannot read image: {reason}", file=path) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB: alpha over white, high bit depths scaled to 8 bits."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def as_rgb(raw, *, source: str = "") -> Image.Image:
    """A raw input (a path, a Cell, a PIL image, or an HxW / HxWxC uint8 array) as an RGB image."""
    if isinstance(raw, (str, Path, Cell)):
        return open_rgb(raw)
    if isinstance(raw, Image.Image):
        return to_rgb(raw)
    if isinstance(raw, np.ndarray):
        if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[2] not in (1, 3, 4)):
            raise DataError(f"an image array must be HxW or HxWxC with C in 1, 3, 4; got shape {raw.shape}",
                            file=source or None)
        array = raw[..., 0] if raw.ndim == 3 and raw.shape[2] == 1 else raw
        if array.dtype != np.uint8:
            raise DataError(f"an image array must be uint8, got {array.dtype}", file=source or None)
        return to_rgb(Image.fromarray(array))
    raise DataError(f"expected an image path, got {type(raw).__name__}", file=source or None, value=raw)
