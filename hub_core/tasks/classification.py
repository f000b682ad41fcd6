"""Single-label classification: cross-entropy, accuracy / macro-F1 / per-class P&R."""
from __future__ import annotations

import numpy as np

from hub_core.model.contracts import Example, Task


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class ClassificationTask(Task):
    name = "classification"
    output_names = ("logits", "probabilities")
    monitor = "accuracy"
    monitor_mode = "max"

    def __init__(self, labels: list[str] | None = None, label_smoothing: float = 0.0):
        super().__init__(label_smoothing=label_smoothing)
        self.labels = list(labels or [])
        self.index = {label: i for i, label in enumerate(self.labels)}

    def fit(self, examples: list[Example]) -> None:
        found = sorted({str(e.label) for e in examples if e.label is not None})
        if len(found) < 2:
            raise ValueError(f"classification needs at least 2 classes in the training data, found {found}")
        self.labels = found
        self.index = {label: i for i, label in enumerate(found)}

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def encode(self, label, arrays) -> np.ndarray:
        key = str(label)
        if key not in self.index:
            shown = ", ".join(self.labels[:8]) + (", …" if len(self.labels) > 8 else "")
            raise ValueError(f"label {key!r} was not seen in training (known: {shown})")
        return np.asarray(self.index[key], dtype=np.int64)

    def loss(self, outputs, targets):
        import torch.nn.functional as F

        return F.cross_entropy(outputs, targets, label_smoothing=self.options.get("label_smoothing", 0.0))

    def outputs(self, head_output) -> dict:
        return {"logits": head_output, "probabilities": head_output.softmax(-1)}

    def metrics(self, batches) -> dict:
        from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

        logits = np.concatenate([b[0] for b in batches])
        targets = np.concatenate([b[1] for b in batches])
        predicted = logits.argmax(-1)
        classes = list(range(len(self.labels)))
        precision, recall, _, support = precision_recall_fscore_support(
            targets, predicted, labels=classes, zero_division=0
        )
        return {
            "accuracy": float(accuracy_score(targets, predicted)),
            "f1_macro": float(f1_score(targets, predicted, labels=classes, average="macro", zero_division=0)),
            "per_class": {
                label: {"precision": float(p), "recall": float(r), "support": int(s)}
                for label, p, r, s in zip(self.labels, precision, recall, support)
            },
            "confusion_matrix": confusion_matrix(targets, predicted, labels=classes).tolist(),
        }

    def answers(self, head_output: np.ndarray, top_k: int = 1, arrays=None) -> list:
        probabilities = softmax(np.asarray(head_output, dtype=np.float64))
        k = max(1, min(top_k, len(self.labels)))
        result = []
        for row in probabilities:
            order = np.argsort(-row)[:k]
            ranked = [{"label": self.labels[i], "score": float(row[i])} for i in order]
            result.append(ranked[0] if top_k == 1 else {"label": ranked[0]["label"], "score": ranked[0]["score"], "top_k": ranked})
        return result

    def state(self) -> dict:
        return {"options": self.options, "labels": self.labels}

    @classmethod
    def from_state(cls, state: dict) -> "ClassificationTask":
        return cls(labels=state["labels"], **state.get("options", {}))
