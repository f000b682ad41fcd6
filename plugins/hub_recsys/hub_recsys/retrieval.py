"""Top-K retrieval: learn from observed interactions against sampled unseen items; evaluate
by ranking *all* items for each user, leaving out what the user saw in training.

Metrics (RecBole's defaults, K = 10 unless ``--task-option k=N``): recall@K, ndcg@K,
hit@K, mrr@K, precision@K, averaged over users, with the same metrics for a popularity
baseline (``popularity_ndcg@K``...) computed on the same users, so the two can be compared.
Loss: ``bpr`` (default: each positive against its R negatives) or ``bce``.
"""
from __future__ import annotations

import numpy as np

from hub_core.api import Task, UsageError, notice

from hub_recsys import metrics as ranking
from hub_recsys.batches import unknown_note, with_negatives
from hub_recsys.rank import leave_out, popularity_scores
from hub_recsys.vocab import OOV

LOSSES = ("bpr", "bce")
SCORES_PER_CHUNK = 1 << 20  # users x items scored at once during evaluation (8 MB of float64)


class RetrievalTask(Task):
    name = "recsys/retrieval"
    output_names = ("score",)

    def __init__(self, k: int = 10, loss: str = "bpr", **options):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UsageError(f"retrieval: k={k!r} must be a whole number >= 1")
        if loss not in LOSSES:
            raise UsageError(f"retrieval: loss={loss!r} must be one of {', '.join(LOSSES)}")
        super().__init__(k=k, loss=loss, **options)
        self.k = k
        self.monitor = f"ndcg@{k}"

    @property
    def num_outputs(self) -> int:
        return 1

    def encode(self, label, arrays) -> np.ndarray:
        return np.ones(1, dtype=np.float32)  # every observed interaction is a positive

    def prepare(self, batch, *, train: bool, generator=None):
        from hub_core.api import Batch

        if not train:
            batch.inputs.pop("negatives", None)
            return batch
        if "negatives" not in batch.inputs:
            raise UsageError("retrieval learns from sampled negatives: keep -p negatives at 1 or more (default 4)")
        inputs, rows, ratio = with_negatives(batch.inputs)
        # only the layout matters: column 0 is the positive
        return Batch(inputs, batch.targets.new_zeros((rows, 1 + ratio)), batch.indices, batch.examples)

    def loss(self, outputs, batch):
        import torch
        import torch.nn.functional as F

        scores = outputs["score"][:, 0]
        batch, width = batch.targets.shape
        positive, negative = scores[:batch], scores[batch:].view(batch, width - 1)
        if width == 1:  # no negatives (never in training): score positives only
            return F.binary_cross_entropy_with_logits(positive, torch.ones_like(positive))
        if self.options["loss"] == "bpr":
            return -F.logsigmoid(positive.unsqueeze(1) - negative).mean()
        labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative.reshape(-1))])
        return F.binary_cross_entropy_with_logits(torch.cat([positive, negative.reshape(-1)]), labels)

    def metrics(self) -> list:
        """Computed by the full ranking of ``evaluate_model``; declared here with their direction."""
        from hub_core.api import Declared

        return [Declared({f"{name}@{self.k}": True for name in ranking.NAMES})]

    def evaluate_model(self, model, data, batch_size: int, device) -> dict:
        """Full ranking of every item for each user with held-out interactions in ``data``."""
        codes = [data.get(i).arrays for i in range(len(data))]
        users = np.array([int(a["user"]) for a in codes], dtype=np.int64)
        items = np.array([int(a["item"]) for a in codes], dtype=np.int64)
        return self.evaluate_codes(model, users, items, device, batch_size)

    def evaluate_codes(self, model, users: np.ndarray, items: np.ndarray, device=None, batch_size: int = 256) -> dict:
        from hub_recsys.scoring import Scorer

        preprocessor = model.preprocessor
        history, num_items = preprocessor.history, len(preprocessor.items)
        unknown_user, unknown_item = users == OOV, items == OOV
        seen = history.contains(users, items)
        keep = ~(unknown_user | unknown_item | seen)
        counts = {"held_out": int(len(users)), "unknown_users": int(unknown_user.sum()),
                  "unknown_items": int((unknown_item & ~unknown_user).sum()), "seen_in_training": int(seen.sum())}
        if not keep.all():
            notice(f"evaluation leaves out {counts['unknown_users']} interaction(s) of users and "
                   f"{counts['unknown_items']} of items unknown to the model, and {counts['seen_in_training']} "
                   "already in its training data")
        users, items = users[keep], items[keep]
        order = np.lexsort((items, users))
        users, items = users[order], items[order]
        eval_users, starts = np.unique(users, return_index=True)
        ends = np.append(starts[1:], len(users))
        scorer, popular = Scorer(model, num_items, device), popularity_scores(preprocessor.popularity)
        model_values = {name: [] for name in ranking.NAMES}
        baseline_values = {name: [] for name in ranking.NAMES}
        per_chunk = max(1, min(batch_size, SCORES_PER_CHUNK // num_items))
        for start in range(0, len(eval_users), per_chunk):
            chunk = eval_users[start:start + per_chunk]
            relevant = np.zeros((len(chunk), num_items), dtype=bool)
            for row, position in enumerate(range(start, start + len(chunk))):
                relevant[row, items[starts[position]:ends[position]]] = True
            baseline = np.broadcast_to(popular, (len(chunk), num_items))
            for scores, values in ((scorer(chunk), model_values), (baseline, baseline_values)):
                for name, per_user in ranking.per_user(leave_out(scores, chunk, history), relevant, self.k).items():
                    values[name].append(per_user)
        if not len(eval_users):
            notice("evaluation: no held-out interaction of a known user and a known item to rank")
        return {**ranking.summarise(model_values, self.k), **ranking.summarise(baseline_values, self.k, "popularity_"),
                "users": int(len(eval_users)), **counts}

    def decode(self, outputs: dict, batch, top_k: int = 1) -> list:
        return [{"score": round(float(s), 6), **unknown_note(batch.inputs, row)}
                for row, s in enumerate(np.asarray(outputs["score"], dtype=np.float64)[:, 0])]

    def state(self) -> dict:
        return {"options": self.options}

    @classmethod
    def from_state(cls, state: dict) -> "RetrievalTask":
        return cls(**state.get("options", {}))
