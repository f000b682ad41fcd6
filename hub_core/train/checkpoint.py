"""Resumable training state: model, optimizer, scheduler, RNG, position — safetensors + JSON.
Of the model, the tensors that train (hub_core.train.trained): frozen weights by digest.

A checkpoint is a folder written under a temporary name, fsynced, then swapped in by
rename, so a kill at any moment leaves the previous checkpoint loadable. Nothing here is
ever unpickled.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hub_core.common import atomic
from hub_core.common.errors import HubError
from hub_core.train.trained import load_trained, save_trained


@dataclass
class Position:
    """Where a run stands: what a checkpoint saves (state.json "position") and --resume restores."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches done in the epoch under way
    step: int = 0  # optimizer steps
    best: float | None = None  # the best value of the monitored metric so far ...
    best_loss: float | None = None  # ... the validation loss then (breaks ties)
    best_epoch: int | None = None  # ... and its epoch
    bad_epochs: int = 0  # epochs since it last improved (--patience)
    history: list[dict] = field(default_factory=list)  # validation scalars of each epoch

    @classmethod
    def from_json(cls, data: dict) -> "Position":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flatten_optimizer(state: dict) -> tuple[dict, dict]:
    """Optimizer state -> (tensors for safetensors, JSON for the rest)."""
    tensors, scalars = {}, {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict, meta: dict) -> dict:
    state: dict = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


OPTIMIZER = "optimizer.safetensors"  # AdamW's moments, the rng and the schedule's tensors: what --resume needs


def save_checkpoint(folder: Path, model, optimizer, scheduler, position: Position) -> None:
    """Write the checkpoint; a failed write (a full disk) removes its temporary folder and is
    one StorageError line, the previous checkpoint untouched and resumable."""
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    found = find_checkpoint(folder)
    kept = f"; the previous checkpoint ({found}) is intact: free some space and continue with --resume" if found \
        else "; no checkpoint was saved yet"
    try:
        with atomic.writing(f"the checkpoint {folder}", kept):
            _write_checkpoint(folder, tmp, model, optimizer, scheduler, position)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_checkpoint(folder: Path, tmp: Path, model, optimizer, scheduler, position: Position) -> None:
    from safetensors.torch import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    frozen = save_trained(model, tmp / "model.safetensors")  # the frozen part by digest, not copied
    tensors, meta = _flatten_optimizer(optimizer.state_dict())
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(tmp / OPTIMIZER))
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    state = {"position": dataclasses.asdict(position), "optimizer": meta, "scheduler": sched, "frozen": frozen}
    with open(tmp / "state.json", "w") as handle:
        json.dump(state, handle, default=float)
        handle.flush()
        os.fsync(handle.fileno())
    for file in tmp.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(tmp)
    old = folder.with_name(f"{folder.name}.old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    _fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


# what a writer killed before its rename leaves: .NAME.tmp-PID folders (save_checkpoint) and
# .NAME.XXXXXXXX files (hub_core.common.atomic)
PARTIAL = re.compile(r"^\.(.+)\.(tmp-\d+|[a-z0-9_]{8})$")


def discard_partial_writes(out: Path) -> list[Path]:
    """Remove the temporary files and folders that killed writers left under ``out`` (a run
    being resumed); the files they were to replace are intact. Returns what was removed."""
    leftovers = [path for path in out.rglob(".*") if PARTIAL.match(path.name)]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return leftovers


def retire(folder: Path) -> None:
    """A finished run's last checkpoint without its optimizer state: AdamW's two moments are
    twice what trains (most of a 432 MB MiniLM run folder, issue 39) and of no use once the
    model directory is written; the weights and position stay for the record."""
    found = find_checkpoint(folder)
    if found is not None:
        (found / OPTIMIZER).unlink(missing_ok=True)


def retired(out: Path) -> bool:
    """Did the run in ``out`` finish (its model directory written, its optimizer state dropped),
    so that nothing is left to resume?"""
    from hub_core.model.manifest import is_model_dir

    found = find_checkpoint(out / "checkpoints" / "last")
    return found is not None and not (found / OPTIMIZER).is_file() and is_model_dir(out)


def find_checkpoint(folder: Path) -> Path | None:
    """``last``, or ``last.old`` if a kill struck between the two renames."""
    for candidate in (folder, folder.with_name(f"{folder.name}.old")):
        if (candidate / "state.json").is_file():
            return candidate
    return None


def load_checkpoint(folder: Path, model, optimizer, scheduler) -> Position:
    from safetensors.torch import load_file

    found = find_checkpoint(folder)
    if found is None:
        raise HubError(f"{folder}: no checkpoint to resume from")
    try:
        state = json.loads((found / "state.json").read_text())
    except ValueError as err:
        raise HubError(f"{found}: the checkpoint is damaged and cannot be resumed (state.json: {err}); "
                       "start again with --overwrite") from None
    load_trained(model, found / "model.safetensors", state.get("frozen"))  # no record: an older, whole-model one
    try:
        tensors = load_file(str(found / OPTIMIZER))
        torch.set_rng_state(tensors.pop("rng.torch"))
        optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
        scheduler.load_state_dict({**scheduler.state_dict(), **state["scheduler"]})
        return Position.from_json(state["position"])
    except Exception as err:  # noqa: BLE001 - whatever a damaged file makes safetensors, json or torch raise
        reason = " ".join(str(err).split())[:200]
        raise HubError(f"{found}: the checkpoint is damaged and cannot be resumed ({type(err).__name__}: {reason}); "
                       "start again with --overwrite") from None
