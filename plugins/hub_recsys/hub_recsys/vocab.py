"""ID vocabularies and interaction histories, in numpy (the ONNX path uses them too).

Codes run from 1; code 0 is the out-of-vocabulary bucket that every unknown user or item
maps to. Backbones keep row 0 of their embeddings at zero, so an unknown user scores
items by their biases alone (the popularity the model learnt).
"""
from __future__ import annotations

import numpy as np

OOV = 0


class IdVocab:
    """Raw IDs (strings) <-> codes 1..n, with 0 for anything unknown."""

    def __init__(self, ids: list[str]):
        self.ids = list(ids)
        self.index = {raw: code for code, raw in enumerate(self.ids, start=1)}

    def __len__(self) -> int:
        """Rows an embedding table needs: every known ID plus the OOV bucket."""
        return len(self.ids) + 1

    def code(self, raw) -> int:
        return self.index.get(str(raw).strip(), OOV)

    def codes(self, raws) -> np.ndarray:
        index = self.index
        return np.fromiter((index.get(r, OOV) for r in raws), dtype=np.int64, count=len(raws))

    def name(self, code: int) -> str | None:
        return self.ids[code - 1] if 0 < code <= len(self.ids) else None


class History:
    """Which items each user interacted with in training, as a sorted CSR matrix.

    Used to sample negatives that the user has not seen and to leave seen items out of
    full-ranking evaluation and recommendations.
    """

    def __init__(self, indptr: np.ndarray, items: np.ndarray):
        self.indptr, self.items = np.asarray(indptr, np.int64), np.asarray(items, np.int32)

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, num_users: int, num_items: int) -> "History":
        pairs = np.unique(users.astype(np.int64) * num_items + items)  # sorted by user, then item
        indptr = np.zeros(num_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // num_items, minlength=num_users), out=indptr[1:])
        return cls(indptr, (pairs % num_items).astype(np.int32))

    def seen(self, user: int) -> np.ndarray:
        if not 0 <= user < len(self.indptr) - 1:
            return self.items[:0]
        return self.items[self.indptr[user]:self.indptr[user + 1]]

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Elementwise: was (users[i], items[i]) seen in training?"""
        found = np.zeros(len(users), dtype=bool)
        for position, (user, item) in enumerate(zip(users.tolist(), items.tolist())):
            seen = self.seen(user)
            at = np.searchsorted(seen, item)
            found[position] = at < len(seen) and seen[at] == item
        return found


def sample_unseen(seen: np.ndarray, num_items: int, count: int, rng: np.random.Generator,
                  tries: int = 20) -> np.ndarray:
    """``count`` item codes in 1..num_items-1 drawn uniformly among those not in ``seen``
    (sorted). After ``tries`` rounds of rejection (a user who saw nearly everything) the
    remaining draws may be seen items."""
    drawn = rng.integers(1, num_items, size=count)
    if len(seen) == 0 or num_items <= 2:
        return drawn
    for _ in range(tries):
        at = np.minimum(np.searchsorted(seen, drawn), len(seen) - 1)
        clash = seen[at] == drawn
        if not clash.any():
            break
        drawn[clash] = rng.integers(1, num_items, size=int(clash.sum()))
    return drawn
