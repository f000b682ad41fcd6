"""Token classification (NER): one tag per word, BIO scheme, entity-level F1 by seqeval.

Labels are read per word (a list of tags, or one string of space-separated tags) and
aligned to sub-word tokens through the preprocessor's ``word_ids``: a word's first token
carries its tag, its other tokens and the special tokens are ignored (-100), as in BERT's
NER recipe. Words cut off by truncation carry no loss and are tagged "O" in answers.
"""
from __future__ import annotations

import numpy as np

from hub_core.api import Example, LabelMapTask, labels_of

IGNORE = -100


def word_tags(raw) -> list[str]:
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, (list, tuple)):
        return [str(tag) for tag in raw]
    raise ValueError(f"token tags must be a list or a space-separated string, got {raw!r}")


def first_tokens(word_ids: np.ndarray) -> np.ndarray:
    """Positions of each word's first token (word_ids: one word index per token, -1 special)."""
    previous = np.concatenate([[-1], word_ids[:-1]])
    return np.flatnonzero((word_ids >= 0) & (word_ids != previous))


def entities(tags: list[str]) -> list[dict]:
    """BIO tags -> entity spans over word positions (end exclusive), as seqeval reads them."""
    from seqeval.metrics.sequence_labeling import get_entities

    return [{"type": kind, "start": start, "end": end + 1} for kind, start, end in get_entities(list(tags))]


class TokenClassificationTask(LabelMapTask):
    name = "token-classification"
    output_names = ("logits", "probabilities")
    monitor = "f1"

    def found_labels(self, examples: list[Example]) -> list[str]:
        found = sorted({tag for label in labels_of(examples) if label is not None for tag in word_tags(label)})
        if len(found) < 2:
            raise ValueError(f"token classification needs at least 2 tags in the training data, found {found}")
        return found

    def encode(self, label, arrays) -> np.ndarray:
        tags = word_tags(label)
        word_ids = arrays["word_ids"]
        words = int(word_ids.max()) + 1 if (word_ids >= 0).any() else 0
        if words > len(tags):
            raise ValueError(f"{len(tags)} tags for {words} words (tags: {' '.join(tags[:6])}…)")
        target = np.full(len(word_ids), IGNORE, dtype=np.int64)
        for position in first_tokens(word_ids):
            tag = tags[word_ids[position]]
            if tag not in self.index:
                raise ValueError(f"tag {tag!r} was not seen in training (known: {', '.join(self.labels)})")
            target[position] = self.index[tag]
        return target

    def collate_targets(self, targets: list[np.ndarray]) -> np.ndarray:
        out = np.full((len(targets), max(len(t) for t in targets)), IGNORE, dtype=np.int64)
        for row, target in enumerate(targets):
            out[row, :len(target)] = target
        return out

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        logits = outputs["logits"]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1), ignore_index=IGNORE)

    def outputs(self, head_output) -> dict:
        return {"logits": head_output, "probabilities": head_output.softmax(-1)}

    def metrics(self) -> list:
        from hub_core.api import Gathered

        return [Gathered("logits", self.scores, dict.fromkeys(("f1", "precision", "recall", "token_accuracy"), True))]

    def scores(self, batches) -> dict:
        """Entity-level micro P/R/F1 (seqeval) and token accuracy over (logits, targets) pairs."""
        from seqeval.metrics import classification_report

        truth, predicted = [], []
        for logits, targets in batches:
            for row_logits, row_targets in zip(logits, targets[:, :logits.shape[1]]):
                keep = row_targets != IGNORE
                truth.append([self.labels[i] for i in row_targets[keep]])
                predicted.append([self.labels[i] for i in row_logits[keep].argmax(-1)])
        report = classification_report(truth, predicted, output_dict=True, zero_division=0)
        flat_truth, flat_predicted = sum(truth, []), sum(predicted, [])
        return {
            "f1": float(report["micro avg"]["f1-score"]),
            "precision": float(report["micro avg"]["precision"]),
            "recall": float(report["micro avg"]["recall"]),
            "token_accuracy": float(np.mean([a == b for a, b in zip(flat_truth, flat_predicted)])) if flat_truth else 0.0,
            "per_type": {kind: {"precision": float(v["precision"]), "recall": float(v["recall"]),
                                "f1": float(v["f1-score"]), "support": int(v["support"])}
                         for kind, v in report.items() if not kind.endswith("avg")},
        }

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        """Per example: one tag per word (with its probability) and the entities they form."""
        arrays = batch.inputs
        logits = self.checked(np.asarray(outputs["logits"], dtype=np.float64))
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        result = []
        for row, word_ids in zip(probabilities, np.asarray(arrays["word_ids"])):
            tags, scores = [], []
            for position in first_tokens(word_ids[:len(row)]):
                while len(tags) < word_ids[position]:  # a word that got no token of its own
                    tags.append("O"), scores.append(0.0)
                best = int(row[position].argmax())
                tags.append(self.labels[best])
                scores.append(float(row[position, best]))
            result.append({"tags": tags, "scores": scores, "entities": entities(tags)})
        return result

