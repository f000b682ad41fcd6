"""The interactions preprocessor: raw (user, item) -> integer codes. Numpy only.

Fitted on the training interactions, it holds everything a model directory needs to
serve recommendations without the training data: the user and item vocabularies (code 0
is the out-of-vocabulary bucket), each training user's history (to sample negatives and
to leave seen items out of rankings), item popularity (the cold-start fallback and the
baseline) and the side-feature tables. All of it is saved in ``preprocessor/``.

Training examples get ``negatives`` (default 4) item codes the user has not interacted
with, drawn afresh each epoch from the engine's per-example generator (this is the
preprocessor's augmentation; tasks that do not need negatives drop them). Options
(``-p KEY=VALUE``):
  negatives          sampled negatives per training interaction (0: none)
  user_features      a CSV/TSV/JSONL table of user features (see hub_recsys.features)
  item_features      the same for items
  feature_separator  separator of multi-valued categorical cells [|]
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from hub_core.api import ModelDirError, Preprocessor, UsageError

from hub_recsys.data import InteractionLog, parse_pair
from hub_recsys.features import SideFeatures, read_side_features
from hub_recsys.vocab import History, IdVocab, sample_unseen

DEFAULTS = {"negatives": 4, "user_features": None, "item_features": None, "feature_separator": "|"}
SIDES = ("user", "item")


def vocabularies(examples) -> tuple[IdVocab, IdVocab, np.ndarray, np.ndarray]:
    """The user and item vocabularies of ``examples`` (sorted IDs) and every example's codes.
    An InteractionLog is mapped through its distinct IDs: no per-row Python objects."""
    if isinstance(examples, InteractionLog):
        result = []
        for names, rows in ((examples.user_names, examples.user_codes), (examples.item_names, examples.item_codes)):
            vocab = IdVocab(sorted(names[code] for code in np.unique(rows)))
            result.append((vocab, vocab.codes(names).astype(np.int32)[rows]))
        (users, user_codes), (items, item_codes) = result
        return users, items, user_codes, item_codes
    pairs = [parse_pair(e.input) for e in examples]
    users, items = IdVocab(sorted({u for u, _ in pairs})), IdVocab(sorted({i for _, i in pairs}))
    return users, items, users.codes([u for u, _ in pairs]), items.codes([i for _, i in pairs])


class InteractionPreprocessor(Preprocessor):
    def __init__(self, config: dict):
        unknown = sorted(set(config) - set(DEFAULTS))
        if unknown:
            raise UsageError(f"unknown preprocessor option {unknown[0]!r} for interactions "
                             f"(known: {', '.join(DEFAULTS)})")
        super().__init__({**DEFAULTS, **config})
        negatives = self.config["negatives"]
        if isinstance(negatives, bool) or not isinstance(negatives, int) or negatives < 0:
            raise UsageError(f"negatives={negatives!r}: expected a whole number >= 0")
        for key in ("user_features", "item_features"):
            if self.config[key] is not None and not (isinstance(self.config[key], str) and self.config[key].strip()):
                raise UsageError(f"{key}={self.config[key]!r}: expected the path of a CSV/TSV/JSONL table")
        separator = self.config["feature_separator"]
        if not isinstance(separator, str) or not separator:
            raise UsageError(f"feature_separator={separator!r}: expected a non-empty text")
        self.users, self.items = IdVocab([]), IdVocab([])
        self.history = History(np.zeros(2, np.int64), np.zeros(0, np.int32))
        self.popularity = np.zeros(1, dtype=np.int64)
        self.side = {side: SideFeatures() for side in SIDES}

    @property
    def augments(self) -> bool:
        """Negatives are drawn per epoch, so training examples are not cached."""
        return self.config["negatives"] > 0

    # -- fitting ------------------------------------------------------------------
    def fit(self, examples) -> None:
        self.users, self.items, user_codes, item_codes = vocabularies(examples)
        self.history = History.from_pairs(user_codes, item_codes, len(self.users), len(self.items))
        self.popularity = np.bincount(item_codes, minlength=len(self.items)).astype(np.int64)
        for side, vocab in zip(SIDES, (self.users, self.items)):
            if self.config[f"{side}_features"]:
                self.side[side] = read_side_features(self.config[f"{side}_features"], side, vocab,
                                                     self.config["feature_separator"])

    def schema(self) -> dict:
        """The sizes and feature fields a backbone needs (goes into its hub config)."""
        return {"num_users": len(self.users), "num_items": len(self.items),
                "user_fields": self.side["user"].fields, "item_fields": self.side["item"].fields}

    # -- per example ----------------------------------------------------------------
    def __call__(self, raw, *, train: bool = False, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        user_id, item_id = parse_pair(raw)
        user, item = self.users.code(user_id), self.items.code(item_id)
        arrays = {"user": np.asarray(user, dtype=np.int64), "item": np.asarray(item, dtype=np.int64)}
        if train and self.config["negatives"]:
            arrays["negatives"] = sample_unseen(self.history.seen(user), len(self.items), self.config["negatives"],
                                                rng if rng is not None else np.random.default_rng())
        return arrays

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {"user": rng.integers(0, len(self.users), size=batch_size, dtype=np.int64),
                "item": rng.integers(0, len(self.items), size=batch_size, dtype=np.int64)}

    # -- the model directory ----------------------------------------------------------
    def save(self, directory: Path) -> None:
        from hub_core.api import atomic_write_bytes, atomic_write_json

        directory = Path(directory)
        atomic_write_json(directory / "vocab.json", {"users": self.users.ids, "items": self.items.ids})
        atomic_write_bytes(directory / "history.npz", _npz(indptr=self.history.indptr, items=self.history.items,
                                                           popularity=self.popularity))
        sides = {side: {"fields": f.fields, "categories": f.categories} for side, f in self.side.items() if f.fields}
        if sides:
            atomic_write_json(directory / "features.json", sides)
            for side in sides:
                atomic_write_bytes(directory / f"{side}_features.npz", _npz(**self.side[side].arrays()))

    @classmethod
    def load(cls, directory: Path, config: dict) -> "InteractionPreprocessor":
        directory = Path(directory)
        self = cls(config)
        try:
            vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
            self.users, self.items = IdVocab(vocab["users"]), IdVocab(vocab["items"])
            with np.load(directory / "history.npz", allow_pickle=False) as saved:
                self.history = History(saved["indptr"], saved["items"])
                self.popularity = saved["popularity"]
            if (directory / "features.json").is_file():
                sides = json.loads((directory / "features.json").read_text(encoding="utf-8"))
                for side, info in sides.items():
                    with np.load(directory / f"{side}_features.npz", allow_pickle=False) as arrays:
                        self.side[side] = SideFeatures.from_arrays(info["fields"], info["categories"], arrays)
        except (OSError, KeyError, ValueError) as err:
            why = f"{type(err).__name__}: {err}"
            raise ModelDirError(f"{directory}: cannot read the interaction vocabularies ({why})") from None
        if len(self.history.indptr) != len(self.users) + 1 or len(self.popularity) != len(self.items):
            raise ModelDirError(f"{directory}: history.npz does not match vocab.json")
        return self


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
