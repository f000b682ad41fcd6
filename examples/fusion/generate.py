"""Generate a caption + picture task that neither modality solves alone.

    python examples/fusion/generate.py OUT [--train 960] [--val 240] [--test 240] [--size 32] [--seed 0]

Each row is a listing: a caption and a picture. The label is "COLOUR-SHAPE" (12 classes):
the colour is the one the caption names, the shape the one the picture shows. The picture's
own colour is drawn at random, and captions often name a random shape, so a text-only model
can know the colour but must guess the shape (at best 1/3 right) and an image-only model can
know the shape but must guess the colour (at best 1/4); a model that reads both can be right
nearly always. Captions vary in wording, pictures in position, size, background and noise.

Writes OUT/images/*.png and OUT/{train,val,test}.csv with columns caption, image, label
(image paths relative to the CSV), plus OUT/test_missing.csv: the test rows with the caption
left empty, to show the missing-value policy (the absent embedding stands in for the text).
"""
from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")
WORDS = ("small", "large", "bright", "plain", "shiny", "old")
TEMPLATES = ("a {word} {colour} {shape}", "this one is {colour}", "look, a {colour} {shape} for sale",
             "{colour}", "the {colour} {word} edition", "someone drew it in {colour}, a {shape} maybe")


def caption(colour: str, rng: np.random.Generator) -> str:
    """Names the colour; a shape it names is random (noise)."""
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(colour=colour, word=WORDS[rng.integers(len(WORDS))], shape=SHAPES[rng.integers(len(SHAPES))])


def picture(shape: str, colour: str, size: int, rng: np.random.Generator) -> Image.Image:
    """The shape in the colour (jittered) on a random dull background, with noise."""
    grey = int(rng.integers(60, 200))
    background = tuple(int(np.clip(grey + rng.integers(-20, 21), 0, 255)) for _ in range(3))
    fill = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in COLOURS[colour])
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.2, 0.35) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    else:
        corners = 4 if shape == "square" else 3
        turn = rng.uniform(0, 2 * math.pi)
        draw.polygon([(cx + radius * math.cos(turn + 2 * math.pi * k / corners),
                       cy + radius * math.sin(turn + 2 * math.pi * k / corners)) for k in range(corners)], fill=fill)
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 10, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def rows(split: str, count: int, out: Path, size: int, rng: np.random.Generator) -> list[dict]:
    names = list(COLOURS)
    result = []
    for index in range(count):
        said, shape = names[index % len(names)], SHAPES[(index // len(names)) % len(SHAPES)]  # balanced classes
        path = out / "images" / f"{split}_{index:04d}.png"
        picture(shape, names[rng.integers(len(names))], size, rng).save(path)
        result.append({"caption": caption(said, rng), "image": f"images/{path.name}", "label": f"{said}-{shape}"})
    return [result[i] for i in rng.permutation(len(result))]


def write(path: Path, table: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["caption", "image", "label"])
        writer.writeheader()
        writer.writerows(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=960)
    parser.add_argument("--val", type=int, default=240)
    parser.add_argument("--test", type=int, default=240)
    parser.add_argument("--size", type=int, default=32, help="picture side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        table = rows(split, getattr(args, split), args.out, args.size, rng)
        write(args.out / f"{split}.csv", table)
        if split == "test":
            write(args.out / "test_missing.csv", [{**row, "caption": ""} for row in table])
    print(f"wrote {args.out}: {args.train} train, {args.val} val, {args.test} test rows")


if __name__ == "__main__":
    main()
