"""Question/context pairs as token windows with character offsets (extractive QA).

A pair is ``[CLS] question [SEP] context-part [SEP]``; a context longer than ``max_length``
allows becomes several windows, consecutive ones sharing ``doc_stride`` tokens (BERT's SQuAD
recipe, the tokenizer's own overflow; a quarter of the window unless set). Each window is an item of its own (``windows``); the
task gathers their answers back into one. Besides the model's inputs, a window's arrays hold
``offset_start`` / ``offset_end``: each token's characters in the whole context, -1 outside
it, so the decoder cuts the answer from the original text.

Raw inputs: ``(question, context)`` (a reader's pair, the server's two-item list), or
``"question ||| context"`` typed on the command line.
"""
from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer

from hub_core.api import UsageError
from hub_nlp.preprocess import TextPreprocessor

QUESTION_ROOM = 0.5  # a question may take at most half a window: the context needs the rest


class Window(dict):
    """One window of a pair: ``question``, ``context`` and its index ``window`` among the pair's."""


class QAPreprocessor(TextPreprocessor):
    def _ready(self) -> None:
        super()._ready()
        stride = self.config["doc_stride"]
        if stride is None:  # a quarter of the window (BERT's SQuAD runs: 128 of 384)
            stride = self.config["max_length"] // 4
        if stride >= self.config["max_length"] // 2:
            raise UsageError(f"text option doc_stride {stride} must be under half of max_length "
                             f"{self.config['max_length']}")
        self.stride = stride
        self.tokenizer.enable_truncation(self.config["max_length"], stride=stride, strategy="only_second")
        self.counter = Tokenizer.from_str(self.tokenizer.to_str())  # counts a question's tokens, never truncating
        self.counter.no_truncation()

    def pair(self, raw) -> tuple[str, str]:
        """(question, context) of any raw QA input, checked."""
        if isinstance(raw, Window):
            return raw["question"], raw["context"]
        if isinstance(raw, str) and self.config["pair_separator"] in raw:
            raw = tuple(part.strip() for part in raw.split(self.config["pair_separator"], 1))
        if not isinstance(raw, (tuple, list)) or len(raw) != 2 or not all(isinstance(t, str) for t in raw):
            raise ValueError(f"a question-answering input is a question and a context (\"QUESTION "
                             f"{self.config['pair_separator']} CONTEXT\"), got {str(raw)[:80]!r}")
        question, context = raw
        for name, text in (("question", question), ("context", context)):
            if not text.strip():
                raise ValueError(f"empty {name}")
        return question, context

    def encodings(self, question: str, context: str) -> list:
        """The tokenizer's windows of one pair, checked against the budgets."""
        budget = self.config["max_length"]
        asked = len(self.counter.encode(question, add_special_tokens=False).ids)
        if asked > budget * QUESTION_ROOM:
            raise ValueError(f"the question is {asked} tokens, over half of a window of max_length {budget}")
        encoding = self.tokenizer.encode(question, context)
        found = [encoding, *encoding.overflowing]
        if len(found) > self.config["max_windows"]:
            raise ValueError(f"the context needs {len(found)} windows of {budget} tokens (doc_stride "
                             f"{self.stride}), over max_windows {self.config['max_windows']}: a longer "
                             "max_length or a larger max_windows takes it")
        return found

    def windows(self, raw) -> list | None:
        question, context = self.pair(raw)
        count = len(self.encodings(question, context))
        if count == 1:
            return None
        return [Window(question=question, context=context, window=k) for k in range(count)]

    def _arrays(self, raw) -> dict[str, np.ndarray]:
        if self.tokenizer is None:
            raise RuntimeError("QAPreprocessor used before fit(): it has no tokenizer yet")
        question, context = self.pair(raw)
        encoding = self.encodings(question, context)[raw["window"] if isinstance(raw, Window) else 0]
        in_context = np.asarray([s == 1 for s in encoding.sequence_ids])
        offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
        arrays = {"input_ids": np.asarray(encoding.ids, dtype=np.int64),
                  "attention_mask": np.asarray(encoding.attention_mask, dtype=np.int64)}
        if self.config["token_type_ids"]:
            arrays["token_type_ids"] = np.asarray(encoding.type_ids, dtype=np.int64)
        arrays["offset_start"] = np.where(in_context, offsets[:, 0], -1)
        arrays["offset_end"] = np.where(in_context, offsets[:, 1], -1)
        return arrays

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        arrays = super().synthetic(batch_size, scale, rng)
        arrays.pop("word_ids", None)
        positions = np.arange(arrays["input_ids"].shape[1])
        arrays["offset_start"] = np.where(arrays["attention_mask"] > 0, positions * 4, -1)
        arrays["offset_end"] = np.where(arrays["attention_mask"] > 0, positions * 4 + 3, -1)
        return arrays
