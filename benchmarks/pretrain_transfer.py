"""Does MLM pre-training on unlabelled real text lower the labels a task needs?

Data: Debian's fortunes (``apt-get install fortunes``): real short texts in categories. A
few categories are the task (the category is the label, held out from pre-training); every
entry of them not in the test split is the unlabelled corpus (the test texts are not
pre-trained on). For 10 and 50 labels per class, four starting points go through the same
fine-tune recipe (every setting given as a flag, so no preset recipe differs):

  scratch      ``hub finetune nlp/bert-mini`` (random init, WordPiece from the labelled texts)
  mlm          ``hub pretrain nlp/bert-mini --objective mlm`` on the corpus, then fine-tune
  minilm       ``hub finetune nlp/minilm-l6`` (the shipped all-MiniLM-L6-v2 weights)
  minilm+cpt   ``hub pretrain nlp/minilm-l6 --objective mlm`` (continued), then fine-tune

each over several seeds (the seed draws the labelled examples and seeds the fine-tune),
reporting test accuracy mean and spread (sample standard deviation), and per pair of arms
the paired difference (the same labelled sample and seed on both sides). Pre-training runs
once (seed 0), each with its recipe's defaults but for the epochs / steps given. Then MLM
throughput: the same model (bert-mini), the same packed token sequences, batch size and
steps through ``hub pretrain`` and through a plain transformers run (BertForMaskedLM +
DataCollatorForLanguageModeling + Trainer), timed the same way (from the end of the first
optimizer step to the end of the last), alternating for ``--speed-rounds`` rounds so a
change in the machine's load hits both; the ratio is the median of the per-round ratios.
Prints JSON (and writes it with --json-out).

Run: .venv/bin/python benchmarks/pretrain_transfer.py [--seeds 3] [--mini-epochs 6] [--cpt-steps 60]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
FORTUNES = Path("/usr/share/games/fortunes")
CATEGORIES = ("computers", "politics", "science", "songs-poems")
TEST_PER_CLASS = 60
LENGTH = 64  # tokens: fine-tune truncation and the pre-training block
FINETUNE = ("--epochs", "10", "--lr", "2e-4", "--head-lr", "2e-4", "--batch-size", "16", "--warmup", "0.1",
            "--schedule", "linear", "--weight-decay", "0.01", "--freeze", "none", "--patience", "0",
            "--val-split", "0", "--max-length", str(LENGTH), "-q")
FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_tile")


def hub(*args) -> str:
    from hub_core.testing import run_hub

    code, out, err = run_hub(*args)
    if code:
        sys.exit(f"hub {' '.join(map(str, args))} failed ({code}): {err.strip()[-600:]}")
    return err


def read_fortunes(category: str) -> list[str]:
    raw = (FORTUNES / category).read_text(encoding="utf-8", errors="replace")
    return [" ".join(entry.split()) for entry in raw.split("\n%\n") if entry.strip(" \n%")]


def split(seed: int = 0):
    """({category: texts not in the test split}, [(text, category)] test rows)."""
    if not (FORTUNES / CATEGORIES[0]).is_file():
        sys.exit(f"{FORTUNES} has no {CATEGORIES[0]}: apt-get install fortunes")
    rng = random.Random(seed)
    pool, test = {}, []
    for category in CATEGORIES:
        texts = read_fortunes(category)
        rng.shuffle(texts)
        test += [(t, category) for t in texts[:TEST_PER_CLASS]]
        pool[category] = texts[TEST_PER_CLASS:]
    return pool, test


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    return path


def accuracy(model_dir: Path, test_csv: Path) -> float:
    from hub_core.testing import run_hub

    code, out, err = run_hub("evaluate", model_dir, "--data", test_csv, "--json")
    if code:
        sys.exit(f"evaluate {model_dir}: {err.strip()[-400:]}")
    return json.loads(out)["accuracy"]


def pretrain(work: Path, model: str, corpus: Path, name: str, extra) -> dict:
    started = time.perf_counter()
    hub("pretrain", model, "--objective", "mlm", "--data", corpus, "--out", work / name, "--max-length", LENGTH,
        "-q", *extra)
    metrics = json.loads((work / name / "hub.json").read_text())["metrics"]
    keys = ("perplexity_before", "perplexity_after_head_fit", "perplexity", "tokens_seen", "tokens_per_second",
            "masked_accuracy")
    result = {"seconds": round(time.perf_counter() - started, 1), **{k: metrics.get(k) for k in keys}}
    progress(f"pretrain {name}", result)
    return result


def transfer(work: Path, starts: dict, pool: dict, test_csv: Path, per_class: int, seeds: int) -> dict:
    scores = {name: [] for name in starts}
    for seed in range(seeds):
        rng = random.Random(1000 + seed)
        rows = [(t, c) for c in CATEGORIES for t in rng.sample(pool[c], per_class)]
        train_csv = write_csv(work / f"train_{per_class}_{seed}.csv", rows)
        for name, start in starts.items():
            out = work / f"ft_{name}_{per_class}_{seed}"
            hub("finetune", start, "--task", "classification", "--data", train_csv, "--out", out, "--overwrite",
                "--seed", seed, *FINETUNE)
            scores[name].append(accuracy(out, test_csv))
            progress(f"{name} {per_class}/class seed {seed}", scores[name][-1])
    summary = {name: {"mean": round(statistics.mean(v), 4), "sd": round(statistics.stdev(v), 4) if len(v) > 1 else 0.0,
                      "runs": [round(x, 4) for x in v]} for name, v in scores.items()}
    summary["paired"] = {f"{a} - {b}": paired(scores[a], scores[b]) for a, b in PAIRS if a in scores and b in scores}
    return summary


PAIRS = (("mlm", "scratch"), ("minilm+cpt", "minilm"))


def paired(a: list, b: list) -> dict:
    """The per-seed differences a - b (same labelled sample and seed): mean, spread, and the
    spread of the two arms, for the goals' "beyond the spread"."""
    diffs = [x - y for x, y in zip(a, b)]
    return {"mean": round(statistics.mean(diffs), 4), "sd": round(statistics.stdev(diffs), 4) if len(diffs) > 1 else 0.0,
            "min": round(min(diffs), 4), "runs": [round(d, 4) for d in diffs]}


