"""CTC decoding in numpy, outside the graph (torch and onnxruntime outputs alike): the greedy
best path with each character's frames, words with their times from that alignment, and a
prefix beam search that may keep to a word list.

Inputs are one utterance's ``log_probs`` (T, V) over its real frames; index 0 is the blank.
"""
from __future__ import annotations

import numpy as np

NEG = -np.inf


def greedy(log_probs: np.ndarray) -> tuple[list[int], list[tuple[int, int]], float]:
    """(tokens, each token's [first, last] frame, the best path's mean frame probability): the
    argmax of every frame, repeats merged, blanks dropped (Graves et al. 2006, best path)."""
    best = log_probs.argmax(-1)
    tokens, spans = [], []
    previous = 0
    for frame, token in enumerate(best.tolist()):
        if token != 0 and token == previous:
            spans[-1] = (spans[-1][0], frame)
        elif token != 0:
            tokens.append(token)
            spans.append((frame, frame))
        previous = token
    score = float(np.exp(log_probs.max(-1).mean())) if len(best) else 0.0
    return tokens, spans, score


def tidy(tokens: list[int], spans: list, space: int) -> tuple[list[int], list]:
    """Without leading, trailing and repeated spaces (a blank between two spaces lets CTC
    write both), each token's span kept with it."""
    kept = []
    for index, token in enumerate(tokens):
        if token == space and (not kept or tokens[kept[-1]] == space):
            continue  # a leading or repeated space
        kept.append(index)
    while kept and tokens[kept[-1]] == space:
        kept.pop()
    return [tokens[i] for i in kept], [spans[i] for i in kept] if spans else []


def words_with_times(text: str, spans: list[tuple[int, int]], frame_seconds: float) -> list[dict]:
    """Each word of ``text`` (one character per span) with its start and end in seconds: from
    its first character's first frame to its last character's last frame."""
    words, current, begin, end = [], "", 0, 0
    for ch, (first, last) in zip(text, spans):
        if ch == " ":
            if current:
                words.append(_word(current, begin, end, frame_seconds))
            current = ""
            continue
        begin = first if not current else begin
        current, end = current + ch, last + 1
    if current:
        words.append(_word(current, begin, end, frame_seconds))
    return words


def _word(word: str, begin: int, end: int, frame_seconds: float) -> dict:
    return {"word": word, "start": round(begin * frame_seconds, 3), "end": round(end * frame_seconds, 3)}


def prefix_beam(log_probs: np.ndarray, width: int, space: int, allowed=None) -> tuple[list[int], float]:
    """(tokens, log probability) of the best prefix after a CTC prefix beam search (Hannun et
    al. 2014) of ``width`` prefixes. ``allowed(prefix tokens, closing)`` may veto a prefix: a
    word list keeps only words that are (``closing``: at a space or the end) or begin (else)
    one of its words. Without it the search differs from greedy only where several paths
    add up to more than the best one."""
    beams = {(): (0.0, NEG)}  # prefix -> (log P ending in blank, log P ending in its last token)
    for frame in log_probs:
        top = np.argsort(frame)[::-1][:max(width, 2)]
        grown: dict[tuple, list] = {}
        for prefix, (blank, last) in beams.items():
            total = np.logaddexp(blank, last)
            _add(grown, prefix, frame[0] + total, NEG)  # a blank: the prefix stays
            if prefix:
                _add(grown, prefix, NEG, last + frame[prefix[-1]])  # the last token repeated
            for token in top.tolist():
                if token == 0:
                    continue
                extended = prefix + (token,)
                if allowed is not None and not allowed(extended, token == space):
                    continue
                # a repeat of the last token needs a blank between (else it merges)
                start = blank if prefix and token == prefix[-1] else total
                _add(grown, extended, NEG, start + frame[token])
        ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = {prefix: tuple(p) for prefix, p in ranked[:width]}
    finals = [(prefix, float(np.logaddexp(*p))) for prefix, p in beams.items()
              if allowed is None or not prefix or prefix[-1] == space or allowed(prefix + (space,), True)]
    if not finals:  # no prefix completes a listed word: the best as it is
        finals = [(prefix, float(np.logaddexp(*p))) for prefix, p in beams.items()]
    best = max(finals, key=lambda item: item[1])
    return list(best[0]), best[1]


def _add(beams: dict, prefix: tuple, blank: float, last: float) -> None:
    old = beams.get(prefix)
    if old is None:
        beams[prefix] = [blank, last]
    else:
        old[0], old[1] = np.logaddexp(old[0], blank), np.logaddexp(old[1], last)


class WordList:
    """``allowed`` for ``prefix_beam``: the words of a list (normalised, as indices), and
    every prefix of them, as sets of tuples."""

    def __init__(self, words: list[list[int]], space: int):
        self.space = space
        self.words = {tuple(w) for w in words if w}
        self.prefixes = {tuple(w[:i]) for w in self.words for i in range(1, len(w) + 1)}

    def __call__(self, prefix: tuple, closing: bool) -> bool:
        tokens = prefix[:-1] if closing else prefix
        if closing and (not tokens or tokens[-1] == self.space):
            return False  # two spaces, or a leading one
        cut = max((i for i, t in enumerate(tokens) if t == self.space), default=-1)
        word = tokens[cut + 1:]
        return (word in self.words) if closing else (word in self.prefixes)
