"""Single-label classification: cross-entropy, accuracy / macro-F1 / per-class P&R.

Imbalanced labels: ``class_weight="balanced"`` weights the loss by n / (k * count) per
class (scikit-learn's "balanced"). Two classes: the positive class (the rarer one in
training) gets precision / recall / F1, ROC-AUC and PR-AUC, and a decision threshold on its
probability, tuned on validation for the monitored metric (``tune``) and kept in the task's
state, so torch and ONNX prediction decide alike."""
from __future__ import annotations

from collections import Counter

import numpy as np

from hub_core.api import Example, Gathered, labels_of
from hub_core.tasks.labels import LabelMapTask


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _counts(examples) -> Counter:
    return Counter(str(label) for label in labels_of(examples) if label is not None)


def _enough(found: list[str]) -> list[str]:
    if len(found) < 2:
        raise ValueError(f"classification needs at least 2 classes in the training data, found {found}")
    return found


BINARY_DECIDED = ("precision_positive", "recall_positive", "f1_positive")  # metrics of the decision alone
INLINE_CLASSES = 50  # up to this many classes, per-class metrics and the confusion matrix are JSON in hub.json
# beyond it they are arrays, written as NAME.npy beside hub.json: the columns of each
ARRAYS = {"per_class": ("precision", "recall", "support"),
          "confusion_counts": ("true", "predicted", "count")}


