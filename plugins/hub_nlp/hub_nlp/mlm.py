"""Masked-language-model pre-training, as BERT and RoBERTa do it.

Each batch, 15 % of the ordinary tokens (never [CLS]/[SEP]/padding) are chosen afresh
(dynamic masking, as RoBERTa showed to be better than fixed masks); of those, 80 % become
[MASK], 10 % a random token and 10 % stay as they are; the loss is the cross-entropy of
the chosen tokens only. With ``whole_word=true`` the choice is made per word: every
piece of a chosen word is masked together (BERT's whole-word masking), so the model
cannot fill "##ing" from "runn". Masks are drawn from the torch generator the engine
passes in, so a run is reproducible; without one (validation) the masks come from a
generator seeded with 0, so the validation loss is comparable from epoch to epoch.

The recipe for a small corpus (``prepare_run``, called by the engine before training):
  - short texts are packed into full ``block``-token sequences (RoBERTa's FULL-SENTENCES:
    texts joined by [SEP], cut at the block length), so no batch is mostly padding;
  - the head predicts only the chosen positions (the decoder to the vocabulary is most of
    the cost of a small model: computing it for the 85 % unmasked tokens is waste);
  - options left at the engine's defaults get values suited to the model and corpus: a
    peak lr by width (lower when continuing from real weights), 6 % warm-up, epochs so
    that about ``target_steps`` optimizer steps are taken, early stopping after 3 epochs
    without a better held-out loss;
  - the head is made to fit the corpus before the encoder moves (``hub_nlp.headfit``): the
    decoder's bias is the corpus' token prior, its temperature is calibrated, and when
    continuing from real weights it first trains alone on the frozen encoder's states
    (``head_fit_batches``), so continued pre-training does not start by forgetting;
  - the held-out perplexity before training is measured (and after the head fit), and
    every evaluation reports it with the tokens seen and the training tokens/s.

Per batch, masking is a few vectorised torch operations on the whole batch (no Python per
example or per token), the packed sequences are encoded once into arrays, and nothing
in ``prepare`` waits on the device: the token count stays a tensor until it is reported.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from hub_core.api import Batch, Example, Metric, Task, notice

from hub_nlp.headfit import fit_head, start_head

IGNORE = -100
HEAD_FIT_BATCHES = 16  # batches whose frozen-encoder states train a new head on real weights first
POSITIONS = "mlm_positions"  # the input that tells the head which positions to predict


class MaskedLMTask(Task):
    name = "mlm"
    output_names = ("logits",)
    monitor = "loss"

    def __init__(self, vocab_size: int = 0, mask_id: int | None = None, probability: float = 0.15,
                 whole_word: bool = False, pack: bool = True, block: int = 128, target_steps: int = 1000,
                 head_fit_batches: int | None = None, **options):
        super().__init__(probability=probability, whole_word=whole_word, pack=pack, block=block,
                         target_steps=target_steps, head_fit_batches=head_fit_batches, **options)
        if not 0 < probability < 1:
            raise ValueError(f"mlm probability must be between 0 and 1, got {probability}")
        if not isinstance(block, int) or block < 8:
            raise ValueError(f"mlm block must be a whole number of tokens, at least 8, got {block!r}")
        if head_fit_batches is not None and (not isinstance(head_fit_batches, int) or head_fit_batches < 0):
            raise ValueError(f"mlm head_fit_batches must be a whole number, 0 or more, got {head_fit_batches!r}")
        self.vocab_size, self.mask_id = int(vocab_size), mask_id
        self.before: float | None = None  # held-out perplexity before training
        self.head_fit: dict = {}  # what hub_nlp.headfit did, with the perplexity after it
        self._tokens = self._timed_tokens = self._pending = 0  # ints, or tensors until reported (no sync per step)
        self._busy, self._last = 0.0, None

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

    # -- the run -------------------------------------------------------------------
    def prepare_run(self, model, train_examples: list, val_examples: list, config):
        """Pack the texts, fill in the recipe, measure the perplexity before training."""
        preprocessor = model.preprocessor
        if self.options["pack"] and hasattr(preprocessor, "pack"):
            block = min(self.options["block"], preprocessor.config["max_length"])
            texts = len(train_examples)
            train_examples, val_examples = preprocessor.pack(train_examples, block), preprocessor.pack(val_examples, block)
            notice(f"mlm: {texts} texts packed into {len(train_examples)} sequences of {block} tokens "
                   f"({len(val_examples)} held out)")
        config = recipe(config, model, len(train_examples), self.options["target_steps"])
        fit_batches = self.options["head_fit_batches"]
        if fit_batches is None:  # the recipe's: fit the head alone first only where the encoder knows something
            fit_batches = HEAD_FIT_BATCHES if continuing(model) else 0
        val = _Encoded(val_examples, preprocessor, self) if val_examples else None
        temperature, states = start_head(model, self, _Encoded(train_examples, preprocessor, self),
                                         batch_size=config.batch_size, fit_batches=fit_batches, seed=config.seed)
        self.before = self._perplexity(model, val, config)
        if self.before is not None:
            notice(f"mlm: held-out perplexity before training {self.before:.1f}" + (
                f" (decoder from the embeddings, temperature {temperature:g})" if temperature is not None else ""))
        if states is not None:
            loss = fit_head(model.head, *states, seed=config.seed)
            after = self._perplexity(model, val, config)
            self.head_fit = {"head_fit_positions": len(states[1]), "head_fit_loss": loss,
                             **({"perplexity_after_head_fit": after} if after is not None else {})}
            notice(f"mlm: head fitted alone on the frozen encoder's states at {len(states[1])} masked positions "
                   f"of {fit_batches} batches" + (f": held-out perplexity {after:.1f}" if after is not None else ""))
        return train_examples, val_examples, config

    def _perplexity(self, model, val, config) -> float | None:
        if val is None:
            return None
        return self.evaluate_model(model, val, batch_size=config.batch_size, device="cpu")["perplexity"]

    # -- batches -------------------------------------------------------------------
    def encode(self, label, arrays) -> np.ndarray:
        """The tokens that may be masked (special tokens are -100); the label is ignored."""
        return np.where(arrays["word_ids"] >= 0, arrays["input_ids"], IGNORE).astype(np.int64)

    def collate_targets(self, targets: list[np.ndarray]) -> np.ndarray:
        if len({len(t) for t in targets}) == 1:  # packed sequences: one stack
            return np.stack(targets).astype(np.int64, copy=False)
        out = np.full((len(targets), max(len(t) for t in targets)), IGNORE, dtype=np.int64)
        for row, target in enumerate(targets):
            out[row, :len(target)] = target
        return out

    def prepare(self, batch: Batch, *, train: bool, generator=None) -> Batch:
        """Mask the batch; the labels are those of the chosen positions only, in order."""
        import torch

        inputs, targets = batch.inputs, batch.targets
        if train:
            self._count(inputs["attention_mask"].sum())  # a tensor: reading it would wait for the device
        if generator is None:  # validation and evaluation: the same masks every time
            generator = torch.Generator().manual_seed(0)
        device = targets.device
        draw = torch.rand((2, *targets.shape), generator=generator).to(device)
        if self.options["whole_word"] and "word_ids" in inputs:
            # every token takes its word's draw: the draw at the position numbered by its word id
            words = inputs["word_ids"].clamp(min=0, max=targets.shape[1] - 1)
            draw = torch.stack([d.gather(1, words) for d in draw])
        candidates = targets != IGNORE
        chosen = candidates & (draw[0] < self.options["probability"])
        # a batch of very short texts may draw none: then its first candidate is chosen (no `if`: no sync)
        first = candidates & (candidates.reshape(-1).cumsum(0) == 1).reshape(candidates.shape)
        chosen |= first & ~chosen.any()
        input_ids = inputs["input_ids"].clone()
        input_ids[chosen & (draw[1] < 0.8)] = self.mask_id
        replace = chosen & (draw[1] >= 0.8) & (draw[1] < 0.9)
        random_ids = torch.randint(self.vocab_size, targets.shape, generator=generator).to(device)
        input_ids[replace] = random_ids[replace]
        return Batch({**inputs, "input_ids": input_ids, POSITIONS: chosen}, targets[chosen], batch.indices,
                     batch.examples)

    def loss(self, outputs, batch: Batch):
        import torch.nn.functional as F

        logits = outputs["logits"]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1), ignore_index=IGNORE)

    def metrics(self) -> list:
        return [MaskedTokens()]

    # -- accounting ------------------------------------------------------------------
    def _count(self, tokens) -> None:
        """Tokens seen, and the time between consecutive training batches (an evaluation in
        between does not count) for tokens/s."""
        now = time.perf_counter()
        if self._last is not None:
            self._busy += now - self._last
            self._timed_tokens += self._pending
        self._tokens += tokens
        self._last, self._pending = now, tokens

    def report(self) -> dict:
        out = {}
        if self.before is not None:
            out["perplexity_before"] = self.before
        out.update(self.head_fit)
        tokens, timed = int(self._tokens), int(self._timed_tokens)
        if tokens:
            out["tokens_seen"] = tokens
        if self._busy > 0:
            out["tokens_per_second"] = timed / self._busy
        return out

    def evaluate_model(self, model, data, *, batch_size: int, device) -> dict:
        """Loss per masked token, perplexity and accuracy, without keeping (B, T, vocab) logits;
        plus the run's report (perplexity before, tokens seen, tokens/s) when training."""
        import torch

        from hub_core.api import plan_batches, to_tensors

        self._last = None  # the time spent here is not training time
        was_training = model.training
        model.eval()
        generator = torch.Generator().manual_seed(0)
        tokens = MaskedTokens()
        with torch.no_grad():
            for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
                arrays, targets = data.collate(indices)
                batch = self.prepare(Batch(to_tensors(arrays, device), torch.from_numpy(targets).to(device)),
                                     train=False, generator=generator)
                logits = model(**batch.inputs)["logits"].float()
                tokens.add(float(self.loss({"logits": logits}, batch)) * len(batch.targets),
                           int((logits.argmax(-1) == batch.targets).sum()), len(batch.targets))
        model.train(was_training)
        return {**tokens.compute(), **self.report()}

    def decode(self, outputs: dict, batch: Batch, top_k: int = 1) -> list:
        """For each [MASK] in the input: its position and the top-k token ids with probabilities."""
        result = []
        for logits, ids in zip(np.asarray(outputs["logits"], dtype=np.float64), np.asarray(batch.inputs["input_ids"])):
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


