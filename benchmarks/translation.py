"""English -> German translation on real data: the hub's `seq2seq` default (nlp/seq2seq, a
BART-sized encoder-decoder trained from scratch with a tokenizer trained on the pairs) beside
translation memory, with 2,000 pairs and with more.

    python benchmarks/translation.py [--sizes 2000,all] [--epochs 20] [--test 500] [--out runs/mt]

Data and baseline: benchmarks/translation_data.py (Debian's gettext catalogues). The hub is
trained by `hub finetune nlp/seq2seq --task seq2seq` on the pairs as two parallel text files
(``--epochs``, lr 5e-4 with 10 % warm-up, batch 32, 64 tokens each side, greedy decoding) and scored by `hub
evaluate` on the same held-out test pairs as the baseline; the first model is exported and its
greedy generation timed, torch against onnxruntime, at batch 1 and 16. Prints JSON: BLEU and
chrF (sacrebleu, 0-100 here, as MT papers print them) per size, tokens/s, the CPU flags and the load.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.translation_data import pairs, split, translation_memory  # noqa: E402

HUB = [sys.executable, "-m", "hub_core"]
FLAGS = ("--lr", "5e-4", "--warmup", "0.1", "--batch-size", "32", "--max-length", "64", "-p", "max_target_length=64",
         "--task-option", "max_new_tokens=64", "--patience", "0", "-q")


def hub(*args) -> str:
    done = subprocess.run([*HUB, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"hub {' '.join(map(str, args))} failed: {done.stderr[-2000:]}")
    return done.stdout


def write_parallel(folder: Path, name: str, rows) -> tuple[Path, Path]:
    source, target = folder / f"{name}.en.txt", folder / f"{name}.de.txt"
    source.write_text("".join(s + "\n" for s, _ in rows), encoding="utf-8")
    target.write_text("".join(t + "\n" for _, t in rows), encoding="utf-8")
    return source, target


def write_table(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("source", "target"), *rows])
    return path


def scores(hypotheses: list[str], references: list[str]) -> dict:
    import sacrebleu

    return {"bleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2),
            "chrf": round(sacrebleu.corpus_chrf(hypotheses, [references]).score, 2)}


def hub_arm(folder: Path, size: str, train: list, test_csv: Path, epochs: int) -> dict:
    source, target = write_parallel(folder, f"train-{size}", train)
    out = folder / f"model-{size}"
    started = time.perf_counter()
    hub("finetune", "nlp/seq2seq", "--task", "seq2seq", "--data", source, "--read-option", f"target={target}",
        "--out", out, "--epochs", epochs, "--overwrite", *FLAGS)
    seconds = time.perf_counter() - started
    got = json.loads(hub("evaluate", out, "--data", test_csv, "--json"))
    return {"bleu": round(100 * got["bleu"], 2), "chrf": round(100 * got["chrf"], 2), "train_seconds": round(seconds, 1)}


def generation_speed(model_dir: Path, sources: list[str], batches=(1, 16), repeats: int = 3) -> dict:
    """Generated tokens per second of the exported program (onnxruntime fp32) against the same
    greedy loop over the torch modules, at each batch size, medians of ``repeats`` passes over
    the same sources (multi-graph models have no int8 export yet)."""
    import numpy as np

    from hub_core.deploy.engine import open_engine
    from hub_core.plugin.manager import load_hub

    catalogue = load_hub().catalogue
    engines = {"torch": open_engine(catalogue, model_dir), "onnxruntime fp32": open_engine(catalogue, model_dir, onnx=True)}
    found = {}
    for batch in batches:
        arrays = engines["torch"].preprocessor.collate([engines["torch"].preprocessor(s) for s in sources[:batch]])
        for name, engine in engines.items():
            times, tokens = [], 0
            for _ in range(repeats):
                started = time.perf_counter()
                out = engine.run(arrays)
                times.append(time.perf_counter() - started)
                end = engine.task.end
                tokens = int(sum(min(len(row), int(np.argmax(np.r_[row == end, True])) + 1) for row in out["tokens"]))
            found[f"{name}, batch {batch}"] = {"tokens": tokens, "tokens_per_s": round(tokens / float(np.median(times)), 1)}
        found[f"onnxruntime vs torch, batch {batch}"] = round(found[f"onnxruntime fp32, batch {batch}"]["tokens_per_s"]
                                                              / found[f"torch, batch {batch}"]["tokens_per_s"], 2)
    return found


def main() -> None:
    from benchmarks.machine import Machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,all")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("runs/mt"))
    args = parser.parse_args()
    machine = Machine.now()
    args.out.mkdir(parents=True, exist_ok=True)
    everything = pairs()
    train_all, test = split(everything, args.test)
    test_csv = write_table(args.out / "test.csv", test)
    references = [t for _, t in test]
    result = {"data": {"pairs": len(everything), "test_pairs": len(test)}, "epochs": args.epochs, "flags": list(FLAGS),
              "sizes": {}}
    for size in args.sizes.split(","):
        train = train_all if size == "all" else train_all[:int(size)]
        memory = scores(translation_memory(train, [s for s, _ in test]), references)
        model = hub_arm(args.out, size, train, test_csv, args.epochs)
        result["sizes"][f"{size} ({len(train)} pairs)"] = {"translation_memory": memory, "hub_seq2seq": model}
        if "speed" not in result:  # once, on the first model: generation tokens/s, torch vs onnxruntime
            hub("export", args.out / f"model-{size}")
            result["speed"] = generation_speed(args.out / f"model-{size}", [s for s, _ in test])
        print(json.dumps({"partial": result}), file=sys.stderr, flush=True)
    result["machine"] = machine.report(None)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
