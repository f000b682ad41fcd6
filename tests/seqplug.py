"""A test plugin of the shape generation has, to prove the task contract carries it: a model
exported as two graphs (an encoder run once, a decoder step run per token with its state)
and a numpy greedy loop that drives either torch or onnxruntime.

The task: write a sequence of LENGTH digits backwards ("3 1 4 1 5 9" -> "9 5 1 4 1 3").
Training is teacher-forced: the preprocessor, which sees the label (``with_label``), adds the
decoder's inputs; predicting runs the program. Loaded with tests/shapeplug.py (tests/run_hub.py
adds both when PLUGHUB_TEST_SHAPES is set); nothing here imports torch at import time.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hub_core.api import (BackboneSpec, DataError, Example, Graph, HeadSpec, InputSpec, Metric, ModalitySpec,
                          Preprocessor, Program, Task, TaskSpec, hookimpl, iter_rows)

LENGTH = 6
BOS, EOS, VOCAB = 10, 11, 12
MAX_STEPS = LENGTH + 2  # the loop's bound: a model that never says EOS still ends


def digits(raw) -> np.ndarray:
    values = [int(v) for v in str(raw).split()] if not isinstance(raw, (list, np.ndarray)) else list(raw)
    if len(values) != LENGTH or any(not 0 <= v <= 9 for v in values):
        raise ValueError(f"expected {LENGTH} digits separated by spaces, got {raw!r}")
    return np.asarray(values, dtype=np.int64)


def read_digits(path: Path, options) -> list[Example]:
    """JSONL rows {"digits": "3 1 4 1 5 9", "target": "9 5 1 4 1 3"}."""
    examples = []
    for line, row in iter_rows(path, required=("digits",)):
        try:
            digits(row["digits"])
        except ValueError as err:
            raise DataError(f"field digits: {err}", file=path, line=line) from None
        examples.append(Example(row["digits"], row.get("target") if options.labelled else None, f"{path}:{line}"))
    return examples


class DigitsPreprocessor(Preprocessor):
    def __call__(self, raw, *, train=False, rng=None):
        return {"tokens": digits(raw)}

    def with_label(self, raw, label, *, train=False, rng=None):
        """Teacher forcing: the decoder reads BOS and the target's digits."""
        return {**self(raw), "decoder_input": np.concatenate([[BOS], digits(label)]).astype(np.int64)}, label

    def synthetic(self, batch_size, scale, rng):
        return {"tokens": rng.integers(0, 10, (batch_size, LENGTH)).astype(np.int64)}


def build_encoder(config: dict, weights):
    import torch
    from torch import nn

    from hub_core.api import Backbone

    class Encoder(Backbone):
        """Digit and position embeddings through two convolutions: a "memory" (B, LENGTH, width)."""

        def __init__(self, width: int):
            super().__init__()
            self.feature_dim, self.width = width, width
            self.embed, self.position = nn.Embedding(VOCAB, width), nn.Embedding(LENGTH, width)
            self.conv = nn.Sequential(nn.Conv1d(width, width, 3, padding=1), nn.GELU(),
                                      nn.Conv1d(width, width, 3, padding=1))

        def forward(self, tokens, decoder_input=None):
            x = self.embed(tokens) + self.position(torch.arange(tokens.shape[1], device=tokens.device))
            memory = x + self.conv(x.transpose(1, 2)).transpose(1, 2)
            return {"memory": memory, "decoder_input": decoder_input}  # teacher forcing passes through

        def hub_config(self):
            return {"width": self.width}

    return Encoder(config.get("width", 32))


def build_decoder(in_features: int, num_outputs: int):
    import torch
    from torch import nn

    from hub_core.api import Head

    class Decoder(Head):
        """One step: attend over the memory from the state, the previous token and the step."""

        consumes = "memory"

        def __init__(self):
            super().__init__(in_features, num_outputs)
            width = in_features
            self.embed, self.step_embed = nn.Embedding(VOCAB, width), nn.Embedding(MAX_STEPS, width)
            self.query, self.cell = nn.Linear(width, width), nn.GRUCell(2 * width, width)
            self.out = nn.Linear(2 * width, num_outputs)

        def start(self, memory):
            return memory.mean(1)

        def step(self, memory, previous, hidden, step):
            token = self.embed(previous)
            query = self.query(hidden + token + self.step_embed(step))
            weights = torch.softmax(torch.einsum("btd,bd->bt", memory, query) / memory.shape[-1] ** 0.5, -1)
            context = torch.einsum("bt,btd->bd", weights, memory)
            hidden = self.cell(torch.cat([token, context], -1), hidden)
            return self.out(torch.cat([hidden, context], -1)), hidden

        def forward(self, features):
            memory, given = features["memory"], features["decoder_input"]
            hidden, logits = self.start(memory), []
            for t in range(given.shape[1]):
                step = torch.full_like(given[:, t], t)
                out, hidden = self.step(memory, given[:, t], hidden, step)
                logits.append(out)
            return torch.stack(logits, 1)

    return Decoder()


