"""Text -> token ids (numpy): truncation to ``max_length``, padding per batch in ``collate``.

Raw inputs it accepts (what the reader puts in Example.input, or a CLI string):
  "a text"                     one text
  ("first", "second")          a text pair (BERT's [CLS] A [SEP] B [SEP], token types 0/1)
  ["Pre", "tokenized", "words"]  words, as in CoNLL / NER JSONL
  "first ||| second"           a pair typed on the command line (``pair_separator``)

Arrays per example: ``input_ids``, ``attention_mask``, ``token_type_ids`` (when the model
uses token types) and ``word_ids``: for each token, the index of the whitespace-separated
word it belongs to, -1 for special tokens. Token tasks align word labels through it and
MLM never masks a special token; backbones ignore it.

Config keys: ``tokenizer`` (a directory or tokenizer.json of the model's own; None: train
a WordPiece on the training texts in ``fit``), ``vocab_size`` and ``lowercase`` (for that
training), ``max_length``, ``token_type_ids``, ``pair_separator``.
"""
from __future__ import annotations

import bisect
import re
from pathlib import Path

import numpy as np

from tokenizers import Tokenizer

from hub_core.api import Example, Preprocessor, UsageError, atomic_write_text, did_you_mean

from hub_nlp.tokenizer import load_tokenizer, special_ids, train_wordpiece

DEFAULTS = {"tokenizer": None, "vocab_size": 8000, "lowercase": True, "min_frequency": 2, "max_length": 512,
            "token_type_ids": True, "pair_separator": "|||", "qa": False, "doc_stride": None, "max_windows": 32,
            "seq2seq": False, "decoder_start": None, "max_target_length": 128}

def _whole(value, low: int, high: int = 10_000_000) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


CHECKS = {  # option: (does the value fit, what it must be)
    "tokenizer": (lambda v: v is None or isinstance(v, str) and bool(v.strip()), "a tokenizer.json or a folder"),
    "vocab_size": (lambda v: _whole(v, 1), "a whole number from 1 to 10,000,000"),
    "lowercase": (lambda v: isinstance(v, bool), "true or false"),
    "min_frequency": (lambda v: _whole(v, 0), "a whole number from 0 to 10,000,000"),
    "max_length": (lambda v: _whole(v, 3), "a whole number from 3 to 10,000,000"),
    "token_type_ids": (lambda v: isinstance(v, bool), "true or false"),
    "pair_separator": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-blank text"),
    "qa": (lambda v: isinstance(v, bool), "true or false"),
    "doc_stride": (lambda v: v is None or _whole(v, 0), "a whole number from 0 to 10,000,000"),
    "max_windows": (lambda v: _whole(v, 1), "a whole number from 1 to 10,000,000"),
    "seq2seq": (lambda v: isinstance(v, bool), "true or false"),
    "decoder_start": (lambda v: v is None or _whole(v, 0), "a token id"),
    "max_target_length": (lambda v: _whole(v, 2), "a whole number from 2 to 10,000,000"),
}
PAD_VALUES = {"input_ids": None, "attention_mask": 0, "token_type_ids": 0, "word_ids": -1,  # None: the pad id
              "offset_start": -1, "offset_end": -1}
TOKENIZER_FILE = "tokenizer.json"
WORD = re.compile(r"\S+")


