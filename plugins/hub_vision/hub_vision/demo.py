"""hub demo's image row, and the shapes generator the vision example and tests use.

Coloured shapes in class folders: one shape per image, of random colour, size, position
and rotation, on a light background with noise, so the class is the shape and never the
colour. Images are saved as PNG, JPEG and WebP in turn, some greyscale, some RGBA, so the
reader's conversions are exercised too.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
FORMATS = ("png", "jpg", "webp")


def draw_shape(shape: str, size: int, rng: np.random.Generator) -> Image.Image:
    # A light background and a darker shape of any hue: the colour says nothing about the class.
    background = tuple(int(v) for v in rng.integers(170, 256, 3))
    colour = tuple(int(v) for v in rng.integers(0, 150, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.22, 0.36) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    else:
        corners = 4 if shape == "square" else 3
        turn = rng.uniform(0, 2 * math.pi)
        points = [(cx + radius * math.cos(turn + 2 * math.pi * k / corners),
                   cy + radius * math.sin(turn + 2 * math.pi * k / corners)) for k in range(corners)]
        draw.polygon(points, fill=colour)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 8, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_shapes(out: Path, per_class: int = 100, size: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    out = Path(out)
    for shape in SHAPES:
        (out / shape).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image = draw_shape(shape, size, rng)
            kind = FORMATS[index % len(FORMATS)]
            if index % 7 == 3:
                image = image.convert("L")
            elif index % 7 == 5 and kind != "jpg":
                image = image.convert("RGBA")
            image.save(out / shape / f"{shape}_{index:04d}.{kind}", quality=90)
    return out



def make_data(folder: Path, seed: int) -> dict:
    """The demo's data: 100 training and 30 validation images per shape, 32 px."""
    train = make_shapes(Path(folder) / "train", per_class=100, size=32, seed=seed)
    val = make_shapes(Path(folder) / "val", per_class=30, size=32, seed=seed + 1)
    return {"train": train, "val": val, "inputs": [str(val / "triangle" / "triangle_0000.png"),
                                                   str(val / "circle" / "circle_0000.png")]}
