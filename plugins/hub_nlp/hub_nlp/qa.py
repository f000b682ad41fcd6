"""Extractive question answering: the answer is a span of the context (SQuAD v1.1 and v2).

The head scores each token as the answer's start and as its end; the numpy decoder searches
the n best (start, end) pairs of a window with start <= end < start + ``max_answer_tokens``,
inside the context only, and cuts the answer from the original context through the
preprocessor's character offsets (transformers' ``utils_qa.postprocess_qa_predictions``).
A window's score is p(start) * p(end) under its softmaxes; the task ``gather``\\s the windows
of one context back into its best answer. Trained on data with unanswerable questions
(v2), the task answers "" when the [CLS] token's null score beats every span in every window.
"""
from __future__ import annotations

import numpy as np

from hub_core.api import Example, Task

N_BEST = 20  # start and end candidates per window, as transformers' utils_qa


def target_span(answer: dict | None, starts: np.ndarray, ends: np.ndarray) -> tuple[int, int]:
    """The (start, end) tokens of ``answer`` (characters ``start`` to ``start + len(text)``) in a
    window with these token offsets; (0, 0), the [CLS] token, when the window does not hold it whole."""
    if not answer:
        return 0, 0
    first, last = answer["start"], answer["start"] + len(answer["text"])
    inside = np.flatnonzero(starts >= 0)
    if not len(inside) or starts[inside[0]] > first or ends[inside[-1]] < last:
        return 0, 0
    start = inside[np.flatnonzero(ends[inside] > first)[0]]
    end = inside[np.flatnonzero(starts[inside] < last)[-1]]
    return int(start), int(end)


def log_softmax(logits: np.ndarray, keep: np.ndarray) -> np.ndarray:
    masked = np.where(keep, logits.astype(np.float64), -np.inf)
    top = masked.max()
    return masked - top - np.log(np.exp(masked - top).sum())


class ExtractiveQATask(Task):
    name = "extractive-qa"
    output_names = ("start_logits", "end_logits")
    monitor = "f1"
    needs_examples = True  # the answer is cut from the raw context
    preprocess = {"qa": True}

    def __init__(self, max_answer_tokens: int = 30, unanswerable: bool | None = None):
        super().__init__(max_answer_tokens=max_answer_tokens, unanswerable=unanswerable)
        if not isinstance(max_answer_tokens, int) or max_answer_tokens < 1:
            raise ValueError(f"max_answer_tokens must be a whole number >= 1, got {max_answer_tokens!r}")
        self.max_answer_tokens, self.unanswerable = max_answer_tokens, unanswerable

    def fit(self, examples: list[Example]) -> None:
        """Unanswerable questions in the training data (v2) let the decoder answer ""."""
        if self.unanswerable is None:
            self.unanswerable = any(e.label is not None and not e.label for e in examples)
        self.options["unanswerable"] = self.unanswerable

    @property
    def num_outputs(self) -> int:
        return 2

    def encode(self, label, arrays) -> np.ndarray:
        if not isinstance(label, list):
            raise ValueError(f"a QA label is a list of answers {{text, start}}, got {label!r}")
        return np.asarray(target_span(label[0] if label else None, arrays["offset_start"], arrays["offset_end"]),
                          dtype=np.int64)

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        mask = batch.inputs["attention_mask"] == 0
        losses = [F.cross_entropy(outputs[name].masked_fill(mask, -1e4), batch.targets[:, column])
                  for column, name in enumerate(self.output_names)]
        return (losses[0] + losses[1]) / 2

    def metrics(self) -> list:
        from hub_nlp.qa_metrics import SquadScore

        return [SquadScore(self)]

    def candidates(self, start_logits: np.ndarray, end_logits: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                   context: str, top_k: int) -> tuple[list[dict], float]:
        """One window's best spans (text, char offsets, score), best first, and its null score."""
        inside = starts >= 0
        keep = inside.copy()
        keep[0] = True  # the [CLS] token: "no answer"
        log_start, log_end = log_softmax(start_logits, keep), log_softmax(end_logits, keep)
        null = float(np.exp(log_start[0] + log_end[0]))
        begin = [i for i in np.argsort(-log_start, kind="stable")[:N_BEST] if inside[i]]
        finish = [j for j in np.argsort(-log_end, kind="stable")[:N_BEST] if inside[j]]
        found = sorted(((log_start[i] + log_end[j], i, j) for i in begin for j in finish
                        if i <= j < i + self.max_answer_tokens), key=lambda c: -c[0])
        spans, seen = [], set()
        for log_score, i, j in found:
            first, last = int(starts[i]), int(ends[j])
            if (first, last) in seen:
                continue
            seen.add((first, last))
            spans.append({"text": context[first:last], "start": first, "end": last,
                          "score": round(float(np.exp(log_score)), 6)})
            if len(spans) == max(top_k, 1):
                break
        return spans, null

    def decode(self, outputs, batch, top_k: int = 1) -> list:
        """Per window (every input is one window or more): its n best spans and its null score,
        which ``gather`` turns into the context's answer."""
        parts = []
        for row in range(len(batch)):
            raw = batch.examples[row].input if batch.examples else None  # no raw input (int8's judge): offsets only
            context = "" if raw is None else raw["context"] if isinstance(raw, dict) else context_of(raw)
            spans, null = self.candidates(outputs["start_logits"][row], outputs["end_logits"][row],
                                          np.asarray(batch.inputs["offset_start"][row]),
                                          np.asarray(batch.inputs["offset_end"][row]), context, top_k)
            parts.append({"n_best": spans, "null_score": null, "top_k": top_k})
        return parts

    def gather(self, answers: list) -> dict:
        """A context's answer from its windows': the best span of any window (a span two windows
        share counted once), or "" (no answer) when the model learnt to abstain and the null score
        of the window most sure there is an answer (transformers' minimum) beats it."""
        top_k = max(part["top_k"] for part in answers)
        spans, seen = [], set()
        for span in sorted((s for part in answers for s in part["n_best"]), key=lambda s: -s["score"]):
            if (span["start"], span["end"]) not in seen:
                seen.add((span["start"], span["end"]))
                spans.append(span)
        null = min(part["null_score"] for part in answers)
        best = spans[0] if spans else {"text": "", "start": -1, "end": -1, "score": 0.0}
        if self.unanswerable and null > best["score"]:
            best = {"text": "", "start": -1, "end": -1, "score": round(null, 6)}
        answer = {**best, "null_score": round(null, 6)}
        if top_k > 1:
            answer["n_best"] = spans[:top_k]
        return answer

    def state(self) -> dict:
        return {"options": {"max_answer_tokens": self.max_answer_tokens, "unanswerable": self.unanswerable}}


def context_of(raw) -> str:
    """The context of a raw (unwindowed) input: a pair, or "question ||| context"."""
    if isinstance(raw, (tuple, list)):
        return raw[1]
    return str(raw).split("|||", 1)[1].strip()
