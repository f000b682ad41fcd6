"""A test plugin of the shape detection has, in one dimension, to prove the task contract
carries it: several named outputs, a ragged number of targets per example, a label-aware
augmentation, an open feature kind and a numpy decoder.

Each example is a signal of LENGTH samples holding 0-3 objects: bumps (class "a") and dips
(class "b") over noise. The model finds each object's span, CenterNet-style: an objectness
score per position (the span's centre), the distances to the span's ends, and a class. A
longer signal is cut into overlapping windows of LENGTH (``windows``: fan-out), each decoded
on its own, and the task gathers their spans back into one answer (``gather``: fan-in).

Loaded like tests/tinyplug.py (tests/run_hub.py adds it when PLUGHUB_TEST_SHAPES is set).
Nothing here imports torch at import time: the ONNX path and the server stay torch-free.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hub_core.api import (BackboneSpec, DataError, Example, HeadSpec, InputSpec, Metric, ModalitySpec,
                          Preprocessor, Task, TaskSpec, hookimpl, iter_rows)

LENGTH = 64
STRIDE = 48  # windows over a longer signal overlap by LENGTH - STRIDE samples
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.5
MATCH_IOU = 0.5


def as_signal(raw) -> np.ndarray:
    """A signal from the reader (an array), a JSON list, or a comma-separated string."""
    if isinstance(raw, str):
        raw = [float(v) for v in raw.split(",")]
    signal = np.asarray(raw, dtype=np.float32).reshape(-1)
    if signal.shape[0] < LENGTH or not np.isfinite(signal).all():
        raise ValueError(f"a signal is {LENGTH} finite numbers or more, got {signal.shape[0]}")
    return signal


def read_signals(path: Path, options) -> list[Example]:
    """JSONL rows {"signal": [LENGTH numbers], "objects": [[start, end, class], ...]}."""
    examples = []
    for line, row in iter_rows(path, required=("signal",)):
        try:
            signal = as_signal(row["signal"])
        except (TypeError, ValueError) as err:
            raise DataError(f"field signal: {err}", file=path, line=line) from None
        examples.append(Example(signal, row.get("objects") if options.labelled else None, f"{path}:{line}"))
    return examples


class SignalPreprocessor(Preprocessor):
    """The signal as a (1, LENGTH) array; training flips it half the time, spans with it. A
    longer signal becomes windows {"signal", "offset"}; a window's label is the spans wholly
    inside it, moved to its coordinates."""

    augments = True

    def windows(self, raw):
        signal = as_signal(raw) if not isinstance(raw, dict) else None
        if signal is None or len(signal) == LENGTH:
            return None
        starts = sorted({*range(0, len(signal) - LENGTH, STRIDE), len(signal) - LENGTH})
        return [{"signal": signal[start:start + LENGTH], "offset": start} for start in starts]

    def __call__(self, raw, *, train=False, rng=None):
        signal = raw["signal"] if isinstance(raw, dict) else as_signal(raw)
        if len(signal) != LENGTH:
            raise ValueError(f"a window is {LENGTH} samples, got {len(signal)}")
        return {"signal": np.asarray(signal, dtype=np.float32)[None]}

    def with_label(self, raw, label, *, train=False, rng=None):
        if isinstance(raw, dict):  # a window: the spans wholly inside it, in its coordinates
            low = raw["offset"]
            label = [[start - low, end - low, kind] for start, end, kind in label or []
                     if start >= low and end <= low + LENGTH]
        arrays = self(raw)
        if train and rng is not None and rng.random() < 0.5:
            arrays = {"signal": np.ascontiguousarray(arrays["signal"][:, ::-1])}
            label = [[LENGTH - end, LENGTH - start, kind] for start, end, kind in label]
        return arrays, label

    def synthetic(self, batch_size, scale, rng):
        return {"signal": rng.standard_normal((batch_size, 1, LENGTH)).astype(np.float32)}


def build_conv(config: dict, weights):
    from torch import nn

    from hub_core.api import Backbone

    class Conv(Backbone):
        """Dilated 1-D convolutions: a feature map of kind "grid" (B, width, LENGTH)."""

        def __init__(self, width: int):
            super().__init__()
            self.feature_dim, self.width = width, width
            self.net = nn.Sequential(nn.Conv1d(1, width, 5, padding=2), nn.GELU(),
                                     nn.Conv1d(width, width, 5, padding=4, dilation=2), nn.GELU(),
                                     nn.Conv1d(width, width, 5, padding=8, dilation=4), nn.GELU())

        def forward(self, signal):
            return {"grid": self.net(signal)}

        def hub_config(self):
            return {"width": self.width}

    return Conv(config.get("width", 32))


def build_span_head(in_features: int, num_outputs: int):
    from torch import nn

    from hub_core.api import Head

    class SpanHead(Head):
        """Per position: objectness, distances to the span's two ends, class logits."""

        consumes = "grid"

        def __init__(self):
            super().__init__(in_features, num_outputs)
            self.out = nn.Conv1d(in_features, 3 + num_outputs, 1)

        def forward(self, features):
            out = self.out(features["grid"])
            return {"objectness": out[:, 0], "extent": nn.functional.softplus(out[:, 1:3]).transpose(1, 2),
                    "class_logits": out[:, 3:].transpose(1, 2)}

    return SpanHead()


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of spans a (N, 2) against spans b (M, 2): (N, M)."""
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return inter / np.maximum(union, 1e-9)


class SpanDetection(Task):
    name = "shapes/spans"
    output_names = ("objectness", "extent", "class_logits")
    monitor = "ap50"
    needs_examples = True  # a window's offset is in its raw part

    def __init__(self, labels: list[str] | None = None):
        super().__init__()
        self.labels = list(labels or [])

    def fit(self, examples):
        self.labels = sorted({str(kind) for e in examples for _, _, kind in (e.label or [])})
        if not self.labels:
            raise ValueError("span detection: the training data has no objects")

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def encode(self, label, arrays) -> np.ndarray:
        rows = []
        for start, end, kind in label or []:
            if str(kind) not in self.labels:
                raise ValueError(f"object class {kind!r} was not seen in training")
            if not 0 <= start < end <= LENGTH:
                raise ValueError(f"span [{start}, {end}) is not inside the signal")
            rows.append([start, end, self.labels.index(str(kind))])
        return np.asarray(rows, dtype=np.float32).reshape(-1, 3)

    def loss(self, outputs, batch):
        import torch
        import torch.nn.functional as F

        objectness, extent, classes = outputs["objectness"], outputs["extent"], outputs["class_logits"]
        heat = torch.zeros_like(objectness)
        losses = []
        for row, spans in enumerate(batch.targets):  # ragged: one (k, 3) tensor per example
            if len(spans) == 0:
                continue
            centre = ((spans[:, 0] + spans[:, 1]) / 2).long().clamp(0, LENGTH - 1)
            heat[row, centre] = 1.0
            ends = torch.stack([centre - spans[:, 0], spans[:, 1] - centre], 1)
            losses.append(F.l1_loss(extent[row, centre], ends) / 8)
            losses.append(F.cross_entropy(classes[row, centre], spans[:, 2].long()))
        positives = heat.sum().clamp(min=1)
        losses.append(F.binary_cross_entropy_with_logits(objectness, heat, pos_weight=objectness.new_tensor(20.0),
                                                         reduction="sum") / positives / 4)
        return torch.stack(losses).sum()

    def spans(self, outputs: dict) -> list[list[tuple]]:
        """Per example: (start, end, class index, score) after peak picking and NMS, best first."""
        score = 1 / (1 + np.exp(-np.asarray(outputs["objectness"], dtype=np.float64)))
        extent, classes = np.asarray(outputs["extent"]), np.asarray(outputs["class_logits"])
        found = []
        for row in range(len(score)):
            s = score[row]
            peaks = np.flatnonzero((s >= SCORE_THRESHOLD) & (s >= np.roll(s, 1)) & (s >= np.roll(s, -1)))
            peaks = peaks[np.argsort(-s[peaks], kind="stable")]
            boxes = np.stack([peaks - extent[row, peaks, 0], peaks + extent[row, peaks, 1]], 1).clip(0, LENGTH)
            kept = []
            for i in range(len(peaks)):  # greedy NMS, best first
                if all(iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] < NMS_IOU for j in kept):
                    kept.append(i)
            found.append([(float(boxes[i, 0]), float(boxes[i, 1]), int(classes[row, peaks[i]].argmax()),
                           float(s[peaks[i]])) for i in kept])
        return found

    def metrics(self) -> list:
        return [SpanAP(self)]

    def decode(self, outputs, batch, top_k: int = 1) -> list:
        answers = []
        for row, found in enumerate(self.spans(outputs)):
            part = batch.examples[row].input if batch.examples else None
            shift = part["offset"] if isinstance(part, dict) else 0  # a window's spans in the whole signal
            answers.append({"objects": [{"label": self.labels[k], "start": round(a + shift, 3),
                                         "end": round(b + shift, 3), "score": round(p, 5)} for a, b, k, p in found]})
        return answers

    def gather(self, answers: list) -> dict:
        """The windows' spans of one signal, the best first; a span found again by an
        overlapping window (IoU >= NMS_IOU, same class) is kept once."""
        found = sorted((o for answer in answers for o in answer["objects"]), key=lambda o: -o["score"])
        kept = []
        for candidate in found:
            box = np.array([[candidate["start"], candidate["end"]]])
            if all(o["label"] != candidate["label"] or iou(box, np.array([[o["start"], o["end"]]]))[0, 0] < NMS_IOU
                   for o in kept):
                kept.append(candidate)
        return {"objects": kept}

    def state(self) -> dict:
        return {"labels": self.labels}

    @classmethod
    def from_state(cls, state: dict) -> "SpanDetection":
        return cls(labels=state["labels"])


class SpanAP(Metric):
    """Average precision at IoU 0.5 (all classes pooled, 101-point interpolation as COCO) and
    F1 at the decoder's threshold, from the decoded spans against the ragged targets."""

    directions = {"ap50": True, "f1": True}

    def __init__(self, task: SpanDetection):
        self.task, self.scored, self.truths = task, [], 0

    def update(self, outputs, batch) -> None:
        for found, truth in zip(self.task.spans(outputs), batch.targets):
            truth = np.asarray(truth).reshape(-1, 3)
            self.truths += len(truth)
            taken = np.zeros(len(truth), dtype=bool)
            for start, end, kind, score in found:  # best first: each truth is matched once
                hit = False
                if len(truth):
                    overlaps = iou(np.array([[start, end]]), truth[:, :2])[0]
                    overlaps[(truth[:, 2] != kind) | taken] = 0
                    hit = bool(overlaps.max() >= MATCH_IOU)
                    taken[overlaps.argmax()] |= hit
                self.scored.append((score, hit))

    def compute(self) -> dict:
        if not self.scored:
            return {"ap50": 0.0, "f1": 0.0}
        order = sorted(self.scored, key=lambda pair: -pair[0])
        hits = np.cumsum([hit for _, hit in order])
        precision, recall = hits / np.arange(1, len(order) + 1), hits / max(1, self.truths)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        ap = float(np.mean([envelope[recall >= r].max() if (recall >= r).any() else 0.0
                            for r in np.linspace(0, 1, 101)]))
        tp = hits[-1]
        return {"ap50": ap, "f1": float(2 * tp / (len(order) + self.truths))}


