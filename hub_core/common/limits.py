"""Limits on decoded input, checked before the memory is taken (CLI and server alike).

A header can claim anything: a 40 KB WAV that says 1 Hz asks for a 2.4 GB array once
resampled, a PNG header asks for billions of pixels, a JSON body nests 100,000 deep. Each
reader checks the sizes the header declares against these limits before decoding, and the
error names the limit and the environment variable that moves it.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from hub_core.common.errors import DataError, UsageError


@dataclass(frozen=True)
class Limit:
    default: float
    variable: str
    label: str  # what is measured, as the error says it
    unit: str = ""


LIMITS = {
    "audio_seconds": Limit(3600, "PLUGHUB_MAX_AUDIO_SECONDS", "audio duration", " s"),
    "audio_samples": Limit(2**27, "PLUGHUB_MAX_AUDIO_SAMPLES", "decoded audio samples (all channels)"),
    "audio_rate_min": Limit(1000, "PLUGHUB_MIN_AUDIO_RATE", "audio sample rate", " Hz"),
    "audio_rate_max": Limit(384_000, "PLUGHUB_MAX_AUDIO_RATE", "audio sample rate", " Hz"),
    "image_pixels": Limit(89_478_485, "PLUGHUB_MAX_IMAGE_PIXELS", "image size", " pixels"),  # PIL's own default
    "text_chars": Limit(1_000_000, "PLUGHUB_MAX_TEXT_CHARS", "text length", " characters"),
    "json_depth": Limit(64, "PLUGHUB_MAX_JSON_DEPTH", "JSON nesting", " levels"),
}


class LimitExceeded(DataError):
    """An input over one of the limits (the server answers 413)."""


def value(name: str) -> float:
    """The limit ``name``: its environment variable when set, else its default."""
    limit = LIMITS[name]
    raw = os.environ.get(limit.variable)
    if raw is None or not raw.strip():
        return limit.default
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 1:
        raise UsageError(f"{limit.variable} must be a finite number of at least 1 (the limit of {limit.label}), "
                         f"got {raw!r}")
    return number


def check(name: str, amount: float, file=None, *, low: bool = False, line: int | None = None) -> None:
    """LimitExceeded when ``amount`` is over the limit ``name`` (under it, with ``low``)."""
    bound = value(name)
    if (amount < bound) if low else (amount > bound):
        limit = LIMITS[name]
        side = "at least" if low else "at most"
        raise LimitExceeded(f"{limit.label} {_number(amount)}{limit.unit}: {side} {_number(bound)} allowed "
                            f"({limit.variable})", file=file, line=line)


def _number(amount: float) -> str:
    return f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.3g}"


def json_depth(data) -> int:
    """How deeply ``data`` (parsed JSON) nests lists and objects; iterative (no recursion)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def loads_json(text, file=None, line: int | None = None):
    """``json.loads`` with the nesting limit: too deep a document is LimitExceeded, never a
    RecursionError (Python's parser recurses once per level)."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise LimitExceeded(f"JSON nesting deeper than Python's parser goes: at most {_number(value('json_depth'))} "
                            f"levels allowed ({LIMITS['json_depth'].variable})", file=file, line=line) from None
    check("json_depth", json_depth(data), file, line=line)
    return data
