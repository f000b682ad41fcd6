"""Masked-language-model pre-training, as BERT does it.

Each batch, 15 % of the ordinary tokens (never [CLS]/[SEP]/padding) are chosen afresh
(dynamic masking, as RoBERTa showed to be better than fixed masks); of those, 80 % become
[MASK], 10 % a random token and 10 % stay as they are; the loss is the cross-entropy of
the chosen tokens only. Masks are drawn from the torch generator the engine passes in, so
a run is reproducible; without one (validation) the masks come from a generator seeded
with 0, so the validation loss is comparable from epoch to epoch.
"""
from __future__ import annotations

import math

import numpy as np

from hub_core.api import Example, Task

IGNORE = -100


class MaskedLMTask(Task):
    name = "mlm"
    output_names = ("logits",)
    monitor = "loss"
    monitor_mode = "min"

    def __init__(self, vocab_size: int = 0, mask_id: int | None = None, probability: float = 0.15, **options):
        super().__init__(probability=probability, **options)
        if not 0 < probability < 1:
            raise ValueError(f"mlm probability must be between 0 and 1, got {probability}")
        self.vocab_size, self.mask_id = int(vocab_size), mask_id

    def fit(self, examples: list[Example]) -> None:
        """Nothing to learn from unlabelled text; the vocabulary comes from the preprocessor."""

    def fit_to(self, preprocessor) -> None:
        if "mask" not in getattr(preprocessor, "specials", {}):
            raise ValueError("masked-LM pre-training needs a tokenizer with a mask token ([MASK] or <mask>)")
        self.vocab_size, self.mask_id = preprocessor.vocab_size, preprocessor.specials["mask"]

    @property
    def num_outputs(self) -> int:
        if not self.vocab_size:
            raise RuntimeError("MaskedLMTask needs fit_to(preprocessor) before its head is built")
        return self.vocab_size

    def encode(self, label, arrays) -> np.ndarray:
        """The tokens that may be masked (special tokens are -100); the label is ignored."""
        return np.where(arrays["word_ids"] >= 0, arrays["input_ids"], IGNORE).astype(np.int64)

    def collate_targets(self, targets: list[np.ndarray]) -> np.ndarray:
        out = np.full((len(targets), max(len(t) for t in targets)), IGNORE, dtype=np.int64)
        for row, target in enumerate(targets):
            out[row, :len(target)] = target
        return out

    def prepare(self, inputs: dict, targets, *, train: bool, generator=None):
        import torch

        if generator is None:  # validation and evaluation: the same masks every time
            generator = torch.Generator().manual_seed(0)
        device = targets.device
        draw = torch.rand((2, *targets.shape), generator=generator).to(device)
        candidates = targets != IGNORE
        chosen = candidates & (draw[0] < self.options["probability"])
        if not chosen.any() and candidates.any():  # a batch of very short texts: mask at least one token
            chosen.view(-1)[candidates.view(-1).nonzero()[0]] = True
        input_ids = inputs["input_ids"].clone()
        input_ids[chosen & (draw[1] < 0.8)] = self.mask_id
        replace = chosen & (draw[1] >= 0.8) & (draw[1] < 0.9)
        random_ids = torch.randint(self.vocab_size, targets.shape, generator=generator).to(device)
        input_ids[replace] = random_ids[replace]
        labels = torch.where(chosen, targets, torch.full_like(targets, IGNORE))
        return {**inputs, "input_ids": input_ids}, labels

    def loss(self, outputs, targets):
        import torch.nn.functional as F

        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)

    def metrics(self, batches) -> dict:
        correct = total = 0
        for logits, targets in batches:
            keep = targets[:, :logits.shape[1]] != IGNORE
            correct += int((logits.argmax(-1)[keep] == targets[:, :logits.shape[1]][keep]).sum())
            total += int(keep.sum())
        return {"masked_accuracy": correct / max(1, total)}

    def evaluate_model(self, model, data, *, batch_size: int, device) -> dict:
        """Loss per masked token, perplexity and accuracy, without keeping (B, T, vocab) logits."""
        import torch

        from hub_core.api import plan_batches, to_tensors

        was_training = model.training
        model.eval()
        generator = torch.Generator().manual_seed(0)
        loss_sum = correct = total = 0.0
        with torch.no_grad():
            for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
                arrays, targets = data.collate(indices)
                inputs, labels = self.prepare(to_tensors(arrays, device), torch.from_numpy(targets).to(device),
                                              train=False, generator=generator)
                logits = model(**inputs).float()
                keep = labels != IGNORE
                loss_sum += float(self.loss(logits, labels)) * int(keep.sum())
                correct += int((logits.argmax(-1)[keep] == labels[keep]).sum())
                total += int(keep.sum())
        model.train(was_training)
        loss = loss_sum / max(1, total)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "masked_accuracy": correct / max(1, total)}

    def answers(self, head_output: np.ndarray, top_k: int = 1, arrays=None) -> list:
        """For each [MASK] in the input: its position and the top-k token ids with probabilities."""
        if arrays is None:
            raise ValueError("masked-LM answers need the batch's input_ids")
        result = []
        for logits, ids in zip(np.asarray(head_output, dtype=np.float64), np.asarray(arrays["input_ids"])):
            filled = []
            for position in np.flatnonzero(ids == self.mask_id):
                row = np.exp(logits[position] - logits[position].max())
                row /= row.sum()
                best = np.argsort(-row)[:max(1, top_k)]
                filled.append({"position": int(position), "token_ids": best.tolist(), "scores": row[best].tolist()})
            result.append({"masked": filled})
        return result

    def state(self) -> dict:
        return {"options": self.options, "vocab_size": self.vocab_size, "mask_id": self.mask_id}

    @classmethod
    def from_state(cls, state: dict) -> "MaskedLMTask":
        return cls(vocab_size=state["vocab_size"], mask_id=state["mask_id"], **state.get("options", {}))
