"""Transcripts: the text normalisation every transcript goes through (training targets,
references for WER, word lists), and the character vocabulary fitted on the training set.

Normalisation (stated, so references and outputs are compared alike): Unicode NFKC, lower
case (``str.casefold``), typographic apostrophes made ``'``; letters, digits and the
apostrophe are kept, every other character (punctuation, hyphens, symbols) becomes a space,
and runs of spaces become one, trimmed. "Don't PANIC -- it's 4:20!" -> "don't panic it's 4 20".
Numbers are not spelt out: a set that writes "four" and "4" teaches both.
"""
from __future__ import annotations

import re
import unicodedata

BLANK = "<blank>"  # CTC's blank: index 0 of every vocabulary
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
SPACES = re.compile(r"\s+")


def normalise(text) -> str:
    """The normalised transcript (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", str(text)).casefold().translate(APOSTROPHES)
    kept = "".join(ch if ch == "'" or unicodedata.category(ch)[0] in "LN" else " " for ch in text)
    return SPACES.sub(" ", kept).strip()


class Vocabulary:
    """Characters <-> indices: index 0 is CTC's blank, then the characters of the normalised
    training transcripts, the space included, sorted."""

    def __init__(self, characters: list[str]):
        self.characters = list(characters)
        self.index = {ch: i + 1 for i, ch in enumerate(self.characters)}

    @classmethod
    def fit(cls, transcripts) -> "Vocabulary":
        seen = set()
        for text in transcripts:
            seen.update(normalise(text))
        seen.add(" ")
        return cls(sorted(seen))

    def __len__(self) -> int:
        return len(self.characters) + 1  # with the blank

    def encode(self, text) -> list[int]:
        """The indices of a transcript, normalised; a character the training transcripts
        never had is a ValueError saying which."""
        normalised = normalise(text)
        if not normalised:
            raise ValueError(f"empty transcript {text!r} (nothing is left after normalisation)")
        missing = sorted({ch for ch in normalised if ch not in self.index})
        if missing:
            raise ValueError(f"transcript {str(text)[:80]!r} has character(s) outside the vocabulary fitted on the "
                             f"training transcripts: {', '.join(repr(ch) for ch in missing)}")
        return [self.index[ch] for ch in normalised]

    def decode(self, indices) -> str:
        return "".join(self.characters[i - 1] for i in indices if i > 0)
