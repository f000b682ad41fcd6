"""SQuAD's exact match and F1, as its official evaluation script (v1.1, and v2 for unanswerable
questions) defines them: answers normalised (lower case, no punctuation, no articles, single
spaces), the best score over the reference answers, averaged over questions.
Numpy and the standard library only: the ONNX path scores with the same code (torchmetrics'
SQuAD, which agrees on these definitions, needs torch; a test compares the two).
"""
from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

from hub_core.api import Metric

ARTICLES = re.compile(r"\b(a|an|the)\b")
PUNCTUATION = set(string.punctuation)


def normalise(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    return " ".join(ARTICLES.sub(" ", text).split())


def exact(prediction: str, truth: str) -> float:
    return float(normalise(prediction) == normalise(truth))


def f1(prediction: str, truth: str) -> float:
    predicted, true = normalise(prediction).split(), normalise(truth).split()
    if not predicted or not true:  # v2: "no answer" scores 1 only against "no answer"
        return float(predicted == true)
    common = sum((Counter(predicted) & Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(true)
    return 2 * precision * recall / (precision + recall)


def score(predictions: list[str], references: list[list[str]]) -> dict:
    """{"exact_match", "f1"} as fractions (the hub's scale; SQuAD prints them x 100): each
    question's best over its references ([""]: none)."""
    pairs = list(zip(predictions, [refs or [""] for refs in references]))
    if not pairs:
        return {"exact_match": 0.0, "f1": 0.0}
    return {"exact_match": sum(max(exact(p, r) for r in refs) for p, refs in pairs) / len(pairs),
            "f1": sum(max(f1(p, r) for r in refs) for p, refs in pairs) / len(pairs)}


class SquadScore(Metric):
    """EM and F1 of each question's answer, gathered from its windows (``batch.owners``)."""

    directions = {"exact_match": True, "f1": True}

    def __init__(self, task):
        self.task, self.parts, self.references = task, {}, {}

    def update(self, outputs, batch) -> None:
        if batch.examples is None or batch.owners is None:  # windows' arrays and targets only (int8's judge)
            self.update_tokens(outputs, batch)
            return
        for row, part in enumerate(self.task.decode(outputs, batch)):
            owner = int(batch.owners[row])
            self.parts.setdefault(owner, []).append(part)
            self.references[owner] = [a["text"] for a in batch.examples[row].label or []]

    def update_tokens(self, outputs, batch) -> None:
        """Each window as a question of its own, its best span against its target span in tokens
        (no context to cut text from): ``f1`` over the tokens the two spans share."""
        for row, target in enumerate(np.asarray(batch.targets)):
            spans, null = self.task.candidates(outputs["start_logits"][row], outputs["end_logits"][row],
                                               np.asarray(batch.inputs["offset_start"][row]),
                                               np.asarray(batch.inputs["offset_end"][row]), "", 1)
            ends = np.asarray(batch.inputs["offset_end"][row])
            starts = np.asarray(batch.inputs["offset_start"][row])
            truth = "" if target[0] == 0 else " ".join(map(str, range(int(target[0]), int(target[1]) + 1)))
            guess = ""
            if spans and not (self.task.unanswerable and null > spans[0]["score"]):
                first = int(np.flatnonzero(starts == spans[0]["start"])[0])
                last = int(np.flatnonzero(ends == spans[0]["end"])[-1])
                guess = " ".join(map(str, range(first, last + 1)))
            owner = len(self.references)
            self.parts[owner] = [{"n_best": [{"text": guess, "start": 0, "end": 0, "score": 1.0}], "null_score": 0.0,
                                  "top_k": 1}]
            self.references[owner] = [truth] if truth else []

    def compute(self) -> dict:
        owners = sorted(self.parts)
        predictions = [self.task.gather(self.parts[o])["text"] for o in owners]
        values = score(predictions, [self.references[o] for o in owners])
        values["questions"] = len(owners)
        return values
