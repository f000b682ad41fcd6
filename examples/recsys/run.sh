#!/usr/bin/env bash
# The recommender example end to end: generate a log with a planted structure, split it
# leave-last-out, train MF and a two-tower model with side features, evaluate both against
# the popularity baseline on the test split, export, and recommend (torch and ONNX).
#
#   bash examples/recsys/run.sh [OUT]        (from the repository root, venv active)
set -euo pipefail
OUT=${1:-runs/recsys}
DATA=$OUT/data
PYTHON=${PYTHON:-python}

$PYTHON examples/recsys/generate.py --out "$DATA"
hub split-interactions "$DATA/interactions.csv" --by last --out "$DATA"

hub finetune recsys/mf --task retrieval --data "$DATA/train.csv" --val "$DATA/val.csv" \
    --out "$OUT/mf" --epochs 8 --batch-size 256 --lr 0.02 --overwrite --quiet
hub finetune recsys/two-tower --task retrieval --data "$DATA/train.csv" --val "$DATA/val.csv" \
    --out "$OUT/two-tower" --epochs 8 --batch-size 256 --lr 0.01 --overwrite --quiet \
    -p user_features="$DATA/users.csv" -p item_features="$DATA/items.csv"

for model in mf two-tower; do
    echo "== $model on the test split (ndcg@10 vs popularity_ndcg@10)"
    hub evaluate "$OUT/$model" --data "$DATA/test.csv"
done

hub export "$OUT/mf"                  # the scorer: (user, item) -> score, dynamic batch
hub export-towers "$OUT/two-tower"    # user_tower.onnx, item_tower.onnx, item_embeddings.npy
hub recommend "$OUT/two-tower" --user u1 --k 10
hub recommend "$OUT/two-tower" --user u1 --k 10 --onnx
hub recommend "$OUT/mf" --user a-new-user --k 5          # cold start: popularity, with a notice
hub predict "$OUT/mf" u1 i5 u2 i7                         # (user, item) scores