class TextPreprocessor(Preprocessor):
    def __new__(cls, config: dict, tokenizer=None):
        if cls is TextPreprocessor and config.get("qa"):  # question/context pairs in windows (hub_nlp.qa_windows)
            from hub_nlp.qa_windows import QAPreprocessor

            cls = QAPreprocessor
        elif cls is TextPreprocessor and config.get("seq2seq"):  # sources and targets (hub_nlp.seq2seq_preprocess)
            from hub_nlp.seq2seq_preprocess import Seq2SeqPreprocessor

            cls = Seq2SeqPreprocessor
        return super().__new__(cls)

    def __init__(self, config: dict, tokenizer=None):
        unknown = sorted(set(config) - set(DEFAULTS))
        if unknown:
            raise UsageError(f"unknown text preprocessor option {unknown[0]!r}{did_you_mean(unknown[0], DEFAULTS)} "
                             f"(options: {', '.join(DEFAULTS)})")
        super().__init__({**DEFAULTS, **config})
        for key, (fits, wanted) in CHECKS.items():
            if not fits(self.config[key]):
                raise UsageError(f"text option {key} must be {wanted}, got {self.config[key]!r}")
        self.tokenizer = tokenizer
        if self.tokenizer is None and self.config["tokenizer"]:
            self.tokenizer = load_tokenizer(self.config["tokenizer"])
        if self.tokenizer is not None:
            self._ready()

    def _ready(self) -> None:
        self.tokenizer.enable_truncation(self.config["max_length"], strategy="longest_first")
        self.specials = special_ids(self.tokenizer)
        if "pad" not in self.specials:
            raise ValueError("the tokenizer has no padding token ([PAD] or <pad>)")

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    # -- fitting ---------------------------------------------------------------------
    def fit(self, examples: list[Example]) -> None:
        """Train a WordPiece on the training texts when the model brought no tokenizer."""
        if self.tokenizer is None:
            self.tokenizer = train_wordpiece(
                (text for e in examples for text in _texts(e.input)), self.config["vocab_size"],
                self.config["lowercase"], self.config["min_frequency"],
            )
            self._ready()

    # -- one example -----------------------------------------------------------------
    def __call__(self, raw, *, train: bool = False, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        try:
            return self._arrays(raw)
        except BaseException as err:
            if type(err).__name__ != "PanicException":  # the tokenizers library's Rust panic is a BaseException
                raise
            raise ValueError(f"the tokenizer failed on this text ({' '.join(str(err).split())[:160]}); its "
                             "tokenizer.json cannot handle it (a pre-tokenizer regex that backtracks too far?)") from None

    def _arrays(self, raw) -> dict[str, np.ndarray]:
        if self.tokenizer is None:
            raise RuntimeError("TextPreprocessor used before fit(): it has no tokenizer yet")
        if isinstance(raw, Packed):
            return raw.arrays(self.config["token_type_ids"])
        if isinstance(raw, str) and self.config["pair_separator"] in raw:
            raw = tuple(part.strip() for part in raw.split(self.config["pair_separator"], 1))
        if isinstance(raw, tuple):
            if len(raw) != 2:
                raise ValueError(f"a text pair has two texts, got {len(raw)}")
            encoding = self.tokenizer.encode(*(_check_text(t) for t in raw))
            word_ids = [-1 if w is None else w for w in encoding.word_ids]
        elif isinstance(raw, list):
            if not raw:
                raise ValueError("no words")
            encoding = self.tokenizer.encode([_check_text(w) for w in raw], is_pretokenized=True)
            word_ids = [-1 if w is None else w for w in encoding.word_ids]
        else:
            text = _check_text(raw)
            encoding = self.tokenizer.encode(text)
            word_ids = _whitespace_word_ids(text, encoding.offsets, encoding.special_tokens_mask)
        arrays = {
            "input_ids": np.asarray(encoding.ids, dtype=np.int64),
            "attention_mask": np.ones(len(encoding.ids), dtype=np.int64),
        }
        if self.config["token_type_ids"]:
            arrays["token_type_ids"] = np.asarray(encoding.type_ids, dtype=np.int64)
        arrays["word_ids"] = np.asarray(word_ids, dtype=np.int64)
        return arrays

    def pack(self, examples: list[Example], block: int) -> list[Example]:
        """Texts joined by [SEP] into one token stream, cut into sequences of ``block``
        tokens that start with [CLS] (RoBERTa's FULL-SENTENCES packing): a corpus of short
        texts trains on full sequences instead of batches of mostly padding. Texts are not
        truncated; word ids stay per word (whole-word masking), -1 on special tokens."""
        cls, sep = self.specials.get("cls"), self.specials.get("sep")
        if cls is None or sep is None:
            raise ValueError("packing needs a tokenizer with [CLS] and [SEP] (or <s> and </s>)")
        streamer = Tokenizer.from_str(self.tokenizer.to_str())  # a copy without truncation
        streamer.no_truncation()
        texts = [" ".join(_texts(e.input)) for e in examples]
        ids, words, offset = [], [], 0
        for text, encoding in zip(texts, streamer.encode_batch(texts, add_special_tokens=False)):
            word_ids = _whitespace_word_ids(text, encoding.offsets, encoding.special_tokens_mask)
            ids.extend(encoding.ids + [sep])
            words.extend([w + offset for w in word_ids] + [-1])
            offset += max(word_ids, default=-1) + 1
        ids, words, room = np.asarray(ids, dtype=np.int64), np.asarray(words, dtype=np.int64), block - 1
        packed = []
        for start in range(0, len(ids), room):
            chunk, chunk_words = ids[start:start + room], words[start:start + room]
            if (chunk_words >= 0).sum() == 0:
                continue
            first = chunk_words[chunk_words >= 0].min()  # word ids from 0 within the sequence
            chunk_words = np.where(chunk_words >= 0, chunk_words - first, -1)
            packed.append(Example(Packed(np.concatenate([[cls], chunk]), np.concatenate([[-1], chunk_words])),
                                  None, f"packed sequence {len(packed) + 1}"))
        return packed

    def length(self, arrays: dict[str, np.ndarray]) -> int:
        return len(arrays["input_ids"])

    # -- batches -----------------------------------------------------------------------
    def collate(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Pad to the longest example of the batch (dynamic padding); a batch of equal lengths
        (packed sequences) is one stack per input."""
        lengths = [len(item["input_ids"]) for item in items]
        longest = max(lengths)
        if min(lengths) == longest:
            return {key: np.stack([item[key] for item in items]).astype(np.int64, copy=False) for key in items[0]}
        batch = {}
        for key in items[0]:
            value = PAD_VALUES.get(key, 0)
            batch[key] = padded([item[key] for item in items], self.specials["pad"] if value is None else value)
        return batch

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random token sequences of mixed lengths (about 32 tokens at scale 1), padded."""
        longest = int(min(self.config["max_length"], max(3, round(32 * scale))))
        ordinary = np.setdiff1d(np.arange(self.vocab_size), list(self.specials.values()))
        cls, sep = self.specials.get("cls"), self.specials.get("sep")
        items = []
        for i in range(batch_size):
            length = longest if i == 0 else int(rng.integers(max(3, longest // 2), longest + 1))
            ids = rng.choice(ordinary, size=length)
            if cls is not None and sep is not None:
                ids[0], ids[-1] = cls, sep
            arrays = {"input_ids": ids.astype(np.int64), "attention_mask": np.ones(length, dtype=np.int64)}
            if self.config["token_type_ids"]:
                arrays["token_type_ids"] = np.zeros(length, dtype=np.int64)
            arrays["word_ids"] = np.arange(-1, length - 1, dtype=np.int64)
            arrays["word_ids"][-1] = -1  # [CLS] and [SEP] belong to no word
            items.append(arrays)
        return self.collate(items)

    # -- files -------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(directory / TOKENIZER_FILE, self.tokenizer.to_str())

    @classmethod
    def load(cls, directory: Path, config: dict) -> "TextPreprocessor":
        return cls(config, tokenizer=load_tokenizer(Path(directory) / TOKENIZER_FILE))


class Packed:
    """Token ids already packed into one sequence (see ``TextPreprocessor.pack``)."""

    def __init__(self, input_ids: np.ndarray, word_ids: np.ndarray):
        self.input_ids, self.word_ids = input_ids.astype(np.int64), word_ids.astype(np.int64)

    def arrays(self, token_types: bool) -> dict[str, np.ndarray]:
        arrays = {"input_ids": self.input_ids, "attention_mask": np.ones(len(self.input_ids), dtype=np.int64)}
        if token_types:
            arrays["token_type_ids"] = np.zeros(len(self.input_ids), dtype=np.int64)
        arrays["word_ids"] = self.word_ids
        return arrays


def _texts(raw) -> list[str]:
    if isinstance(raw, tuple):
        return [str(t) for t in raw]
    if isinstance(raw, list):
        return [" ".join(map(str, raw))]
    return [str(raw)]


def _check_text(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {type(value).__name__} {value!r}")
    if not value.strip():
        raise ValueError("empty text")
    return value


def _whitespace_word_ids(text: str, offsets, special_mask) -> list[int]:
    """Map each token to the whitespace-separated word holding its first character."""
    starts = [m.start() for m in WORD.finditer(text)]
    return [-1 if special else bisect.bisect_right(starts, start) - 1 for (start, _), special in zip(offsets, special_mask)]


def padded(rows: list[np.ndarray], value: int) -> np.ndarray:
    """Token rows as one int64 array, each padded with ``value`` to the longest."""
    out = np.full((len(rows), max(len(row) for row in rows)), value, dtype=np.int64)
    for number, row in enumerate(rows):
        out[number, :len(row)] = row
    return out
