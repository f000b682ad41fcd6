"""Source texts as token ids for an encoder-decoder, and (training) the target as teacher-forced
decoder inputs and next-token targets.

Arrays per example: ``input_ids`` and ``attention_mask`` (the source, ending with ``</s>``,
truncated to ``max_length``); with a label, ``decoder_input_ids`` (the decoder's start token,
then the target) and ``target_ids`` (the target, then ``</s>``; padding -100, which the loss
ignores), both cut to ``max_target_length``. A model without a tokenizer of its own gets a
Unigram tokenizer trained on the training sources and targets (``hub_nlp.tokenizer``).
"""
from __future__ import annotations

import numpy as np

from hub_nlp.preprocess import TextPreprocessor, padded
from hub_nlp.tokenizer import train_unigram

IGNORE = -100


class Seq2SeqPreprocessor(TextPreprocessor):
    def _ready(self) -> None:
        super()._ready()
        for role in ("sep",):
            if role not in self.specials:
                raise ValueError("a text-to-text tokenizer needs an end-of-sequence token (</s> or [SEP])")
        self.start = self.config["decoder_start"] if self.config["decoder_start"] is not None \
            else self.specials.get("cls", self.specials["pad"])  # BART's <s>; Marian and T5 start from <pad>
        self.end = self.specials["sep"]

    def fit(self, examples) -> None:
        """A Unigram tokenizer over sources and targets, when the model brought none."""
        if self.tokenizer is None:
            texts = [text for e in examples for text in (e.input, e.label) if isinstance(text, str)]
            self.tokenizer = train_unigram(texts, self.config["vocab_size"])
            self._ready()

    def _arrays(self, raw) -> dict[str, np.ndarray]:
        if self.tokenizer is None:
            raise RuntimeError("Seq2SeqPreprocessor used before fit(): it has no tokenizer yet")
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"a source is a non-empty text, got {raw!r}")
        encoding = self.tokenizer.encode(raw)
        return {"input_ids": np.asarray(encoding.ids, dtype=np.int64),
                "attention_mask": np.ones(len(encoding.ids), dtype=np.int64)}

    def target(self, label) -> np.ndarray:
        """The target's token ids, without special tokens, cut to leave room for ``</s>``."""
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"empty target {label!r}")
        ids = self.tokenizer.encode(label, add_special_tokens=False).ids
        return np.asarray(ids[:self.config["max_target_length"] - 1], dtype=np.int64)

    def with_label(self, raw, label, *, train=False, rng=None):
        """Teacher forcing: the decoder reads the start token and the target, and learns each next token."""
        arrays = self(raw)
        ids = self.target(label)
        arrays["decoder_input_ids"] = np.concatenate([[self.start], ids]).astype(np.int64)
        arrays["target_ids"] = np.concatenate([ids, [self.end]]).astype(np.int64)
        return arrays, label

    def collate(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Sources and targets padded each to their own longest (targets with -100: no loss)."""
        batch = {}
        for key in items[0]:
            value = IGNORE if key == "target_ids" else 0 if key == "attention_mask" else self.specials["pad"]
            batch[key] = padded([item[key] for item in items], value)
        return batch

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        arrays = super().synthetic(batch_size, scale, rng)
        return {key: arrays[key] for key in ("input_ids", "attention_mask")}