def peak_lr(width: int, pretrained: bool) -> float:
    """A peak learning rate for AdamW at batch 32: 1e-3 at width 128, falling as 1/width (wider
    models need smaller steps), and 3e-5 when continuing from real weights: a small corpus
    teaches little, and more would overwrite what the weights know (Gururangan et al. 2020
    used 1e-4 at batch 2,048 for RoBERTa; at batch 32 a gentle rate in 2e-5-5e-5, with early
    stopping on the held-out perplexity, is what keeps continued pre-training from forgetting)."""
    return 3e-5 if pretrained else float(min(1e-3, max(1e-4, 1e-3 * 128 / width)))


def continuing(model) -> bool:
    """True for a real model's weights (it brought its own tokenizer)."""
    return bool(model.preprocessor.config.get("tokenizer"))


def recipe(config, model, sequences: int, target_steps: int):
    """``config`` with MLM's values for the options the user did not set (in a flag or
    ``--config``): a preset's fine-tuning recipe does not fit pre-training. Where the
    engine does not record who set what, an option at the engine's default counts as unset."""
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    sources = getattr(config, "recipe", None)

    def user_set(key: str) -> bool:
        if sources is not None:
            return sources.get(key) in ("flag", "--config")
        return getattr(config, key) != defaults[key]

    steps_per_epoch = max(1, math.ceil(sequences / config.batch_size / config.grad_accum))
    pretrained = continuing(model)
    planned = {
        "lr": peak_lr(model.backbone.feature_dim, pretrained),
        "warmup": 0.06,
        "epochs": int(min(40, max(3, math.ceil(target_steps / steps_per_epoch)))),
        "patience": 3,
        # a head on real weights: fitted alone first (headfit), then a little faster than the encoder
        "head_lr": 1e-4 if pretrained else None,
    }
    changes = {k: v for k, v in planned.items() if not user_set(k) and v != getattr(config, k)}
    if "target_steps" in defaults and not user_set("target_steps"):
        changes["target_steps"] = 0  # the epochs are settled here, from the packed corpus
    if sources is not None:
        changes["recipe"] = {**sources, **{k: "mlm recipe" for k in changes}}
    shown = {k: v for k, v in changes.items() if k in planned and v is not None}
    if shown:
        notice("mlm recipe: " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in shown.items())
               + f" ({steps_per_epoch} steps an epoch, {model.backbone.feature_dim} wide"
               + (", continuing from real weights)" if pretrained else ")"))
    return dataclasses.replace(config, **changes)


