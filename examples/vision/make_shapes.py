"""Generate a small image-classification data set: coloured shapes in class folders.

    python examples/vision/make_shapes.py OUT [--per-class 100] [--size 64] [--seed 0]

writes OUT/circle/*.png, OUT/square/*.png, OUT/triangle/*.png: one shape per image, of
random colour, size, position and rotation, on a random background with noise, so that
the class is the shape and never the colour. Images are saved as PNG, JPEG and WebP in
turn, some greyscale, some RGBA, so the reader's conversions are exercised too.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hub_vision.demo import FORMATS, SHAPES, draw_shape, make_shapes  # noqa: F401 - the generator lives in the plugin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_shapes(args.out, args.per_class, args.size, args.seed)
    print(f"wrote {args.per_class * len(SHAPES)} images to {args.out}")


if __name__ == "__main__":
    main()
