"""hub demo's interactions row, and the interaction-log generator of the recsys example.

Users and items live in a latent space of a few taste clusters; a user picks items with
probability ~ softmax(affinity / temperature + popularity), so a model that learns the
latent structure beats recommending the most popular items. Ratings follow the affinity.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def generate(out: Path, users: int = 600, items: int = 400, per_user: int = 30, clusters: int = 8, dim: int = 8,
             temperature: float = 0.15, popularity: float = 0.8, seed: int = 0, noise: float = 0.35) -> dict:
    """``noise``: spread of a user's taste and an item's traits around their cluster's centre;
    with ``temperature`` it sets how much of a user's log comes from its own cluster (the
    defaults: ~40 %, the eight random centres overlap; temperature 0.05 and noise 0.1: ~85 %)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    user_cluster, item_cluster = rng.integers(0, clusters, users), rng.integers(0, clusters, items)
    user_taste = centres[user_cluster] + noise * rng.normal(size=(users, dim))
    item_traits = centres[item_cluster] + noise * rng.normal(size=(items, dim))
    item_pop = popularity * rng.normal(size=items)
    affinity = user_taste @ item_traits.T / np.sqrt(dim)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for u in range(users):
        logits = affinity[u] / temperature + item_pop
        p = np.exp(logits - logits.max())
        p /= p.sum()
        count = max(5, int(rng.poisson(per_user)))
        chosen = rng.choice(items, size=min(count, items), replace=False, p=p)
        start = 1_600_000_000 + int(rng.integers(0, 86_400 * 30))
        for step, i in enumerate(chosen):
            rating = int(np.clip(np.rint(3 + 2.5 * affinity[u, i] + 0.5 * rng.normal()), 1, 5))
            rows.append((f"u{u}", f"i{i}", rating, start + 3_600 * step + int(rng.integers(0, 600))))
    with open(out / "interactions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "item", "rating", "timestamp"])
        writer.writerows(rows)
    with open(out / "users.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user", "age", "segment"])
        for u in range(users):
            segment = user_cluster[u] if rng.random() < 0.8 else rng.integers(0, clusters)
            writer.writerow([f"u{u}", int(rng.integers(18, 70)), f"s{segment}"])
    with open(out / "items.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "genres", "price"])
        for i in range(items):
            extra = rng.integers(0, clusters, size=int(rng.integers(0, 3)))
            genres = sorted({f"g{item_cluster[i]}", *(f"g{g}" for g in extra)})
            writer.writerow([f"i{i}", "|".join(genres), round(float(rng.gamma(2.0, 5.0)), 2)])
    return {"interactions": len(rows), "users": users, "items": items}


def make_data(folder: Path, seed: int) -> dict:
    """The demo's data: 300 users x 200 items, split leave-last-out like hub split-interactions."""
    from hub_core.api import ReadOptions
    from hub_recsys.data import read_examples
    from hub_recsys.split import assign, write_splits

    folder = Path(folder)
    generate(folder, users=300, items=200, per_user=20, seed=seed)
    log = read_examples(folder / "interactions.csv", ReadOptions())
    write_splits(log, assign(log, "last", 0.1, 0.1, seed), folder)
    return {"train": folder / "train.csv", "val": folder / "val.csv", "inputs": ["u1", "i5", "u2", "i7"]}
