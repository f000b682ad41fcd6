"""``hub recommend``: the top-K items for a user, from the torch model or its ONNX export.

Both paths score every item code, then rank with the same numpy code (hub_recsys.rank),
leaving out the OOV bucket and, unless asked, the items the user saw in training. A user
the model has never seen gets the most popular training items instead, with a notice.
The ONNX path imports no torch: it uses the two towers and the item matrix when
``hub export-towers`` wrote them, else the scorer graph of ``hub export`` on every item.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hub_core.api import UsageError, notice, read_manifest

from hub_recsys.rank import leave_out, popularity_scores, top_items
from hub_recsys.vocab import OOV

USER_TOWER, ITEM_MATRIX = "user_tower.onnx", "item_embeddings.npy"
ONNX_CHUNK = 1 << 16


class TorchScores:
    def __init__(self, catalogue, directory: Path):
        from hub_core.api import load_model
        from hub_recsys.scoring import Scorer

        model = load_model(catalogue, directory)
        self.preprocessor = model.preprocessor
        self.scorer = Scorer(model, len(self.preprocessor.items))
        self.engine = "torch" + (" (towers)" if self.scorer.towers is not None else " (pairwise)")

    def __call__(self, user: int) -> np.ndarray:
        return self.scorer(np.array([user]))[0]


class OnnxScores:
    def __init__(self, catalogue, directory: Path):
        from hub_core.api import load_preprocessor_and_task
        from hub_core.api import OnnxGraph, OnnxModel

        if (directory / USER_TOWER).is_file() and (directory / ITEM_MATRIX).is_file():
            _, self.preprocessor, _ = load_preprocessor_and_task(catalogue, directory)
            self.user_tower = OnnxGraph(directory / USER_TOWER)
            items = np.load(directory / ITEM_MATRIX, allow_pickle=False)
            self.item_matrix = np.vstack([np.zeros((1, items.shape[1]), items.dtype), items])  # row 0: OOV
            self.engine = "onnx (towers)"
        else:
            self.scorer = OnnxModel(catalogue, directory)
            self.preprocessor, self.item_matrix = self.scorer.preprocessor, None
            self.engine = "onnx (scorer)"

    def __call__(self, user: int) -> np.ndarray:
        if self.item_matrix is not None:
            vector = self.user_tower.run({"user": np.array([user], dtype=np.int64)})["user_vector"]
            return (vector @ self.item_matrix.T)[0].astype(np.float64)
        num_items = len(self.preprocessor.items)
        scores = []
        for start in range(0, num_items, ONNX_CHUNK):
            items = np.arange(start, min(num_items, start + ONNX_CHUNK), dtype=np.int64)
            output = self.scorer.run({"user": np.full(len(items), user, dtype=np.int64), "item": items})["score"]
            scores.append(np.asarray(output, dtype=np.float64)[:, 0])
        return np.concatenate(scores)


def recommend(catalogue, directory, users: list[str], k: int = 10, use_onnx: bool = False,
              include_seen: bool = False) -> list[dict]:
    """One answer per user: {"user", "source" ("model" | "popularity"), "engine", "items": [{"item", "score"}]}."""
    directory = Path(directory)
    modality = read_manifest(directory)["modality"]
    if modality != "interactions":
        raise UsageError(f"{directory}: a {modality} model, not a recommender (hub recommend takes a model directory "
                         "trained on interactions; use 'hub predict' for this one)")
    scores_of = (OnnxScores if use_onnx else TorchScores)(catalogue, directory)
    return [recommend_one(scores_of, raw, k, include_seen, notice) for raw in users]


def recommend_one(scores_of, raw: str, k: int, include_seen: bool = False, warn=None) -> dict:
    """The top-``k`` items for one user id, from a TorchScores or an OnnxScores."""
    preprocessor = scores_of.preprocessor
    code = preprocessor.users.code(raw)
    if code == OOV:
        if warn is not None:
            warn(f"user {raw!r} is not in the model's training data: recommending the most popular items")
        scores, source = popularity_scores(preprocessor.popularity), "popularity"
    else:
        scores, source = scores_of(code), "model"
    ranked = leave_out(scores[None, :], np.array([code]), preprocessor.history, include_seen)[0]
    best = top_items(ranked, k)
    items = [{"item": preprocessor.items.name(int(c)),
              "score": int(preprocessor.popularity[c]) if source == "popularity" else round(float(ranked[c]), 6)}
             for c in best]
    engine = scores_of.engine if source == "model" else "popularity"
    return {"user": raw, "source": source, "engine": engine, "items": items}


class UserRanker:
    """``hub serve``'s "top-K items for this user": an input ``{"user": ID}`` (optionally
    ``"include_seen": true``) answered as ``hub recommend --onnx`` answers it, torch-free."""

    def __init__(self, catalogue, directory):
        self.scores = OnnxScores(catalogue, Path(directory))

    def query(self, raw):
        """The (user, include_seen) a raw input asks about, or None (a user-item pair: scored by the graph)."""
        if isinstance(raw, dict) and "user" in raw and set(raw) <= {"user", "include_seen"}:
            return str(raw["user"]), raw.get("include_seen") in (True, "true", 1)
        return None

    def answer(self, query, top_k: int) -> dict:
        user, include_seen = query
        return recommend_one(self.scores, user, top_k, include_seen)
