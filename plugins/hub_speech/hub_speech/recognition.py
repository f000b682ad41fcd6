"""speech-recognition: CTC over characters on any audio backbone that yields sequences.

The vocabulary is fitted on the normalised training transcripts (``transcripts.py``); the
targets are ragged (one index array per clip); the loss is torch's CTC loss over each clip's
real frames (the backbone's mask, counted by the head as ``frames``); decoding is numpy
(``ctc.py``), so torch, onnxruntime, ``hub evaluate``, ``predict`` and ``serve`` answer alike.

Options (``--task-option KEY=VALUE``): ``decoder`` greedy (default) or beam; ``beam_width``
(8); ``words``: a text file whose words (normalised) are the only ones the beam search may
write, kept in hub.json so the model directory ships it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hub_core.api import Metric, Task, labels_of
from hub_speech.ctc import WordList, greedy, prefix_beam, tidy, words_with_times
from hub_speech.transcripts import Vocabulary, normalise

DECODERS = ("greedy", "beam")
SHOWN_UTTERANCES = 100  # per-utterance errors reported, the worst first


class SpeechRecognition(Task):
    name = "speech-recognition"
    output_names = ("log_probs", "frames")
    monitor = "wer"
    needs_examples = True  # per-utterance errors name their clip

    def __init__(self, vocabulary: list[str] | None = None, sample_rate: int = 16000, decoder: str = "greedy",
                 beam_width: int = 8, words=None):
        if decoder not in DECODERS:
            raise ValueError(f"decoder = {decoder!r} must be one of {', '.join(DECODERS)}")
        if int(beam_width) < 1:
            raise ValueError(f"beam_width = {beam_width!r} must be at least 1")
        super().__init__(decoder=decoder, beam_width=int(beam_width))
        self.vocabulary = Vocabulary(vocabulary or [])
        self.sample_rate = int(sample_rate)
        self.words = read_words(words) if isinstance(words, (str, Path)) else list(words or [])
        self._allowed = None

    def fit(self, examples) -> None:
        transcripts = labels_of(examples)
        for example, text in zip(examples, transcripts):
            if text is None or not normalise(text):
                raise ValueError(f"{example.source or 'an example'}: no transcript (an empty text after normalisation)")
        self.vocabulary = Vocabulary.fit(transcripts)
        for word in self.words:
            self.vocabulary.encode(word)  # a listed word the model cannot spell is said now

    def fit_to(self, preprocessor) -> None:
        """Word times need the clip's rate; a clip longer than --max-seconds is refused, never
        cut (its transcript would no longer match)."""
        self.sample_rate = int(preprocessor.config["sample_rate"])
        preprocessor.config["long_clips"] = "refuse"

    @property
    def num_outputs(self) -> int:
        return len(self.vocabulary)

    def encode(self, label, arrays) -> np.ndarray:
        if label is None:
            raise ValueError("no transcript")
        return np.asarray(self.vocabulary.encode(label), dtype=np.int64)

    def collate_targets(self, targets: list[np.ndarray]):
        return list(targets)  # ragged, even when two transcripts happen to have one length

    def loss(self, outputs, batch):
        import torch
        import torch.nn.functional as F

        targets = batch.targets
        lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
        log_probs = outputs["log_probs"].float().transpose(0, 1)  # (T, B, V), as ctc_loss takes them
        # zero_infinity: a clip too short for its transcript adds nothing rather than inf
        return F.ctc_loss(log_probs, torch.cat(list(targets)).long(), outputs["frames"].long(), lengths,
                          blank=0, reduction="mean", zero_infinity=True)

    def metrics(self) -> list:
        return [ErrorRates(self)]

    def transcribe(self, log_probs: np.ndarray, frames: int) -> tuple[str, list, float]:
        """(text, each character's [first, last] frame, score) of one clip's real frames."""
        frames_lp = np.asarray(log_probs[:frames], dtype=np.float32)
        tokens, spans, score = greedy(frames_lp)
        if self.options["decoder"] == "beam":
            tokens, log_probability = prefix_beam(frames_lp, self.options["beam_width"], self.vocabulary.index[" "],
                                                  self.allowed())
            spans, score = [], float(np.exp(log_probability / max(1, frames)))
        tokens, spans = tidy(tokens, spans, self.vocabulary.index[" "])
        return self.vocabulary.decode(tokens), spans, score

    def allowed(self):
        if self.words and self._allowed is None:
            self._allowed = WordList([self.vocabulary.encode(w) for w in self.words], self.vocabulary.index[" "])
        return self._allowed

    def decode(self, outputs, batch, top_k: int = 1) -> list:
        answers = []
        lengths = np.asarray(batch.inputs["lengths"]).reshape(-1)
        for row, (log_probs, frames) in enumerate(zip(outputs["log_probs"], np.asarray(outputs["frames"]))):
            text, spans, score = self.transcribe(log_probs, int(frames))
            answer = {"text": text, "score": round(score, 5)}
            if spans and len(spans) == len(text):
                seconds = lengths[row] / self.sample_rate / max(1, int(frames))  # one frame's duration
                answer["words"] = words_with_times(text, spans, float(seconds))
            answers.append(answer)
        return answers

    def state(self) -> dict:
        return {"vocabulary": self.vocabulary.characters, "sample_rate": self.sample_rate, "words": self.words,
                **self.options}

    @classmethod
    def from_state(cls, state: dict) -> "SpeechRecognition":
        return cls(**state)


def read_words(path) -> list[str]:
    """The distinct normalised words of a text file (one a line, or running text)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"words = {str(path)!r}: no such file")
    return sorted({word for line in path.read_text(encoding="utf-8").splitlines() for word in normalise(line).split()})


class ErrorRates(Metric):
    """Word and character error rates (jiwer) of the decoded transcripts against the
    references, and the utterances with the most word errors, for a person to read."""

    directions = {"wer": False, "cer": False}

    def __init__(self, task: SpeechRecognition):
        self.task, self.references, self.hypotheses, self.sources = task, [], [], []

    def update(self, outputs, batch) -> None:
        for row, (log_probs, frames) in enumerate(zip(outputs["log_probs"], np.asarray(outputs["frames"]))):
            self.hypotheses.append(self.task.transcribe(log_probs, int(frames))[0])
            self.references.append(self.task.vocabulary.decode(np.asarray(batch.targets[row]).tolist()))
            self.sources.append(batch.examples[row].source if batch.examples else str(len(self.sources)))

    def compute(self) -> dict:
        import jiwer

        if not self.references:
            return {"wer": 1.0, "cer": 1.0}
        rows = []
        for source, reference, hypothesis in zip(self.sources, self.references, self.hypotheses):
            words = jiwer.process_words(reference, hypothesis)
            errors = words.substitutions + words.deletions + words.insertions
            rows.append({"source": source, "reference": reference, "hypothesis": hypothesis, "word_errors": errors,
                         "words": len(reference.split()), "wer": round(errors / max(1, len(reference.split())), 4)})
        rows.sort(key=lambda r: (-r["word_errors"], r["source"]))
        return {"wer": float(jiwer.wer(self.references, self.hypotheses)),
                "cer": float(jiwer.cer(self.references, self.hypotheses)),
                "worst_utterances": [r for r in rows[:SHOWN_UTTERANCES] if r["word_errors"]]}
