"""timm's image transforms, written once in PIL + numpy (no torch) so that training,
evaluation, prediction and the ONNX runtime all share them.

Evaluation matches ``timm.data.create_transform(is_training=False)``: resize the short
side to ``size / crop_pct`` then centre-crop (or ``squash``: resize both sides), scale to
[0, 1], normalise. Training follows timm's default recipe: random resized crop,
flips, colour jitter.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageEnhance

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
CROP_MODES = ("center", "squash")


def eval_resize_crop(image: Image.Image, size: tuple[int, int], crop_pct: float, crop_mode: str,
                     resample: int) -> Image.Image:
    """Deterministic resize + centre crop to ``size`` = (height, width)."""
    height, width = size
    scale_h, scale_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
    if crop_mode == "squash":
        image = image.resize((scale_w, scale_h), resample)
    elif scale_h == scale_w:
        # torchvision's Resize(int): the short side becomes scale, the long side follows
        w, h = image.size
        if w <= h:
            new_w, new_h = scale_w, int(scale_w * h / w)
        else:
            new_w, new_h = int(scale_h * w / h), scale_h
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), resample)
    else:  # a non-square target: keep the aspect ratio, cover both sides
        w, h = image.size
        factor = max(scale_h / h, scale_w / w)
        image = image.resize((max(scale_w, round(w * factor)), max(scale_h, round(h * factor))), resample)
    return center_crop(image, height, width)


def center_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    w, h = image.size
    if w < width or h < height:  # pad like torchvision's CenterCrop (black), then crop
        padded = Image.new("RGB", (max(w, width), max(h, height)))
        padded.paste(image, ((padded.width - w) // 2, (padded.height - h) // 2))
        image, (w, h) = padded, padded.size
    top = int(round((h - height) / 2.0))
    left = int(round((w - width) / 2.0))
    return image.crop((left, top, left + width, top + height))


def random_resized_crop(image: Image.Image, size: tuple[int, int], scale: tuple[float, float],
                        ratio: tuple[float, float], resample: int, rng: np.random.Generator) -> Image.Image:
    """torchvision's RandomResizedCrop: a random area and aspect ratio, resized to ``size``."""
    width, height = image.size
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            break
    else:  # fall back to a central crop at the nearest allowed aspect ratio
        in_ratio = width / height
        if in_ratio < ratio[0]:
            w, h = width, int(round(width / ratio[0]))
        elif in_ratio > ratio[1]:
            h, w = height, int(round(height * ratio[1]))
        else:
            w, h = width, height
        top, left = (height - h) // 2, (width - w) // 2
    return image.resize((size[1], size[0]), resample, box=(left, top, left + w, top + h))


def color_jitter(image: Image.Image, strength: float, rng: np.random.Generator) -> Image.Image:
    """Random brightness, contrast and saturation in [1 - s, 1 + s], in random order."""
    enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
    for index in rng.permutation(len(enhancers)):
        factor = rng.uniform(max(0.0, 1 - strength), 1 + strength)
        image = enhancers[index](image).enhance(factor)
    return image


def to_array(image: Image.Image | np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """RGB image (or H x W x 3 uint8 array) -> normalised float32 (3, H, W)."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - mean) / std
    return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)
