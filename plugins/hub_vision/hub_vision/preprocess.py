"""ImagePreprocessor: an image path (or PIL image / uint8 array) -> ``pixel_values`` (3, H, W).

Its settings come from the backbone's timm ``pretrained_cfg`` (input size, mean/std,
interpolation, crop ratio) and may be overridden with ``--set KEY=VALUE``. Evaluation
and prediction are deterministic; ``train=True`` adds timm's augmentation. Numpy and
PIL only: the ONNX runtime runs this very code.
"""
from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from hub_core.api import Preprocessor, UsageError
from hub_vision.images import as_rgb
from hub_vision.transforms import (CROP_MODES, INTERPOLATIONS, color_jitter, eval_resize_crop, random_resized_crop,
                                   to_array)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: every option, its default and what it means (the defaults are timm's)
OPTIONS: dict[str, tuple[Any, str]] = {
    "image_size": (224, "side of the square input in pixels, or [height, width]"),
    "interpolation": ("bicubic", f"resize filter: {', '.join(INTERPOLATIONS)}"),
    "mean": (IMAGENET_MEAN, "per-channel mean subtracted after scaling to [0, 1]"),
    "std": (IMAGENET_STD, "per-channel standard deviation divided by"),
    "crop_pct": (0.875, "evaluation: resize to image_size / crop_pct, then centre-crop"),
    "crop_mode": ("center", f"evaluation crop: {', '.join(CROP_MODES)}"),
    "augment": (True, "training augmentation on (true) or off (false)"),
    "min_scale": (0.08, "training: smallest random crop, as a fraction of the image area"),
    "hflip": (0.5, "training: probability of a horizontal flip"),
    "vflip": (0.0, "training: probability of a vertical flip"),
    "color_jitter": (0.4, "training: brightness/contrast/saturation jitter strength (0: off)"),
}
CROP_RATIO = (3 / 4, 4 / 3)


class ImagePreprocessor(Preprocessor):
    def __init__(self, config: dict):
        unknown = [key for key in config if key not in OPTIONS]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], OPTIONS, n=1)
            raise UsageError(f"unknown image option {unknown[0]!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(OPTIONS)}"))
        options = {key: default for key, (default, _) in OPTIONS.items()}
        options.update(config)
        self.size = _size(options["image_size"])
        self.interpolation = _choice("interpolation", options["interpolation"], INTERPOLATIONS)
        self.mean = _triple("mean", options["mean"])
        self.std = _triple("std", options["std"], positive=True)
        self.crop_pct = _number("crop_pct", options["crop_pct"], low=0.0, high=1.0, open_low=True)
        self.crop_mode = _choice("crop_mode", options["crop_mode"], CROP_MODES)
        self.augment = _flag("augment", options["augment"])
        self.min_scale = _number("min_scale", options["min_scale"], low=0.0, high=1.0, open_low=True)
        self.hflip = _number("hflip", options["hflip"], low=0.0, high=1.0)
        self.vflip = _number("vflip", options["vflip"], low=0.0, high=1.0)
        self.jitter = _number("color_jitter", options["color_jitter"], low=0.0, high=1.0)
        size = list(self.size) if self.size[0] != self.size[1] else self.size[0]
        super().__init__({
            "image_size": size, "interpolation": self.interpolation, "mean": list(self.mean),
            "std": list(self.std), "crop_pct": self.crop_pct, "crop_mode": self.crop_mode,
            "augment": self.augment, "min_scale": self.min_scale, "hflip": self.hflip,
            "vflip": self.vflip, "color_jitter": self.jitter,
        })
        self._mean = np.asarray(self.mean, dtype=np.float32)
        self._std = np.asarray(self.std, dtype=np.float32)

    @property
    def augments(self) -> bool:
        """Whether training examples differ every epoch (the engine caches them if not)."""
        return self.augment

    def __call__(self, raw, *, train: bool = False, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        image = as_rgb(raw)
        resample = INTERPOLATIONS[self.interpolation]
        if train and self.augment:
            rng = rng if rng is not None else np.random.default_rng()
            image = random_resized_crop(image, self.size, (self.min_scale, 1.0), CROP_RATIO, resample, rng)
            if rng.random() < self.hflip:
                image = image.transpose(0)  # Image.Transpose.FLIP_LEFT_RIGHT
            if rng.random() < self.vflip:
                image = image.transpose(1)  # Image.Transpose.FLIP_TOP_BOTTOM
            if self.jitter > 0:
                image = color_jitter(image, self.jitter, rng)
        else:
            image = eval_resize_crop(image, self.size, self.crop_pct, self.crop_mode, resample)
        return {"pixel_values": to_array(image, self._mean, self._std)}

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        # Images are fixed-size after preprocessing, so ``scale`` does not apply. Random
        # pixels go through the real normalisation so the values look like real inputs.
        pixels = rng.integers(0, 256, size=(batch_size, *self.size, 3), dtype=np.uint8)
        return self.collate([{"pixel_values": to_array(p, self._mean, self._std)} for p in pixels])


def _size(value) -> tuple[int, int]:
    if isinstance(value, str):
        value = [part for part in value.replace("x", ",").split(",") if part.strip()]
        value = value[0] if len(value) == 1 else value
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise UsageError(f"image option 'image_size' must be one number or [height, width], got {value!r}")
        height, width = (_integer("image_size", v) for v in value)
        return height, width
    side = _integer("image_size", value)
    return side, side


def _integer(name: str, value) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        number = 0
    if isinstance(number, bool) or number < 8 or number > 4096:
        raise UsageError(f"image option {name!r} must be a whole number of pixels from 8 to 4096, got {value!r}")
    return number


def _number(name: str, value, *, low: float, high: float, open_low: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"image option {name!r} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not (low < number <= high if open_low else low <= number <= high):
        bracket = "(" if open_low else "["
        raise UsageError(f"image option {name!r} must be in {bracket}{low}, {high}], got {value!r}")
    return number


def _triple(name: str, value, positive: bool = False) -> tuple[float, float, float]:
    parts = value.split(",") if isinstance(value, str) else value
    try:
        numbers = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) == 1:
        numbers = numbers * 3
    if len(numbers) != 3 or (positive and min(numbers) <= 0):
        need = "three positive numbers" if positive else "three numbers"
        raise UsageError(f"image option {name!r} must be {need} (R,G,B), got {value!r}")
    return numbers


def _choice(name: str, value, allowed) -> str:
    text = str(value).lower()
    if text not in allowed:
        raise UsageError(f"image option {name!r} must be one of {', '.join(allowed)}, got {value!r}")
    return text


def _flag(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"image option {name!r} must be true or false, got {value!r}")
