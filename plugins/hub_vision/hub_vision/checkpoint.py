"""Weights for a timm model: find them on local disk, read them safely, fit them on.

Sources (never a download):
  PATH                     a .safetensors file, a .pth/.pt/.bin state dict (read with
                           ``torch.load(weights_only=True)``), or a folder holding one
  package:MODULE/PATH      a file inside an installed weights package (hub_core.model.weights)
  hf:ORG/NAME              a Hugging Face repository already in the local HF cache
  timm                     the architecture's default pretrained weights, from the local
                           HF or torch-hub cache

Fitting: by name (timm's own checkpoints), by name after the architecture's
``checkpoint_filter_fn`` (original-format checkpoints, resized position embeddings), or
else by order, every tensor's shape checked (checkpoints from another implementation of
the same network, such as the EfficientNet-Lite0 weights package). The ImageNet
classifier is set aside, not loaded: the backbone is built without one.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hub_core.api import HubError, downloads_allowed, load_torch_file, locate

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.pth", "model.pt")
CONTAINER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


@dataclass
class Weights:
    """A state dict read from a source, with the pretrained config it came with, if any."""

    state: dict[str, torch.Tensor]
    source: str
    pretrained_cfg: dict | None = None
    path: Path | None = None  # the file read, when the source named a cache or a folder

    @property
    def found_at(self) -> str:
        """Where the weights came from, for hub.json: the source, and the file a cache gave."""
        return self.source if self.path is None or str(self.path) == self.source else f"{self.source} ({self.path})"


def read_weights(source: str, default_cfg: dict) -> Weights:
    """Read ``source`` (see the module docstring); ``default_cfg`` is the model's pretrained_cfg."""
    if source == "timm":
        return _from_timm_cache(default_cfg)
    if source.startswith("hf:"):
        return _from_hf_cache(source[3:], source)
    path = locate(source)
    if path.is_dir():
        return _from_folder(path, source)
    return Weights(read_state_dict(path), source)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A file's tensors: safetensors, or a torch pickle read with ``weights_only=True``."""
    try:
        if path.suffix != ".safetensors":
            raw = load_torch_file(path)  # refuses (never runs) a pickle holding anything but tensors
        else:
            from safetensors.torch import load_file

            raw = load_file(str(path), device="cpu")
    except HubError:
        raise
    except Exception as err:  # noqa: BLE001 - corrupt files raise many types (struct.error for junk bytes)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HubError(f"weights {path}: cannot read ({reason[:200]})") from None
    for key in CONTAINER_KEYS:  # training checkpoints wrap the state dict
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            raw = raw[key]
            break
    if not isinstance(raw, dict) or not any(isinstance(v, torch.Tensor) for v in raw.values()):
        raise HubError(f"weights {path}: not a state dict of tensors")
    return {_strip(key): value for key, value in raw.items() if isinstance(value, torch.Tensor)}


def _strip(key: str) -> str:
    for prefix in ("module.", "_orig_mod."):  # DataParallel / torch.compile wrappers
        if key.startswith(prefix):
            key = key[len(prefix):]
    return key


def _from_folder(folder: Path, source: str) -> Weights:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            cfg = _pretrained_cfg(folder / "config.json")
            return Weights(read_state_dict(folder / name), source, cfg, folder / name)
    raise HubError(f"weights {source!r}: the folder has none of {', '.join(WEIGHT_FILES)}")


def _from_hf_cache(repo: str, source: str) -> Weights:
    found = _cached(repo, source)
    if found is None and downloads_allowed():  # --download: fetched once into the cache, then read from it
        _download(repo)
        found = _cached(repo, source)
    if found is None:
        raise HubError(f"weights {source!r}: {repo} is not in the local Hugging Face cache and nothing is "
                       "downloaded unless asked (--download, or `huggingface-cli download` once, or pass a file)")
    return found


def _cached(repo: str, source: str) -> Weights | None:
    from huggingface_hub import try_to_load_from_cache

    for name in WEIGHT_FILES[:2]:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            config = try_to_load_from_cache(repo, "config.json")
            cfg = _pretrained_cfg(Path(config)) if isinstance(config, str) else None
            return Weights(read_state_dict(Path(found)), source, cfg, Path(found))
    return None


def _download(repo: str) -> None:
    """--download: the repository's weights (safetensors, else the torch file) and config into the HF cache."""
    from huggingface_hub import hf_hub_download

    for name in WEIGHT_FILES[:2]:
        try:
            hf_hub_download(repo, name)
        except Exception as err:  # noqa: BLE001 - the hub raises per cause (offline, 404, auth): one line for any
            reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            continue
        try:
            hf_hub_download(repo, "config.json")
        except Exception:  # noqa: BLE001 - a config is optional (the weights carry the architecture's cfg)
            pass
        return
    raise HubError(f"--download: cannot fetch {repo} from the Hugging Face Hub ({reason})")