# ----------------------------------------------------------------------------- throughput
def packed_sequences(run: Path, corpus: Path):
    """The corpus packed exactly as hub packs it, with the WordPiece that hub trained in ``run``."""
    from hub_core.model.contracts import Example
    from hub_nlp.preprocess import TextPreprocessor

    preprocessor = TextPreprocessor.load(run / "preprocessor", {"max_length": LENGTH})
    texts = [line.strip() for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    return preprocessor, [preprocessor(e.input)["input_ids"] for e in preprocessor.pack([Example(t) for t in texts], LENGTH)]


def transformers_mlm(preprocessor, sequences, steps: int, batch: int) -> float:
    """tokens/s of BertForMaskedLM under a plain Trainer on the same sequences."""
    from transformers import (BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, PreTrainedTokenizerFast,
                              Trainer, TrainerCallback, TrainingArguments)

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=preprocessor.tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    config = BertConfig(vocab_size=preprocessor.vocab_size, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1024, max_position_embeddings=512)
    model = BertForMaskedLM(config)
    data = [{"input_ids": list(map(int, s))} for s in sequences]

    class Clock(TrainerCallback):
        def __init__(self):
            self.times = []

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter())

    clock = Clock()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, max_steps=steps, learning_rate=5e-4,
                                 warmup_steps=max(1, steps // 16), weight_decay=0.01, logging_strategy="no",
                                 save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0,
                                 dataloader_drop_last=True)
        Trainer(model=model, args=args, train_dataset=data, callbacks=[clock],
                data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)).train()
    tokens = batch * LENGTH * (len(clock.times) - 1)  # full packed sequences: every token is real
    return tokens / (clock.times[-1] - clock.times[0])


def hub_mlm(work: Path, corpus: Path, steps: int, batch: int, round_: int) -> float:
    """tokens/s of hub pretrain (its own clock: between consecutive training batches)."""
    out = work / f"speed_{round_}"
    hub("pretrain", "nlp/bert-mini", "--objective", "mlm", "--data", corpus, "--out", out, "--overwrite",
        "--max-length", LENGTH, "--batch-size", batch, "--max-steps", steps, "--epochs", "1", "--val-split", "0.05",
        "--lr", "5e-4", "-p", "vocab_size=4000", "-q")  # (the report is in the held-out evaluation; not timed)
    return json.loads((out / "hub.json").read_text())["metrics"]["tokens_per_second"]