class ReverseTask(Task):
    name = "seq/reverse"
    output_names = ("logits",)  # teacher-forced, for the loss; the program gives "tokens"
    monitor = "exact_match"
    program = "tests.seqplug:GreedyProgram"

    @property
    def num_outputs(self) -> int:
        return VOCAB

    def encode(self, label, arrays) -> np.ndarray:
        return np.concatenate([digits(label), [EOS]]).astype(np.int64)

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        logits = outputs["logits"]
        return F.cross_entropy(logits.reshape(-1, VOCAB), batch.targets.reshape(-1))

    def metrics(self) -> list:
        return [ExactMatch()]

    def decode(self, outputs, batch, top_k: int = 1) -> list:
        answers = []
        for tokens, score in zip(outputs["tokens"], outputs["score"]):
            kept = []
            for token in tokens:
                if token == EOS:
                    break
                kept.append(str(int(token)))
            answers.append({"text": " ".join(kept), "score": round(float(score), 5)})
        return answers


class ExactMatch(Metric):
    """Generated sequences (the program's "tokens", up to EOS) equal to the target."""

    directions = {"exact_match": True}

    def __init__(self):
        self.right = self.total = 0

    def update(self, outputs, batch) -> None:
        for tokens, target in zip(np.asarray(outputs["tokens"]), np.asarray(batch.targets)):
            width = min(len(tokens), len(target))
            self.right += int(len(tokens) >= len(target) and (tokens[:width] == target[:width]).all())
            self.total += 1

    def compute(self) -> dict:
        return {"exact_match": self.right / max(1, self.total)}


class GreedyProgram(Program):
    """Encoder once, then the decoder step until every row said EOS (at most MAX_STEPS)."""

    def graphs(self, model) -> dict:
        from torch import nn

        backbone, head = model.backbone, model.head

        class EncoderGraph(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone, self.head = backbone, head

            def forward(self, tokens):
                memory = self.backbone(tokens)["memory"]
                return memory, self.head.start(memory)

        class StepGraph(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = head

            def forward(self, memory, previous, hidden, step):
                return self.head.step(memory, previous, hidden, step)

        width = backbone.feature_dim
        return {
            "encoder": Graph(EncoderGraph().eval(), [{"name": "tokens", "dtype": "int64", "axes": ["batch", LENGTH]}],
                             ("memory", "hidden")),
            "decoder": Graph(StepGraph().eval(), [
                {"name": "memory", "dtype": "float32", "axes": ["batch", LENGTH, width]},
                {"name": "previous", "dtype": "int64", "axes": ["batch"]},
                {"name": "hidden", "dtype": "float32", "axes": ["batch", width]},
                {"name": "step", "dtype": "int64", "axes": ["batch"]}], ("logits", "next_hidden")),
        }

    def examples(self, model, arrays) -> dict:
        encoded = self.on_torch(model)["encoder"]({"tokens": arrays["tokens"]})
        rows = len(arrays["tokens"])
        return {"encoder": {"tokens": arrays["tokens"]},
                "decoder": {"memory": encoded["memory"], "previous": np.full(rows, BOS, dtype=np.int64),
                            "hidden": encoded["hidden"], "step": np.zeros(rows, dtype=np.int64)}}

    def run(self, graphs, arrays) -> dict:
        encoded = graphs["encoder"]({"tokens": arrays["tokens"]})
        memory, hidden = encoded["memory"], encoded["hidden"]
        rows = len(memory)
        previous = np.full(rows, BOS, dtype=np.int64)
        done, tokens = np.zeros(rows, dtype=bool), []
        log_probability = np.zeros(rows)
        for step in range(MAX_STEPS):
            out = graphs["decoder"]({"memory": memory, "previous": previous, "hidden": hidden,
                                     "step": np.full(rows, step, dtype=np.int64)})
            logits = out["logits"].astype(np.float64)
            chosen = np.where(done, EOS, logits.argmax(-1))
            shifted = logits - logits.max(-1, keepdims=True)
            step_log = shifted[np.arange(rows), chosen] - np.log(np.exp(shifted).sum(-1))
            log_probability += np.where(done, 0.0, step_log)
            tokens.append(chosen)
            done |= chosen == EOS
            previous, hidden = chosen.astype(np.int64), out["next_hidden"]
            if done.all():
                break
        return {"tokens": np.stack(tokens, 1).astype(np.int64), "score": np.exp(log_probability)}


@hookimpl
def register_modalities(register):
    register(ModalitySpec("digits", (InputSpec("tokens", "int64", ("batch", LENGTH)),), reader=read_digits,
                          preprocessor=DigitsPreprocessor, file_types=(".jsonl",), description="digit strings (tests)"))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("seq/encoder", "digits", build_encoder, ("memory",), "a convolutional encoder (tests)",
                          {"width": 32}))


@hookimpl
def register_heads(register):
    register(HeadSpec("seq/decoder", "memory", build_decoder, "an attentive GRU decoder step (tests)"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("seq/reverse", "seq/decoder", ReverseTask, "write the digits backwards (tests)"))


def make_digits(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        for row in rng.integers(0, 10, (n, LENGTH)):
            handle.write(json.dumps({"digits": " ".join(map(str, row)), "target": " ".join(map(str, row[::-1]))}) + "\n")
    return path
