"""A fitted preprocessor from the disk cache: a run on data a preprocessor was already fitted
on (a WordPiece trained on the same texts) loads it instead of fitting again.

Only for examples whose reader vouches for them (``ExampleColumns.identity``: one file's
path, size and modification time, the read options): the key is that, the rows taken, and
the preprocessor's class and config before fitting, so it costs no pass over the data. A
changed file has another size or mtime, hence another key. Entries hold what ``save`` writes
and the config after fitting (``fit`` may add to it, as a mean and std), and are built
atomically (``hub_core.common.diskcache``).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from hub_core.common import diskcache

VERSION = "fitted-preprocessor-v1"


def _key(preprocessor, examples) -> str | None:
    identity = getattr(examples, "identity", None)
    if identity is None or not diskcache.enabled():
        return None
    h = hashlib.sha256(f"{VERSION} {type(preprocessor).__module__}.{type(preprocessor).__qualname__}".encode())
    h.update(json.dumps(preprocessor.config, sort_keys=True, default=str).encode() + b"\0")
    h.update(identity.encode("utf-8", "surrogatepass") + b"\0")
    h.update(np.ascontiguousarray(examples.rows(), dtype=np.int64).tobytes())
    return h.hexdigest()[:40]


def fitted(modality, preprocessor, examples, catalogue=None):
    """``preprocessor`` fitted on ``examples``: loaded from the cache when it was fitted on
    the same data before, else fitted (and kept for next time)."""
    key = _key(preprocessor, examples)
    entry = diskcache.lookup(key) if key else None
    if entry is not None:
        config = json.loads((entry / "config.json").read_text())
        return modality.load_preprocessor(entry / "files", config, catalogue)
    preprocessor.fit(examples)
    if key:
        with diskcache.building(key, "preprocessor", f"{type(preprocessor).__name__} fitted on {len(examples)} "
                                                     f"examples of {getattr(examples, 'file', 'the data')}") as folder:
            preprocessor.save(folder / "files")
            (folder / "config.json").write_text(json.dumps(preprocessor.config, default=str))
    return preprocessor
