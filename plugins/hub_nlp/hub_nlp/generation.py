"""Greedy and beam search as numpy loops over a decoder step (transformers' ``generation/utils``
cut down to what a translation needs), shared by torch and onnxruntime: ``step(previous tokens,
rows) -> (logits, state)`` is the only thing an engine brings.

Beam search keeps ``beams`` hypotheses per input ranked by their summed log-probabilities; a
hypothesis that said the end token stays in its beam and only ever continues with it (at no
cost), and the answer is the hypothesis with the best sum / length ** ``length_penalty``
(GNMT's normalisation, as transformers'). Both stop at ``max_new_tokens`` or once every row is done.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Step = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (previous tokens, which state rows) -> logits


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def greedy(first_logits: np.ndarray, step: Step, end: int, max_new_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens (B, T) padded with ``end``, score: the mean log-probability per generated token)."""
    rows = len(first_logits)
    logits, done = first_logits, np.zeros(rows, dtype=bool)
    tokens, total, length = [], np.zeros(rows), np.zeros(rows)
    for position in range(max_new_tokens):
        log_p = log_softmax(logits)
        chosen = np.where(done, end, log_p.argmax(-1))
        total += np.where(done, 0.0, log_p[np.arange(rows), chosen])
        length += ~done
        tokens.append(chosen)
        done |= chosen == end
        if done.all() or position == max_new_tokens - 1:
            break
        logits = step(chosen.astype(np.int64), np.arange(rows))
    return np.stack(tokens, 1).astype(np.int64), total / np.maximum(length, 1)


def beam(first_logits: np.ndarray, step: Step, end: int, max_new_tokens: int, beams: int,
         length_penalty: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(the best hypothesis' tokens per input (B, T) padded with ``end``, its mean log-probability)."""
    rows, vocab = first_logits.shape
    log_p = np.repeat(log_softmax(first_logits), beams, axis=0)  # (B*K, V): every beam starts alike
    scores = np.tile(np.r_[0.0, np.full(beams - 1, -np.inf)], rows)  # ...so only the first may extend
    done = np.zeros(rows * beams, dtype=bool)
    history = np.zeros((rows * beams, 0), dtype=np.int64)
    lengths = np.zeros(rows * beams)
    for position in range(max_new_tokens):
        ended = np.full(vocab, -np.inf)
        ended[end] = 0.0
        candidates = scores[:, None] + np.where(done[:, None], ended[None], log_p)  # (B*K, V)
        flat = candidates.reshape(rows, beams * vocab)
        best = np.argsort(-flat, axis=1, kind="stable")[:, :beams]  # (B, K)
        source = (np.arange(rows)[:, None] * beams + best // vocab).reshape(-1)
        token = (best % vocab).reshape(-1)
        scores = flat[np.arange(rows)[:, None], best].reshape(-1)
        lengths = lengths[source] + ~done[source]
        done = done[source] | (token == end)
        history = np.concatenate([history[source], token[:, None]], 1)
        if done.all() or position == max_new_tokens - 1:
            break
        log_p = log_softmax(step(token.astype(np.int64), source))
    normalised = (scores / np.maximum(lengths, 1) ** length_penalty).reshape(rows, beams)
    pick = np.arange(rows) * beams + normalised.argmax(1)
    return history[pick], scores[pick] / np.maximum(lengths[pick], 1)