def throughput(work: Path, corpus: Path, steps: int, rounds: int, batch: int = 32) -> dict:
    ours, theirs, loads = [], [], []
    for round_ in range(rounds):  # alternate, and swap who goes first, so a change in the machine's load hits both
        first_hub = round_ % 2 == 0
        if first_hub:
            ours.append(hub_mlm(work, corpus, steps, batch, round_))
        preprocessor, sequences = packed_sequences(work / "speed_0", corpus)
        theirs.append(transformers_mlm(preprocessor, sequences, steps, batch))
        if not first_hub:
            ours.append(hub_mlm(work, corpus, steps, batch, round_))
        loads.append(round(os.getloadavg()[0], 2))
        progress("throughput round", {"hub": ours[-1], "transformers": theirs[-1], "load": loads[-1]})
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {"steps": steps, "batch": batch, "length": LENGTH, "hub_tokens_per_s": [round(x) for x in ours],
            "transformers_tokens_per_s": [round(x) for x in theirs], "load_per_round": loads,
            "ratio": round(statistics.median(ratios), 2), "ratio_per_round": [round(r, 2) for r in ratios],
            "ratio_of_medians": round(statistics.median(ours) / statistics.median(theirs), 2)}


def progress(what: str, value) -> None:
    """Each figure as soon as it is measured (stderr), so a long run that fails late loses none."""
    print(f"{what}: {json.dumps(value)}", file=sys.stderr, flush=True)


def cpu_flags() -> list[str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return sorted({flag for flag in FLAGS if f" {flag}" in text})


def main(argv=None) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 50], help="labels per class")
    parser.add_argument("--mini-epochs", type=int, default=6, help="epochs of MLM for bert-mini from scratch")
    parser.add_argument("--cpt-steps", type=int, default=60, help="optimizer steps of continued MLM for MiniLM")
    parser.add_argument("--speed-steps", type=int, default=20, help="steps of each throughput run")
    parser.add_argument("--speed-rounds", type=int, default=4, help="alternating rounds of the throughput runs")
    parser.add_argument("--only-throughput", action="store_true", help="skip pre-training and transfer")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the comparison with transformers")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    started, load = time.perf_counter(), [os.getloadavg()[0]]
    pool, test = split()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus.txt"
        corpus.write_text("\n".join(t for texts in pool.values() for t in texts) + "\n", encoding="utf-8")
        test_csv = write_csv(work / "test.csv", test)
        pre, results = {}, {}
        if not args.only_throughput:
            pre, results = transfer_part(work, corpus, pool, test_csv, args)
        load.append(os.getloadavg()[0])
        speed = None if args.skip_throughput else throughput(work, corpus, args.speed_steps, args.speed_rounds)
        load.append(os.getloadavg()[0])
    report = {
        "data": {"categories": list(CATEGORIES), "corpus_texts": sum(map(len, pool.values())),
                 "test_per_class": TEST_PER_CLASS, "length": LENGTH},
        "finetune_flags": " ".join(FINETUNE), "seeds": args.seeds, "pretraining": pre, "accuracy": results,
        "mlm_throughput": speed, "cpu_flags": cpu_flags(), "torch_threads": __import__("torch").get_num_threads(),
        "load_average_1min": [round(x, 2) for x in load], "seconds": round(time.perf_counter() - started),
    }
    text = json.dumps({**report, "machine": machine.report()}, indent=2)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print(text)


def transfer_part(work: Path, corpus: Path, pool: dict, test_csv: Path, args):
    """Pre-train the two starting points once, then fine-tune all four per label count and seed."""
    pre = {"mlm": pretrain(work, "nlp/bert-mini", corpus, "mlm",
                           ("--epochs", args.mini_epochs, "-p", "vocab_size=4000", "--batch-size", "32")),
           "minilm+cpt": pretrain(work, "nlp/minilm-l6", corpus, "cpt",
                                  ("--epochs", "1", "--max-steps", args.cpt_steps, "--batch-size", "32"))}
    starts = {"scratch": "nlp/bert-mini", "mlm": work / "mlm", "minilm": "nlp/minilm-l6", "minilm+cpt": work / "cpt"}
    results = {f"{n}_per_class": transfer(work, starts, pool, test_csv, n, args.seeds) for n in args.labels}
    return pre, results


if __name__ == "__main__":
    main()
