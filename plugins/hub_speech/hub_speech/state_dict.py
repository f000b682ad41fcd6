"""Read a state dict from local weights and load it into a module, with clear errors.

Formats: ``.safetensors``, or a PyTorch ``.pth``/``.pt``/``.bin``/``.ckpt`` read with
``torch.load(weights_only=True)`` — nothing else is ever unpickled. A checkpoint that
wraps its state dict (``{"model": {...}}``, ``{"state_dict": {...}}``) is unwrapped.
"""
from __future__ import annotations

from pathlib import Path

from hub_core.api import HubError, load_torch_file, locate

SAFETENSORS = (".safetensors",)
PICKLED = (".pth", ".pt", ".bin", ".ckpt")


def _pick_file(directory: Path) -> Path:
    files = sorted(f for f in directory.iterdir() if f.suffix in SAFETENSORS + PICKLED)
    preferred = [f for f in files if f.suffix in SAFETENSORS] or files
    if len(preferred) != 1:
        found = ", ".join(f.name for f in files) or "none"
        raise HubError(f"weights {directory}: expected exactly one .safetensors or .pth file, found {found}")
    return preferred[0]


def read_state_dict(source: str) -> tuple[dict, Path]:
    """``(state_dict, file)`` from a path or ``package:MODULE/path`` (see hub_core.model.weights)."""
    import torch

    path = locate(source)
    if path.is_dir():
        path = _pick_file(path)
    if path.suffix in SAFETENSORS:
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - whatever a corrupt file makes safetensors raise
            raise HubError(f"weights {path}: not a readable safetensors file ({err})") from None
    elif path.suffix in PICKLED:
        state = load_torch_file(path)  # refuses (never runs) a pickle holding anything but tensors
    else:
        raise HubError(f"weights {path}: unknown format {path.suffix!r} (expected .safetensors or .pth)")
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HubError(f"weights {path}: not a state dict (a mapping of names to tensors)")
    return state, path


def load_into(module, state: dict, where: Path) -> None:
    """Load strictly: every parameter must come from the file, with the right shape."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        what = (f"{len(missing)} of the model's tensors are missing (e.g. {missing[0]!r})" if missing
                else f"{len(unexpected)} tensors fit no parameter (e.g. {unexpected[0]!r})")
        raise HubError(f"weights {where}: {what}; does the preset's config describe this checkpoint?")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[key].shape):
            raise HubError(f"weights {where}: {key!r} has shape {tuple(tensor.shape)}, the model expects "
                           f"{tuple(expected[key].shape)}; does the preset's config describe this checkpoint?")
    module.load_state_dict(state)
