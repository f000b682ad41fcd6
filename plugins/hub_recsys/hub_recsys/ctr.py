"""Click-through / implicit binary prediction: BCE on logits; AUC and log-loss (scikit-learn).

Labels are 0/1 (also true/false, yes/no). When the training data holds no 0 at all —
implicit feedback, or a log of positives only — the task is *implicit*: each observed
interaction is a positive and the preprocessor's sampled unseen items are negatives, in
training and (with a fixed seed) in evaluation.
"""
from __future__ import annotations

import numpy as np

from hub_core.api import Task, UsageError

from hub_recsys.batches import known_flags, labels_of, unknown_note, with_negatives

TRUE, FALSE = {"1", "1.0", "true", "yes", "click"}, {"0", "0.0", "false", "no"}
EVAL_SEED = 20240611


def to_binary(raw) -> float:
    text = str(raw).strip().lower()
    if text in TRUE:
        return 1.0
    if text in FALSE:
        return 0.0
    raise ValueError(f"a CTR label must be 0 or 1 (or true/false), got {raw!r}")


class CtrTask(Task):
    name = "recsys/ctr"
    output_names = ("score", "probability")
    monitor = "auc"

    def __init__(self, implicit: bool = False, **options):
        super().__init__(**options)
        self.implicit = bool(implicit)

    def fit(self, examples) -> None:
        labels = labels_of(examples, to_binary)
        self.implicit = not (labels == 0).any()

    @property
    def num_outputs(self) -> int:
        return 1

    def encode(self, label, arrays) -> np.ndarray:
        return np.asarray([to_binary(label), *known_flags(arrays)], dtype=np.float32)

    def prepare(self, batch, *, train: bool, generator=None):
        if not (train and self.implicit):
            batch.inputs.pop("negatives", None)
            return batch
        return self.add_negatives(batch)

    def add_negatives(self, batch):
        import torch

        from hub_core.api import Batch

        inputs, targets = batch.inputs, batch.targets
        if "negatives" not in inputs:
            raise UsageError("the training data has only positives (implicit feedback), so CTR needs sampled "
                             "negatives: keep -p negatives at 1 or more (default 4)")
        inputs, batch, ratio = with_negatives(inputs)
        negative = torch.tensor([0.0, 1.0, 1.0], device=targets.device).expand(batch * ratio, 3)
        return Batch(inputs, torch.cat([targets, negative]))

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        return F.binary_cross_entropy_with_logits(outputs["score"][:, 0], batch.targets[:, 0])

    def outputs(self, head_output) -> dict:
        return {"score": head_output, "probability": head_output.sigmoid()}

    def metrics(self) -> list:
        from hub_core.api import Gathered

        return [Gathered("score", self.scores, {"log_loss": False, "accuracy": True, "auc": True})]

    def scores(self, batches) -> dict:
        from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

        logits = np.concatenate([b[0] for b in batches])[:, 0].astype(np.float64)
        targets = np.concatenate([b[1] for b in batches])
        truth = targets[:, 0].astype(int)
        probability = 1 / (1 + np.exp(-logits))
        result = {"log_loss": float(log_loss(truth, probability, labels=[0, 1])),
                  "accuracy": float(accuracy_score(truth, probability >= 0.5))}
        if len(np.unique(truth)) == 2:  # AUC needs both classes
            result["auc"] = float(roc_auc_score(truth, logits))
        result.update(unknown_users=int((targets[:, 1] == 0).sum()), unknown_items=int((targets[:, 2] == 0).sum()))
        return result

    @property
    def evaluate_model(self):
        """Implicit data has no negatives to evaluate on: sample them (seeded) per positive.
        Explicit 0/1 data goes through the engine's ordinary evaluation (None)."""
        return self._evaluate_with_negatives if self.implicit else None

    def _evaluate_with_negatives(self, model, data, batch_size: int, device) -> dict:
        import torch

        from hub_core.api import Batch, plan_batches, to_tensors

        was_training = model.training
        model.eval()
        losses, batches, count = 0.0, [], 0
        with torch.no_grad():
            for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
                items = [model.preprocessor(data.examples[i].input, train=True,
                                            rng=np.random.default_rng([EVAL_SEED, i])) for i in indices]
                if "negatives" not in items[0]:
                    raise UsageError("implicit CTR evaluation samples negatives: keep -p negatives at 1 or more")
                targets = torch.from_numpy(np.stack([self.encode(data.examples[i].label or 1, a)
                                                     for i, a in zip(indices, items)])).to(device)
                batch = self.add_negatives(Batch(to_tensors(model.preprocessor.collate(items), device), targets))
                outputs = {"score": model(**batch.inputs)["score"].float()}
                losses += float(self.loss(outputs, batch)) * len(batch.targets)
                count += len(batch.targets)
                batches.append((outputs["score"].cpu().numpy(), batch.targets.cpu().numpy()))
        model.train(was_training)
        return {"loss": losses / max(1, count), **self.scores(batches)}

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        arrays = batch.inputs
        probability = 1 / (1 + np.exp(-np.asarray(outputs["score"], dtype=np.float64)[:, 0]))
        return [{"probability": round(float(p), 6), **unknown_note(arrays, row)} for row, p in enumerate(probability)]

    def state(self) -> dict:
        return {"options": self.options, "implicit": self.implicit}

    @classmethod
    def from_state(cls, state: dict) -> "CtrTask":
        return cls(implicit=state.get("implicit", False), **state.get("options", {}))