def _from_timm_cache(cfg: dict) -> Weights:
    from huggingface_hub import constants

    name = ".".join(p for p in (cfg.get("architecture"), cfg.get("tag")) if p)
    looked = []
    if cfg.get("hf_hub_id"):
        try:
            return _from_hf_cache(cfg["hf_hub_id"], "timm")
        except HubError:
            looked.append(f"{cfg['hf_hub_id']} in the Hugging Face cache {constants.HF_HUB_CACHE}")
    if cfg.get("url"):
        cached = Path(torch.hub.get_dir()) / "checkpoints" / cfg["url"].rsplit("/", 1)[-1]
        if cached.is_file():
            return Weights(read_state_dict(cached), "timm", path=cached)
        looked.append(str(cached))
    raise HubError(f"timm's pretrained weights for {name}: not in the local cache (looked for "
                   f"{' and '.join(looked) or 'nothing: timm names no file for it'}); nothing is downloaded at run "
                   "time unless asked: pass --weights FILE (or a folder, package:..., hf:...), or --download to fetch them")


def _pretrained_cfg(config_file: Path) -> dict | None:
    if not config_file.is_file():
        return None
    try:
        return json.loads(config_file.read_text()).get("pretrained_cfg")
    except (OSError, ValueError, AttributeError):
        return None


# -- fitting a state dict onto a model -------------------------------------------------
def fit_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                   classifier_name: str | None) -> tuple[dict[str, torch.Tensor], tuple | None]:
    """Map ``state`` onto ``model`` (built without a classifier).

    Returns the model's state dict and the checkpoint's classifier ``(weight, bias)``
    (None if it has none). Raises HubError saying how the weights do not fit.
    """
    target = {k: v for k, v in model.state_dict().items() if not _is_counter(k, v)}
    state = {k: v for k, v in state.items() if not _is_counter(k, v)}
    state, classifier = _pop_classifier(state, classifier_name)
    named = _by_name(target, state)
    if named is None:
        filtered = _filter_fn(model, state)
        named = _by_name(target, filtered) if filtered is not None else None
    if named is not None:
        return named, classifier
    return _by_order(target, state, source, classifier)


def _is_counter(key: str, value: torch.Tensor) -> bool:
    """BatchNorm's step counters: not weights, and absent from some checkpoints."""
    return key.endswith("num_batches_tracked") or (value.ndim == 0 and not value.is_floating_point())


def _pop_classifier(state: dict, name: str | None) -> tuple[dict, tuple | None]:
    if name and f"{name}.weight" in state:
        state = dict(state)
        weight = state.pop(f"{name}.weight")
        bias = state.pop(f"{name}.bias", None)
        return state, (weight, bias)
    return state, None


def _by_name(target: dict, state: dict) -> dict | None:
    if set(target) != set(state):
        return None
    if any(target[k].shape != state[k].shape for k in target):
        return None
    return state


def _filter_fn(model: nn.Module, state: dict) -> dict | None:
    """The architecture's own converter for original-format checkpoints, if it has one."""
    convert = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if convert is None:
        return None
    try:
        return {k: v for k, v in convert(dict(state), model).items() if not _is_counter(k, v)}
    except Exception:  # noqa: BLE001 - a converter that does not apply just means "no"
        return None


def _by_order(target: dict, state: dict, source: str, classifier) -> tuple[dict, tuple | None]:
    keys, values = list(target), list(state.values())
    names = list(state)
    # A classifier under an unknown name: two trailing tensors (classes, features), (classes,).
    if classifier is None and len(values) == len(keys) + 2 and values[-2].ndim == 2 and values[-1].ndim == 1 \
            and values[-2].shape[0] == values[-1].shape[0]:
        classifier, values, names = (values[-2], values[-1]), values[:-2], names[:-2]
    if len(values) != len(keys):
        missing = sorted(set(target) - set(state))
        raise HubError(f"weights {source!r} do not fit: {len(values)} tensors for the model's {len(keys)}"
                       + (f" (by name, first missing: {missing[0]!r})" if missing else ""))
    for index, (key, name, value) in enumerate(zip(keys, names, values)):
        if target[key].shape != value.shape:
            raise HubError(f"weights {source!r} do not fit: by order, tensor #{index} {name!r} has shape "
                           f"{tuple(value.shape)} but the model's {key!r} has {tuple(target[key].shape)}")
    return dict(zip(keys, values)), classifier
