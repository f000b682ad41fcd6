"""Generated text-to-text pairs (a mechanism check): digit strings spelt out in German words,
"3 1 4" -> "drei eins vier", in a table or as two parallel text files."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

WORDS = "null eins zwei drei vier fünf sechs sieben acht neun".split()


def pairs(n: int, seed: int, longest: int = 5) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        digits = rng.integers(0, 10, int(rng.integers(1, longest + 1)))
        rows.append((" ".join(map(str, digits)), " ".join(WORDS[d] for d in digits)))
    return rows


def write_csv(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("source", "target"), *rows])
    return path


def write_parallel(folder: Path, rows, name: str = "train") -> tuple[Path, Path]:
    source, target = folder / f"{name}.src.txt", folder / f"{name}.tgt.txt"
    source.write_text("".join(s + "\n" for s, _ in rows), encoding="utf-8")
    target.write_text("".join(t + "\n" for _, t in rows), encoding="utf-8")
    return source, target
