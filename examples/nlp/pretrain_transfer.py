"""Pre-train -> fine-tune -> compare: does MLM pre-training on unlabelled text pay off?

1. generate the data (examples/nlp/generate.py): an unlabelled corpus and a small
   labelled set that shows only a few of each topic's words;
2. hub pretrain nlp/bert-tiny --objective mlm on the corpus;
3. hub finetune the pre-trained directory on the labelled set (the transfer step);
4. hub finetune nlp/bert-tiny from scratch on the same set, with the same settings;
5. print both validation accuracies (JSON).

Run from the repository root:  .venv/bin/python examples/nlp/pretrain_transfer.py [OUT]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HUB = str(Path(sys.executable).with_name("hub"))
FINETUNE = ("--epochs", "15", "--batch-size", "16", "--lr", "1e-3", "--quiet", "--overwrite")
PRETRAIN = ("--epochs", "10", "--batch-size", "32", "--lr", "2e-3", "--warmup", "0.05", "--quiet", "--overwrite")


def hub(*args) -> float:
    """Run one hub command; return its wall time."""
    started = time.perf_counter()
    subprocess.run([HUB, *map(str, args)], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - started


def metrics(directory: Path) -> dict:
    return json.loads((directory / "hub.json").read_text())["metrics"]


def main(out: Path) -> None:
    sys.path.insert(0, str(HERE))
    import generate

    data = out / "data"
    generate.main(data)
    lines = (data / "corpus.txt").read_text().splitlines()
    (data / "corpus_train.txt").write_text("\n".join(lines[:-400]) + "\n")
    (data / "corpus_val.txt").write_text("\n".join(lines[-400:]) + "\n")
    labelled = ("--task", "classification", "--data", data / "train.csv", "--val", data / "val.csv")

    seconds = {
        "pretrain": hub("pretrain", "nlp/bert-tiny", "--objective", "mlm", "--data", data / "corpus_train.txt",
                        "--val", data / "corpus_val.txt", "--out", out / "pretrained", *PRETRAIN),
        "finetune_pretrained": hub("finetune", out / "pretrained", *labelled, "--out", out / "transfer", *FINETUNE),
        "finetune_scratch": hub("finetune", "nlp/bert-tiny", *labelled, "--out", out / "scratch", *FINETUNE),
    }
    mlm, transfer, scratch = metrics(out / "pretrained"), metrics(out / "transfer"), metrics(out / "scratch")
    print(json.dumps({
        "labelled_train": sum(1 for _ in open(data / "train.csv")) - 1,
        "validation": sum(1 for _ in open(data / "val.csv")) - 1,
        "corpus_lines": len(lines) - 400,
        "mlm": {"val_loss": round(mlm["loss"], 4), "val_perplexity": round(mlm["perplexity"], 2),
                "val_masked_accuracy": round(mlm["masked_accuracy"], 4)},
        "accuracy_pretrained_start": round(transfer["accuracy"], 4),
        "accuracy_scratch_start": round(scratch["accuracy"], 4),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/nlp-example").resolve())
