"""Generate an interaction log with a planted structure, plus user and item side features.

Users and items live in a latent space of a few taste clusters; a user picks items with
probability ~ softmax(affinity / temperature + popularity), so a model that learns the
latent structure beats recommending the most popular items. Ratings follow the affinity.

    python examples/recsys/generate.py --out data/recsys [--users 600 --items 400 --per-user 30]
        [--temperature 0.15 --noise 0.35]

writes interactions.csv (user,item,rating,timestamp), users.csv (user,age,segment) and
items.csv (item,genres,price): genres is multi-valued ("g1|g4").
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hub_recsys.demo import generate  # the generator lives in the plugin (hub demo uses it too)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--per-user", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.15, help="lower: users keep closer to their cluster")
    parser.add_argument("--noise", type=float, default=0.35, help="spread of tastes and items around their cluster")
    args = parser.parse_args()
    print(generate(args.out, args.users, args.items, args.per_user, temperature=args.temperature, seed=args.seed,
                   noise=args.noise))


if __name__ == "__main__":
    main()
