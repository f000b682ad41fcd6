"""English -> German pairs from the gettext catalogues Debian packages install
(``/usr/share/locale/de/LC_MESSAGES/*.mo``: people's translations of UI and help text), and
the translation-memory baseline localisation tools use.

Pairs: every singular message with a non-empty translation, whitespace collapsed, 2 to 200
characters each side; one pair per English source (the first catalogue's, in file-name order);
split into train and test at random (seeded), so a test source never appears in training.
Translation memory: the target of the training source most similar to the test source
(cosine of TF-IDF vectors over character 2-4-grams, scikit-learn).
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

CATALOGUES = Path("/usr/share/locale/de/LC_MESSAGES")
LONGEST = 200


def read_mo(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) of a compiled gettext catalogue (GNU .mo: a header, then two tables of
    (length, offset) records), the header entry and plural forms left out."""
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xde\x12\x04\x95" else ">"
    count, originals, translations = struct.unpack(f"{order}4x4xIII", data[:20])
    pairs = []
    for index in range(count):
        length, offset = struct.unpack(f"{order}II", data[originals + 8 * index:originals + 8 * index + 8])
        source = data[offset:offset + length]
        length, offset = struct.unpack(f"{order}II", data[translations + 8 * index:translations + 8 * index + 8])
        target = data[offset:offset + length]
        if not source or b"\x00" in source or b"\x04" in source:  # the header, plural forms, contexts
            continue
        try:
            pairs.append((source.decode("utf-8"), target.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return pairs


def pairs(folder: Path = CATALOGUES) -> list[tuple[str, str]]:
    seen, found = set(), []
    for path in sorted(folder.glob("*.mo")):
        for source, target in read_mo(path):
            source, target = " ".join(source.split()), " ".join(target.split())
            if 2 <= len(source) <= LONGEST and 2 <= len(target) <= LONGEST and source not in seen:
                seen.add(source)
                found.append((source, target))
    return found


def split(rows: list, test_size: int, seed: int = 0) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i] for i in order[test_size:]], [rows[i] for i in order[:test_size]]


def translation_memory(train: list[tuple[str, str]], sources: list[str]) -> list[str]:
    """For each source, the target of the most similar training source (TF-IDF char 2-4-grams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    memory = vectorizer.fit_transform([s for s, _ in train])
    queries = vectorizer.transform(sources)
    best = np.asarray((queries @ memory.T).argmax(1)).reshape(-1)
    return [train[i][1] for i in best]
