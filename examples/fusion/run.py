"""Fusion beats each modality alone: train a text-only, an image-only and a fused model on
the generated captions + pictures (examples/fusion/generate.py), then compare them on the
test rows, and round-trip the fused model through export and ONNX prediction.

    python examples/fusion/run.py [WORK] [--epochs 15] [--fusion concat] [--part-dropout 0]

Everything goes through the ``hub`` command line, exactly as a user would type it; the
commands are printed as they run. Prints a table and writes WORK/results.json.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HUB = [sys.executable, "-m", "hub_core"]
TEXT = ["nlp/bert-tiny", "--max-length", "24"]
IMAGE = ["vision/timm:test_resnet", "-p", "min_scale=0.6"]  # random crops keep most of the shape


def hub(*args, capture: bool = False) -> str:
    command = [str(a) for a in args]
    print("$ hub " + shlex.join(command), flush=True)
    done = subprocess.run(HUB + command, text=True, stdout=subprocess.PIPE if capture else None)
    if done.returncode != 0:
        sys.exit(f"hub {command[0]} failed (exit {done.returncode})")
    return done.stdout or ""


def accuracy(model: Path, data: Path) -> float:
    return json.loads(hub("evaluate", model, "--data", data, "--json", capture=True))["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", type=Path, default=Path("runs/fusion-example"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--fusion", default="concat", choices=["concat", "gated", "attention"])
    parser.add_argument("--part-dropout", type=float, default=0.0,
                        help="hide a part of a training row with this probability (trains the absent embeddings)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data, runs = args.work / "data", args.work / "runs"
    if not (data / "train.csv").is_file():
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(data), "--seed", str(args.seed)], check=True)
    common = ["--task", "classification", "--data", data / "train.csv", "--val", data / "val.csv", "--epochs",
              args.epochs, "--lr", "2e-3", "--seed", args.seed, "--overwrite", "--quiet"]
    seconds = {}

    def train(name: str, *model_args) -> Path:
        started = time.perf_counter()
        hub("finetune", *model_args, *common, "--out", runs / name)
        seconds[name] = round(time.perf_counter() - started, 1)
        return runs / name

    text = train("text", *TEXT, "--input-column", "caption")
    image = train("image", *IMAGE, "--backbone-option", "image_size=32", "--input-column", "image")
    fused = train("fused", "fusion", "--model", f"text={TEXT[0]}", "--model", f"image={IMAGE[0]}",
                  "--backbone-option", f"fusion={args.fusion}", "--backbone-option", "image.image_size=32",
                  "-p", "image.min_scale=0.6", "-p", f"part_dropout={args.part_dropout}", "--max-length", "24",
                  "--input-column", "text=caption", "--input-column", "image=image")

    results = {"text only": accuracy(text, data / "test.csv"), "image only": accuracy(image, data / "test.csv"),
               f"fused ({args.fusion})": accuracy(fused, data / "test.csv"),
               "fused, caption missing": accuracy(fused, data / "test_missing.csv")}

    hub("export", fused, "--json", capture=True)
    eager = json.loads(hub("predict", fused, data / "test.csv", "--json", capture=True))
    onnx = json.loads(hub("predict", fused, data / "test.csv", "--onnx", "--json", capture=True))
    agreement = sum(a["answer"]["label"] == b["answer"]["label"] for a, b in zip(eager, onnx)) / len(eager)
    largest = max(abs(a["answer"]["score"] - b["answer"]["score"]) for a, b in zip(eager, onnx))

    print(f"\n{'model':<26}{'test accuracy':>14}")
    for name, value in results.items():
        print(f"{name:<26}{value:>14.3f}")
    print("chance: 1/12 = 0.083; best possible alone: text 1/3 = 0.333, image 1/4 = 0.250")
    print(f"ONNX vs torch on {len(eager)} test rows: {agreement:.1%} same label, largest score difference {largest:.1e}")
    summary = {"accuracy": results, "onnx_label_agreement": agreement, "onnx_max_score_diff": largest,
               "train_seconds": seconds, "epochs": args.epochs, "fusion": args.fusion, "part_dropout": args.part_dropout}
    (args.work / "results.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