class ClassificationTask(LabelMapTask):
    name = "classification"
    output_names = ("logits", "probabilities")
    arrays = ARRAYS
    monitor = "accuracy"

    def __init__(self, labels: list[str] | None = None, label_smoothing: float = 0.0, class_weight: str = "none",
                 weights: list[float] | None = None, positive: str | None = None, threshold: float = 0.5):
        if class_weight not in ("none", "balanced"):
            raise ValueError(f"class_weight = {class_weight!r} must be none or balanced")
        super().__init__(labels, label_smoothing=label_smoothing,
                         **({"class_weight": class_weight} if class_weight != "none" else {}))
        self.weights, self.positive, self.threshold = weights, positive, float(threshold)

    def found_labels(self, examples: list[Example]) -> list[str]:
        return _enough(sorted(_counts(examples)))

    def fit(self, examples: list[Example]) -> None:
        counts = _counts(examples)  # one pass over the labels gives both the label map and the weights
        self.set_labels(_enough(sorted(counts)))
        found = self.labels
        if self.options.get("class_weight") == "balanced":
            self.weights = [sum(counts.values()) / (len(found) * counts[label]) for label in found]
        # the rarer class is the one a binary problem is about (ties: the later label, "1" over "0")
        self.positive = min(reversed(found), key=lambda label: counts[label]) if len(found) == 2 else None
        self.threshold = 0.5

    @property
    def positive_index(self) -> int | None:
        return self.index.get(self.positive) if self.positive is not None and len(self.labels) == 2 else None

    def decide(self, logits: np.ndarray) -> np.ndarray:
        """Class indices: argmax, or for two classes the positive one where its probability reaches the threshold."""
        positive = self.positive_index
        if positive is None:
            return logits.argmax(-1)
        chosen = softmax(np.asarray(logits, dtype=np.float64))[:, positive] >= self.threshold
        return np.where(chosen, positive, 1 - positive)

    def encode(self, label, arrays) -> np.ndarray:
        key = str(label)
        if key not in self.index:
            shown = ", ".join(self.labels[:8]) + (", …" if len(self.labels) > 8 else "")
            raise ValueError(f"label {key!r} was not seen in training (known: {shown})")
        return np.asarray(self.index[key], dtype=np.int64)

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        logits = outputs["logits"]
        weight = logits.new_tensor(self.weights) if self.weights else None
        return F.cross_entropy(logits, batch.targets, weight=weight,
                               label_smoothing=self.options.get("label_smoothing", 0.0))

    def outputs(self, head_output) -> dict:
        return {"logits": head_output, "probabilities": head_output.softmax(-1)}

    def metrics(self) -> list:
        ranked = ["accuracy", "f1_macro"]
        if self.positive_index is not None:  # ranking metrics and the threshold need the logits themselves
            return [Gathered("logits", self.scores, dict.fromkeys([*ranked, *BINARY_DECIDED, "roc_auc", "pr_auc"], True),
                             proportions=("accuracy",))]
        return [Decided(self, dict.fromkeys(ranked, True))]

    def scores(self, batches) -> dict:
        """Accuracy, macro-F1 and per class precision / recall / support, with the confusion
        matrix. Up to INLINE_CLASSES classes these are JSON (``per_class`` by label, the dense
        ``confusion_matrix``); beyond, arrays in ARRAYS's layout that the model directory keeps
        as .npy files: ``per_class`` (one row a class) and ``confusion_counts`` (the non-zero
        cells only: a dense 10,000-class matrix is 10^8 cells, most of them 0)."""
        targets = np.concatenate([b[1] for b in batches]).astype(np.int64)
        # logits, or (Decided) the decided classes already: no copy of all logits
        predicted = np.concatenate([b[0] if b[0].ndim == 1 else self.decide(b[0]) for b in batches]).astype(np.int64)
        k = len(self.labels)
        precision, recall, f1, support = per_class_scores(targets, predicted, k)
        cells, counts = np.unique(targets * k + predicted, return_counts=True)
        result = {
            "accuracy": float((targets == predicted).mean()) if len(targets) else 0.0,
            "f1_macro": float(f1.mean()),
            **(self.binary_metrics(np.concatenate([b[0] for b in batches]), targets, predicted) if k == 2 else {}),
        }
        if k > INLINE_CLASSES:
            result["per_class"] = np.stack([precision, recall, support]).T.astype(np.float64)
            result["confusion_counts"] = np.stack([cells // k, cells % k, counts]).T.astype(np.int64)
            return result
        dense = np.zeros(k * k, dtype=np.int64)
        dense[cells] = counts
        result["per_class"] = {label: {"precision": float(p), "recall": float(r), "support": int(s)}
                               for label, p, r, s in zip(self.labels, precision, recall, support)}
        result["confusion_matrix"] = dense.reshape(k, k).tolist()
        return result

    def binary_metrics(self, logits, targets, predicted) -> dict:
        """The positive class's precision / recall / F1, ROC-AUC and PR-AUC (two classes only)."""
        from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

        positive = self.positive_index
        if positive is None:
            return {}
        truth = targets == positive
        p, r, f, _ = precision_recall_fscore_support(truth, predicted == positive, average="binary", zero_division=0)
        result = {"precision_positive": float(p), "recall_positive": float(r), "f1_positive": float(f)}
        if 0 < truth.sum() < len(truth):  # both classes present: the ranking metrics exist
            # the positive class's margin ranks examples as its softmax probability does (that is
            # sigmoid(margin)), without the (n, 2) float64 copies: 60 MB fewer at a million examples
            score = logits[:, positive].astype(np.float64) - logits[:, 1 - positive]
            result.update(roc_auc=float(roc_auc_score(truth, score)), pr_auc=float(average_precision_score(truth, score)))
        return result

    def tune(self, metrics: list, metric: str) -> None:
        """Pick the positive-class threshold that maximises ``metric`` on the (validation)
        pass these metrics saw; ties go to the threshold nearest 0.5. Two classes and a
        metric that depends on the decision only; otherwise the threshold stays."""
        if self.positive_index is None or metric not in ("accuracy", "f1_macro", *BINARY_DECIDED):
            return
        batches = metrics[0].pairs()
        logits = np.concatenate([b[0] for b in batches])
        score = softmax(np.asarray(logits, dtype=np.float64))[:, self.positive_index]
        cuts = np.unique(score)
        candidates = np.unique(np.concatenate([[0.5], (cuts[1:] + cuts[:-1]) / 2])) if len(cuts) > 1 else [0.5]
        best = None
        for threshold in candidates:
            self.threshold = float(threshold)
            value = self.scores(batches)[metric]
            key = (round(value, 12), -abs(threshold - 0.5))
            if best is None or key > best[0]:
                best = (key, float(threshold))
        self.threshold = best[1]

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        logits = self.checked(np.asarray(outputs["logits"]))
        probabilities = softmax(np.asarray(logits, dtype=np.float64))
        k = max(1, min(top_k, len(self.labels)))
        result = []
        for row, decided in zip(probabilities, self.decide(logits)):
            order = np.argsort(-row)[:k]
            order = np.concatenate([[decided], order[order != decided]])[:k]  # the decision first
            ranked = [{"label": self.labels[i], "score": float(row[i])} for i in order]
            result.append(ranked[0] if top_k == 1 else
                          {"label": ranked[0]["label"], "score": ranked[0]["score"], "top_k": ranked})
        return result

    def state(self) -> dict:
        return {**super().state(), "weights": self.weights, "positive": self.positive,
                "threshold": self.threshold}

    @classmethod
    def from_state(cls, state: dict) -> "ClassificationTask":
        return cls(labels=state["labels"], weights=state.get("weights"), positive=state.get("positive"),
                   threshold=state.get("threshold", 0.5), **state.get("options", {}))


class Decided(Gathered):
    """Classification's metric beyond two classes: each batch's decided class is kept (4 bytes
    an example), not its logits (50,000 classes of 15,000 examples are 3 GB of logits)."""

    def __init__(self, task: ClassificationTask, directions: dict):
        super().__init__("logits", task.scores, directions, proportions=("accuracy",))
        self.task = task

    def update(self, outputs, batch) -> None:
        self.batches.add(self.task.decide(np.asarray(outputs["logits"])).astype(np.int32), batch.targets)


def per_class_scores(targets: np.ndarray, predicted: np.ndarray, k: int):
    """(precision, recall, F1, support) of each of ``k`` classes, 0 where undefined: what
    scikit-learn's precision_recall_fscore_support(labels=range(k), zero_division=0) gives,
    counted with numpy (importing scikit-learn takes 2 s, longer than a head-only epoch)."""
    support = np.bincount(targets, minlength=k)[:k]
    chosen = np.bincount(predicted, minlength=k)[:k]
    hits = np.bincount(targets[targets == predicted], minlength=k)[:k]

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros(k), where=b > 0)

    return ratio(hits, chosen), ratio(hits, support), ratio(2 * hits, support + chosen), support
