"""What a training checkpoint holds of the model: the tensors that train, not the frozen ones.

A head-only fine-tune of MiniLM trains 770 parameters of 22 million; writing the whole model
into ``checkpoints/last`` and ``checkpoints/best`` every epoch wrote two 90 MB copies of
weights that never change. Here a checkpoint's ``model.safetensors`` holds the trainable
parameters and every buffer (BatchNorm statistics move even in frozen layers); the frozen
parameters are referenced by a SHA-256 digest of their bytes. ``--resume`` rebuilds the model
the way the run began (the same source weights, the same seed), loads the trained tensors
and checks the digest: other frozen weights (the weights package changed) are an error, not a
silent mix. The final model directory still holds every weight, once.
"""
from __future__ import annotations

import hashlib
import weakref
from pathlib import Path

import torch
from torch import nn

from hub_core.common import atomic
from hub_core.common.errors import HubError

_digests: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def split_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the tensors to save: trainable parameters and buffers, a tied tensor once; the names of
    the frozen parameters)."""
    trained, frozen, seen = {}, [], set()
    for name, value in model.state_dict(keep_vars=True).items():
        if isinstance(value, nn.Parameter) and not value.requires_grad:
            frozen.append(name)
            continue
        key = (value.data_ptr(), value.dtype, tuple(value.shape))
        if value.numel() and key in seen:
            continue  # tied to a tensor already saved (safetensors refuses shared storage)
        seen.add(key)
        trained[name] = value.detach().cpu().contiguous()
    return trained, frozen


def frozen_record(model: nn.Module, frozen: list[str]) -> dict:
    """{"tensors": count, "sha256": digest of their names, shapes, dtypes and bytes}; computed
    once per model (frozen tensors do not change)."""
    cached = _digests.get(model)
    if cached is not None and cached["names"] == frozen:
        return cached["record"]
    state, digest = model.state_dict(), hashlib.sha256()
    for name in frozen:
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    record = {"tensors": len(frozen), "sha256": digest.hexdigest()}
    _digests[model] = {"names": list(frozen), "record": record}
    return record


def save_trained(model: nn.Module, path: Path) -> dict:
    """Write the trained tensors to ``path`` (safetensors, atomically); returns the frozen
    part's record for the checkpoint's state.json."""
    from safetensors.torch import save_file

    trained, frozen = split_state(model)
    with atomic.replacing(path) as tmp:
        save_file(trained, str(tmp))
    return frozen_record(model, frozen)


def load_trained(model: nn.Module, path: Path, frozen: dict | None = None) -> None:
    """Load what ``save_trained`` wrote (or a whole model's weights: older checkpoints); a
    tensor the file lacks must be a frozen parameter, and with ``frozen`` (the checkpoint's
    record) the frozen parameters must be the very ones the run was checkpointed with."""
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except Exception as err:  # noqa: BLE001 - a damaged file, whatever safetensors raises
        raise HubError(f"{path}: the checkpoint is damaged and cannot be resumed ({type(err).__name__}: "
                       f"{' '.join(str(err).split())[:200]}); start again with --overwrite") from None
    state = model.state_dict(keep_vars=True)
    unexpected = sorted(set(tensors) - set(state))
    missing = [n for n in state if n not in tensors and not (isinstance(state[n], nn.Parameter)
                                                            and not state[n].requires_grad)]
    tied = {(v.data_ptr(), v.dtype, tuple(v.shape)) for n, v in state.items() if n in tensors}
    missing = [n for n in missing if (state[n].data_ptr(), state[n].dtype, tuple(state[n].shape)) not in tied]
    if unexpected or missing:
        what = f"unexpected {unexpected[:3]}" if unexpected else f"missing {missing[:3]}"
        raise HubError(f"{path}: the checkpoint's weights do not fit this model ({what})")
    try:
        model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:
        raise HubError(f"{path}: the checkpoint's weights do not fit this model "
                       f"({' '.join(str(err).split())[:200]})") from None
    if frozen is not None:
        _, names = split_state(model)
        now = frozen_record(model, names)
        if now != frozen:
            raise HubError(f"{path.parent}: the frozen weights differ from those the run was checkpointed with "
                           f"({frozen['tensors']} tensors, sha256 {frozen['sha256'][:12]}…; now {now['tensors']}, "
                           f"{now['sha256'][:12]}…): the backbone's source weights changed; start again with "
                           "--overwrite")
