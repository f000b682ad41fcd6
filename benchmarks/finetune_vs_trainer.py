"""Benchmark (b) of the engine: `hub finetune` against transformers.Trainer on variable-length text.

Same model (a BERT-tiny: 2 layers, 128 wide, a linear layer on the [CLS] state), same
WordPiece tokens (hub's preprocessor tokenizes for both), same data, batch size, epochs,
learning rate, linear decay, weight decay, gradient clipping, length-grouped batches and
dynamic padding, validation after each epoch. Timed: hub's whole run (read, train the
tokenizer, tokenize, train, validate, save the model directory with its plots) against the
Trainer's tokenizing + train() + its per-epoch evaluation; and the training loops' own
speed (samples/s: hub's per-epoch running average, the Trainer's train_samples_per_second,
which also counts its evaluations). Prints JSON.

Run: .venv/bin/python benchmarks/finetune_vs_trainer.py [--train 4000] [--epochs 3] [--repeat 1]
(on a busy machine, --repeat 3 alternates the two and reports each one's fastest run; the
first run also pays one-time imports)
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

MODEL = {"model_type": "bert", "hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 512}
BATCH, LR, WEIGHT_DECAY, SEED = 32, 1e-3, 0.01, 0


def load_generator():
    spec = importlib.util.spec_from_file_location("nlp_generate", ROOT / "examples" / "nlp" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def variable_length_rows(generate, n: int, seed: int) -> list[tuple[str, str]]:
    """Topic sentences with 1-4 words of another topic mixed in (so the task is not trivial)
    and 0-48 extra function words (so lengths vary from about 8 to 70 tokens)."""
    rng = random.Random(seed + 1000)
    rows = []
    for text, label in generate.topic_rows(n, seed=seed):
        other = generate.TOPICS[rng.choice([t for t in sorted(generate.TOPICS) if t != label])].split()
        words = text.split() + [rng.choice(other) for _ in range(rng.randint(1, 4))]
        rng.shuffle(words)
        words += [rng.choice(generate.FUNCTION) for _ in range(rng.randint(0, 48))]
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    return path


def run_hub(train: Path, val: Path, out: Path, epochs: int) -> tuple[float, float, float]:
    from hub_core.train.config import TrainConfig
    from hub_core.model.contracts import ReadOptions
    from hub_core.plugin.manager import load_hub
    from hub_core.train.loop import Job, run

    catalogue = load_hub().catalogue
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, weight_decay=WEIGHT_DECAY, schedule="linear",
                         clip=1.0, group_by_length=True, seed=SEED, val_split=0.0)
    job = Job(model="nlp/bert-tiny", task="classification", data=str(train), val=str(val), out=str(out),
              read=ReadOptions(), overwrite=True, quiet=True)
    started = time.perf_counter()
    metrics = run(catalogue, job, config)
    return time.perf_counter() - started, metrics["accuracy"], loop_speed(out / "metrics.jsonl")


def loop_speed(records: Path) -> float:
    """Training samples/s of hub's loop alone: each epoch's last logged running average."""
    speeds, last = [], None
    for line in records.read_text().splitlines():
        record = json.loads(line)
        if "samples_per_s" in record:
            last = record["samples_per_s"]
        elif "epoch" in record and last is not None:
            speeds.append(last)
    return float(np.mean(speeds)) if speeds else 0.0  # 0: too few steps were logged to tell


class ClsClassifier(torch.nn.Module):
    """What hub trains: a BERT encoder and a linear layer on the [CLS] state."""

    def __init__(self, vocab_size: int, num_labels: int):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.for_model(vocab_size=vocab_size, **MODEL)
        self.encoder = AutoModel.from_config(config, add_pooling_layer=False)
        self.head = torch.nn.Linear(config.hidden_size, num_labels)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        logits = self.head(states[:, 0])
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return {"loss": loss, "logits": logits}


def run_trainer(train_rows, val_rows, tokenizer_dir: Path, out: Path, epochs: int) -> tuple[float, float, float]:
    from transformers import DataCollatorWithPadding, PreTrainedTokenizerFast, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging

    from hub_nlp.preprocess import TextPreprocessor

    logging.set_verbosity_error()
    started = time.perf_counter()
    preprocessor = TextPreprocessor.load(tokenizer_dir, {})
    labels = sorted({label for _, label in train_rows})

    def encode(rows):
        encoded = []
        for text, label in rows:
            arrays = preprocessor(text)
            encoded.append({"input_ids": arrays["input_ids"].tolist(), "attention_mask": arrays["attention_mask"].tolist(),
                            "token_type_ids": arrays["token_type_ids"].tolist(), "labels": labels.index(label)})
        return encoded

    train_set, val_set = encode(train_rows), encode(val_rows)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=preprocessor.tokenizer, pad_token="[PAD]")
    torch.manual_seed(SEED)
    model = ClsClassifier(preprocessor.vocab_size, len(labels))
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
        num_train_epochs=epochs, learning_rate=LR, weight_decay=WEIGHT_DECAY, lr_scheduler_type="linear",
        max_grad_norm=1.0, eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to="none",
        use_cpu=True, disable_tqdm=True, train_sampling_strategy="group_by_length", seed=SEED)

    def accuracy(prediction):
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)
    trainer.remove_callback(PrinterCallback)  # it prints every log dict on stdout, and we print JSON
    speed = trainer.train().metrics["train_samples_per_second"]
    result = trainer.evaluate()
    return time.perf_counter() - started, result["eval_accuracy"], speed


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1,
                        help="Run both this many times, alternating; report the fastest (for a busy machine).")
    options = parser.parse_args()
    generate = load_generator()
    train_rows = variable_length_rows(generate, options.train, seed=11)
    val_rows = variable_length_rows(generate, options.val, seed=12)
    runs = {"hub": [], "trainer": []}  # (seconds, accuracy, samples/s) per repetition
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, val = write_csv(tmp / "train.csv", train_rows), write_csv(tmp / "val.csv", val_rows)
        for _ in range(options.repeat):
            runs["hub"].append(run_hub(train, val, tmp / "hub", options.epochs))
            runs["trainer"].append(run_trainer(train_rows, val_rows, tmp / "hub" / "preprocessor", tmp / "trainer",
                                               options.epochs))
    (hub_seconds, hub_accuracy, _), (trainer_seconds, trainer_accuracy, _) = (min(runs[k]) for k in ("hub", "trainer"))
    hub_speed, trainer_speed = (max(r[2] for r in runs[k]) for k in ("hub", "trainer"))
    lengths = [len(text.split()) for text, _ in train_rows]
    print(json.dumps({"machine": machine.report(),
        "benchmark": "hub finetune vs transformers.Trainer (BERT-tiny, variable-length text)",
        "train_examples": options.train, "val_examples": options.val, "epochs": options.epochs, "batch_size": BATCH,
        "words_per_text": {"min": min(lengths), "mean": round(float(np.mean(lengths)), 1), "max": max(lengths)},
        "torch_threads": torch.get_num_threads(),
        "repeats": options.repeat,
        "hub": {"seconds": round(hub_seconds, 2), "accuracy": round(hub_accuracy, 4),
                "train_samples_per_s": round(hub_speed, 1), "all_seconds": [round(r[0], 1) for r in runs["hub"]]},
        "trainer": {"seconds": round(trainer_seconds, 2), "accuracy": round(trainer_accuracy, 4),
                    "train_samples_per_s": round(trainer_speed, 1),
                    "all_seconds": [round(r[0], 1) for r in runs["trainer"]]},
        "wall_time_ratio_trainer_over_hub": round(trainer_seconds / hub_seconds, 3),
        "loop_speed_ratio_hub_over_trainer": round(hub_speed / trainer_speed, 3) if hub_speed else None,
    }, indent=2))


if __name__ == "__main__":
    sys.exit(main())