class MaskedTokens(Metric):
    """Loss per masked token, its perplexity and the masked tokens predicted right, summed
    as batches come (no (B, T, vocab) logits kept)."""

    directions = {"loss": False, "perplexity": False, "masked_accuracy": True}

    def __init__(self):
        self.loss_sum, self.correct, self.total = 0.0, 0, 0

    def add(self, loss_sum: float, correct: int, total: int) -> None:
        self.loss_sum, self.correct, self.total = self.loss_sum + loss_sum, self.correct + correct, self.total + total

    def update(self, outputs, batch) -> None:
        logits = np.asarray(outputs["logits"], dtype=np.float64)
        logits, targets = logits.reshape(-1, logits.shape[-1]), np.asarray(batch.targets).reshape(-1)
        keep = targets != IGNORE
        logits, targets = logits[keep], targets[keep]
        shifted = logits - logits.max(-1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
        self.add(float(-log_probabilities[np.arange(len(targets)), targets].sum()),
                 int((logits.argmax(-1) == targets).sum()), len(targets))

    def compute(self) -> dict:
        loss = self.loss_sum / max(1, self.total)
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "masked_accuracy": self.correct / max(1, self.total)}


class _Encoded:
    """Examples encoded for one evaluation, with the engine's collate interface."""

    def __init__(self, examples, preprocessor, task):
        self.preprocessor, self.task = preprocessor, task
        self.items = [preprocessor(e.input) for e in examples]

    def __len__(self) -> int:
        return len(self.items)

    def collate(self, indices):
        items = [self.items[i] for i in indices]
        return self.preprocessor.collate(items), self.task.collate_targets([self.task.encode(None, a) for a in items])
