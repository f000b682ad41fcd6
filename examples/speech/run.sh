#!/usr/bin/env bash
# The speech walk-through: make a labelled audio set, fine-tune, export to ONNX, predict.
#
#   examples/speech/run.sh [WORKDIR]        (default: runs/speech; run from the repository root)
#
# With Debian's espeak-ng installed the set is spoken keywords (yes/no/up/down/left/right);
# without it, tones, chirps and noise. Takes a few minutes on two CPU cores.
set -euo pipefail

work=${1:-runs/speech}
hub=${HUB:-hub}
python=${PYTHON:-python}
mkdir -p "$work"

if command -v espeak-ng >/dev/null; then
    words=--words; preset=speech/logmel-small; epochs=20
else
    words=; preset=speech/logmel-tiny; epochs=8
fi
rm -rf "$work/data" "$work/heldout"
"$python" examples/speech/make_sounds.py "$work/data" $words --seed 0
"$python" examples/speech/make_sounds.py "$work/heldout" $words --per-class 5 --seed 1

# A CNN over log-mel features computed inside the model (so the ONNX graph takes waveforms).
"$hub" finetune "$preset" --task classification --data "$work/data" --out "$work/model" --overwrite \
    --epochs "$epochs" --batch-size 16 --lr 3e-3 --max-seconds 2

"$hub" evaluate "$work/model" --data "$work/heldout"
"$hub" export "$work/model"                        # validated with onnxruntime at 0.5 s, 1 s and 3 s
clips=$(find "$work/heldout" -name '*.wav' | sort | head -n 4)
"$hub" predict "$work/model" $clips --top-k 2      # torch
"$hub" predict "$work/model" $clips --onnx         # onnxruntime alone, no torch

# The same data through a tiny wav2vec2, trained from scratch (with --weights, its conv feature encoder would stay frozen).
"$hub" finetune speech/wav2vec2-tiny --task classification --data "$work/data" --out "$work/wav2vec2" --overwrite \
    --epochs 8 --batch-size 16 --lr 2e-3 --max-seconds 1.5
"$hub" export "$work/wav2vec2"
