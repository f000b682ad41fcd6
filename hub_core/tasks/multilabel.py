"""Multi-label classification: one sigmoid per label; micro/macro F1 and mAP."""
from __future__ import annotations

import numpy as np

from hub_core.api import Example, labels_of
from hub_core.tasks.labels import LabelMapTask


def split_labels(raw, separator: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [part.strip() for part in str(raw).split(separator) if part.strip()]


class MultiLabelTask(LabelMapTask):
    name = "multilabel"
    output_names = ("logits", "probabilities")
    monitor = "f1_micro"

    def __init__(self, labels: list[str] | None = None, separator: str = "|", threshold: float = 0.5):
        super().__init__(labels, separator=separator, threshold=threshold)

    def found_labels(self, examples: list[Example]) -> list[str]:
        found = sorted({lab for label in labels_of(examples) for lab in split_labels(label, self.options["separator"])})
        if not found:
            raise ValueError("multilabel: the training data has no labels")
        return found

    def encode(self, label, arrays) -> np.ndarray:
        target = np.zeros(len(self.labels), dtype=np.float32)
        for part in split_labels(label, self.options["separator"]):
            if part not in self.index:
                raise ValueError(f"label {part!r} was not seen in training")
            target[self.index[part]] = 1.0
        return target

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(outputs["logits"], batch.targets)

    def outputs(self, head_output) -> dict:
        return {"logits": head_output, "probabilities": head_output.sigmoid()}

    def metrics(self) -> list:
        from hub_core.api import Gathered

        return [Gathered("logits", self.scores, dict.fromkeys(("f1_micro", "f1_macro", "map", "subset_accuracy"), True))]

    def scores(self, batches) -> dict:
        from sklearn.metrics import average_precision_score, f1_score

        logits = np.concatenate([b[0] for b in batches])
        targets = np.concatenate([b[1] for b in batches]).astype(int)
        predicted = (1 / (1 + np.exp(-logits)) >= self.options["threshold"]).astype(int)
        present = targets.sum(0) > 0  # mAP is undefined for labels absent from the data
        return {
            "f1_micro": float(f1_score(targets, predicted, average="micro", zero_division=0)),
            "f1_macro": float(f1_score(targets, predicted, average="macro", zero_division=0)),
            "map": float(average_precision_score(targets[:, present], logits[:, present], average="macro"))
            if present.any() else 0.0,
            "subset_accuracy": float((predicted == targets).all(1).mean()),
        }

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        probabilities = 1 / (1 + np.exp(-self.checked(np.asarray(outputs["logits"], dtype=np.float64))))
        result = []
        for row in probabilities:
            chosen = [{"label": self.labels[i], "score": float(row[i])} for i in np.argsort(-row)
                      if row[i] >= self.options["threshold"]]
            answer = {"labels": chosen}
            if top_k > 1:
                answer["top_k"] = [{"label": self.labels[i], "score": float(row[i])} for i in np.argsort(-row)[:top_k]]
            result.append(answer)
        return result
