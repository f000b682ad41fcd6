"""A size limit on the models the hub builds, checked before the memory is taken.

A hub.json (or a --backbone-option) is data, possibly a stranger's: ``num_hidden_layers =
10**6`` must not allocate until the machine gives out. Every parameter a module registers
while ``limited`` is active is counted through torch's global parameter-registration hook;
past the limit the construction stops with one line. ``estimate`` first builds on torch's
``meta`` device (shapes only, no memory), so an untrusted model directory is refused before
any real allocation; a factory that cannot build on meta is counted while it really builds.

The limit is MAX_PARAMS unless ``hub --max-params N`` (or PLUGHUB_MAX_PARAMS) raises it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator

from hub_core.common.errors import HubError, UsageError

MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights, before optimizer state: far past what a CPU fine-tunes
MAX_MODULES = 100_000  # submodules; a 96-layer transformer has a few thousand


class TooLarge(HubError):
    """The model being built has more parameters than the limit allows."""


def limit() -> int:
    raw = os.environ.get("PLUGHUB_MAX_PARAMS")
    if raw is None:
        return MAX_PARAMS
    try:
        value = int(float(raw))
    except (ValueError, OverflowError):  # also nan and inf
        raise UsageError(f"--max-params / PLUGHUB_MAX_PARAMS must be a whole number, got {raw!r}") from None
    if value < 1:
        raise UsageError(f"--max-params / PLUGHUB_MAX_PARAMS must be at least 1, got {raw!r}")
    return value


@contextmanager
def limited(what: str) -> Iterator[None]:
    """Count the parameters registered in the block; past ``limit()``, TooLarge naming ``what``."""
    import torch

    allowed, total, modules = limit(), 0, 0
    most_modules = max(MAX_MODULES, allowed // 10_000)  # a million empty layers cost gigabytes (and minutes) too

    def too_large(counted: str) -> TooLarge:
        return TooLarge(f"{what}: more than {counted} (the limit; it would not fit in memory, or was not meant): "
                        "check its config, or raise the limit with --max-params")

    def count(module, name, param):
        nonlocal total
        if param is not None:
            total += param.numel()
            if total > allowed:
                raise too_large(f"{allowed:,} parameters")

    def count_module(module, name, submodule):
        nonlocal modules
        modules += 1
        if modules > most_modules:
            raise too_large(f"{most_modules:,} modules")

    hooks = [torch.nn.modules.module.register_module_parameter_registration_hook(count),
             torch.nn.modules.module.register_module_module_registration_hook(count_module)]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def estimate(build: Callable[[], object], what: str) -> None:
    """Build once on the meta device under the limit (no memory taken): TooLarge when the model
    is too large; any other failure there is left to the real construction to report."""
    import torch

    try:
        with torch.device("meta"), limited(what):
            build()
    except TooLarge:
        raise
    except Exception:  # noqa: BLE001 - a factory that needs real tensors (numpy on weights...): count it for real
        pass