@hookimpl
def register_modalities(register):
    register(ModalitySpec("signals", (InputSpec("signal", "float32", ("batch", 1, LENGTH)),), reader=read_signals,
                          preprocessor=SignalPreprocessor, file_types=(".jsonl",),
                          description="1-D signals with spans (tests)"))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("shapes/conv", "signals", build_conv, ("grid",), "dilated 1-D convolutions (tests)",
                          {"width": 32}))


@hookimpl
def register_heads(register):
    register(HeadSpec("shapes/spans", "grid", build_span_head, "objectness, extent and class per position (tests)"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("shapes/spans", "shapes/spans", SpanDetection, "1-D span detection (tests)"))


def make_signals(path: Path, n: int, seed: int) -> Path:
    """``n`` signals of 0-3 non-overlapping objects: bumps "a" (+2) and dips "b" (-2) over noise."""
    rng = np.random.default_rng(seed)
    with path.open("w") as handle:
        for _ in range(n):
            signal, objects, free = rng.normal(0, 0.3, LENGTH), [], np.ones(LENGTH, dtype=bool)
            for _ in range(rng.integers(0, 4)):
                width = int(rng.integers(4, 13))
                start = int(rng.integers(0, LENGTH - width + 1))
                if not free[max(0, start - 2):start + width + 2].all():
                    continue
                kind = "ab"[rng.integers(0, 2)]
                signal[start:start + width] += 2.0 if kind == "a" else -2.0
                free[start:start + width] = False
                objects.append([start, start + width, kind])
            handle.write(json.dumps({"signal": signal.round(4).tolist(), "objects": objects}) + "\n")
    return path
