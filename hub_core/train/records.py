"""What a training run leaves behind for people: progress, metrics.jsonl, TensorBoard
events, curves.png, confusion.png and the README.md model card."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from hub_core.common import atomic
from hub_core.data.splits import MIN_DECISIVE
from hub_core.model.metrics import BOOTSTRAP_ROUNDS, scalars  # noqa: F401 - records use it, and so do callers

LOG_EVERY = 10  # steps between metrics.jsonl / TensorBoard step records
PROGRESS_EVERY_S = 10.0  # without a terminal (a log, a pipe, CI): one progress line this often


def say(message: str) -> None:
    sys.stderr.write(message + "\n")


class Progress:
    """A tqdm bar on a terminal; elsewhere a line (steps, rate, ETA, loss) every PROGRESS_EVERY_S,
    so a long epoch in a log or under `hub demo` is never silent; nothing when quiet."""

    def __init__(self, total: int, description: str, enabled: bool, lines: bool = False):
        import time

        self.bar, self.lines, self.total, self.description = None, lines and not enabled, total, description
        self.done, self.loss, self.clock = 0, None, time.monotonic
        self.started = self.last = self.clock()
        if enabled:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: the DataLoader workers fork from this process
            self.bar = tqdm(total=total, desc=description, unit="batch", leave=False, dynamic_ncols=True)

    def update(self, n: int, loss: float | None = None) -> None:
        self.done += n
        self.loss = loss if loss is not None else self.loss
        if self.bar is not None:
            self.bar.update(n)
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        elif self.lines and self.clock() - self.last >= PROGRESS_EVERY_S:
            self.last = self.clock()
            say(self.line())

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else float("inf")
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        return (f"{self.description}: batch {self.done}/{self.total} ({100 * self.done / max(self.total, 1):.0f}%), "
                f"{rate:.1f} batch/s, ETA {eta:.0f} s{loss}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Records:
    def __init__(self, out: Path, quiet: bool = False):
        from torch.utils.tensorboard import SummaryWriter

        self.out, self.quiet = out, quiet
        self.tb = SummaryWriter(str(out / "tb"))
        self.jsonl = open(out / "metrics.jsonl", "a", encoding="utf-8")
        self.interactive = sys.stderr.isatty() and not quiet
        self.loss_sum, self.loss_batches = 0.0, 0  # this epoch's, for the epoch line
        self.last_step = -1  # the last step record written

    def progress(self, total: int, description: str) -> Progress:
        return Progress(total, description, self.interactive, lines=not self.quiet)

    def _writing_jsonl(self):
        """A failed write to metrics.jsonl (a full disk) as one line that says the run is resumable."""
        return atomic.writing(str(self.out / "metrics.jsonl"), "; the last checkpoint is intact: free some space and "
                              "continue with --resume")

    def _write(self, record: dict) -> None:
        with self._writing_jsonl():
            self.jsonl.write(json.dumps(record) + "\n")  # buffered: on disk at each epoch and checkpoint

    def flush(self) -> None:
        """What is buffered, on disk: with each checkpoint, so that the records a resumed run
        appends to end where its checkpoint does (TensorBoard's writer flushes by itself)."""
        with self._writing_jsonl():
            self.jsonl.flush()

    def step(self, step: int, loss: float, lr: float, samples_per_s: float, batches: int = 1) -> None:
        """``loss``: the mean of the ``batches`` batches since the last call (the loop reads the
        loss off the device every LOG_EVERY steps, not every step); a record every LOG_EVERY steps."""
        self.loss_sum += loss * batches
        self.loss_batches += batches
        if step % LOG_EVERY or step == self.last_step:
            return
        self.last_step = step
        self.tb.add_scalar("train/loss", loss, step)
        self.tb.add_scalar("train/lr", lr, step)
        self._write({"step": step, "loss": loss, "lr": lr, "samples_per_s": samples_per_s})

    def epoch(self, epoch: int, metrics: dict) -> None:
        values = scalars(metrics)
        for key, value in values.items():
            self.tb.add_scalar(f"val/{key}", value, epoch)
        train_loss = self.loss_sum / self.loss_batches if self.loss_batches else None
        self.loss_sum, self.loss_batches = 0.0, 0
        self._write({"epoch": epoch, **({"train_loss": train_loss} if train_loss is not None else {}),
                     **{f"val_{k}": v for k, v in values.items()}})
        if not self.quiet:
            shown = ", ".join([f"train_loss {train_loss:.4f}"] * (train_loss is not None)
                              + [f"val_{k} {v:.4f}" if isinstance(v, float) else f"val_{k} {v}"
                                 for k, v in values.items()])
            say(f"epoch {epoch}: {shown}" + ("" if values else " (no validation data)"))

    def finish(self, model, metrics: dict, history: list[dict]) -> None:
        self.tb.close()
        self.jsonl.close()
        plot_curves(self.out)
        if "confusion_matrix" in metrics:
            plot_confusion(self.out / "confusion.png", metrics["confusion_matrix"], getattr(model.task, "labels", []))
        write_model_card(self.out, model.manifest)


def stored_metrics(out: Path, metrics: dict, task) -> dict:
    """The metrics as hub.json holds them: each array (a many-class task's per-class rows,
    its confusion counts) written compactly as ``NAME.npy`` beside hub.json (no pickle) and
    named there by file, shape and columns, so hub.json stays small whatever the class count."""
    import numpy as np

    stored = {}
    for key, value in metrics.items():
        if not isinstance(value, np.ndarray):
            stored[key] = value
            continue
        with atomic.replacing(out / f"{key}.npy", suffix=".npy") as tmp:
            np.save(tmp, value, allow_pickle=False)
        stored[key] = {"file": f"{key}.npy", "shape": list(value.shape), "dtype": str(value.dtype),
                       "columns": list(getattr(task, "arrays", {}).get(key, ()))}
    return stored


def plot_curves(out: Path) -> None:
    # a Figure of its own, not pyplot: no backend or figure manager to start (0.2 s of a short run)
    from matplotlib.figure import Figure

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in rows if "step" in r]
    epochs = [r for r in rows if "epoch" in r]
    fig = Figure(figsize=(10, 3.5))
    axes = fig.subplots(1, 2)
    if steps:  # a legend of nothing is a UserWarning on the user's terminal
        axes[0].plot([r["step"] for r in steps], [r["loss"] for r in steps], label="train loss")
        axes[0].legend()
    if epochs and "val_loss" in epochs[0]:
        axes[0].set_title("loss")
    axes[0].set_xlabel("step")
    keys = plotted_keys(epochs)
    for key in keys:
        axes[1].plot([r["epoch"] for r in epochs], [r.get(key) for r in epochs], marker="o", label=key[4:])
    axes[1].set_xlabel("epoch")
    axes[1].set_title("validation")
    if keys:
        axes[1].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=90)


def plotted_keys(epochs: list[dict]) -> list[str]:
    """The validation metrics worth a curve: real numbers, not counts (a recommender's
    ``users`` and ``held_out``, ~300, would flatten every metric in 0..1 to a line at 0)."""
    first = epochs[0] if epochs else {}
    return [k for k in first if k.startswith("val_") and all(isinstance(r.get(k), float) for r in epochs)]


def plot_confusion(path: Path, matrix, labels) -> None:
    from matplotlib.figure import Figure

    size = max(4, min(12, 0.5 * len(labels) + 2))
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def started_from(catalogue, model: str, weights: str | None, backbone=None) -> dict:
    """What a run began with, for hub.json's ``source``: the preset's own name (``nlp/minilm-l6``,
    not only its backbone ``nlp/hf``), a backbone, or a model directory (transfer); and where
    the weights came from (--weights, the preset's, or where the factory found the weights its
    config asked for: ``Backbone.weights_from``), None for random init."""
    from hub_core.model.manifest import is_model_dir

    if is_model_dir(model):
        return {"kind": "model directory", "name": str(Path(model).resolve()), "weights": weights}
    spec, _, preset_weights, preset = catalogue.resolve_model(model)
    return {"kind": "preset" if preset else "backbone", "name": model, "backbone": spec.name,
            "weights": getattr(backbone, "weights_from", None) or weights or preset_weights}


def random_init(source: dict) -> bool:
    """A new backbone that loaded no weights (a composite's parts say their own; a model
    directory carries its weights)."""
    return source["kind"] in ("preset", "backbone") and not source.get("weights") and source.get("backbone") != "fusion"


MAIN_SETTINGS = ("epochs", "batch_size", "lr", "head_lr", "schedule", "warmup", "weight_decay", "freeze", "lora",
                 "patience", "class_weight", "seed", "precision", "preprocess")


def training_lines(manifest: dict) -> list[str]:
    """The model card's account of where the model began and how it was trained."""
    source, training = manifest.get("source") or {}, manifest.get("training") or {}
    lines = []
    if source:
        lines.append(f"- started from {source['kind']} `{source['name']}`"
                     + (f" (backbone `{source['backbone']}`)" if source.get("backbone") not in (None, source["name"]) else "")
                     + (f", weights `{source['weights']}`" if source.get("weights") else
                        ", no pretrained weights (random init)" if random_init(source) else ""))
    shown = [f"{k} {training[k]}" if not isinstance(training[k], dict) else
             f"{k} " + ", ".join(f"{a}={b}" for a, b in training[k].items())
             for k in MAIN_SETTINGS if k in training and training[k] not in (None, {}, "none")]
    if shown:
        lines.append("- settings: " + "; ".join(shown))
    cut = manifest.get("interrupted")
    if cut:
        lines.append(f"- **interrupted** after epoch {cut['completed_epochs']} of the {cut['planned_epochs']} planned, and "
                     "made a model directory by `hub finish` (the partial epoch dropped; `--resume` would train the rest)")
    return ["", "## Training", "", *lines] if lines else []


WIDE = 0.1  # an interval wider than this compares no two models that differ by less


def metric_lines(metrics: dict, manifest: dict) -> list[str]:
    """The validation table, with each value's 95 % bootstrap interval where one was computed,
    and what the validation's size allows one to read from it."""
    if not metrics:
        return ["(no validation data)"]
    intervals = (manifest.get("metrics") or {}).get("intervals") or {}
    n_val = (manifest.get("data") or {}).get("val_examples")
    rows = ["| metric | value | 95 % interval |", "|---|---|---|"]
    rows += [f"| {k} | {v:.4f} | {'%.4f-%.4f' % tuple(intervals[k]) if k in intervals else ''} |"
             for k, v in metrics.items()]
    if n_val:
        rows += ["", f"On {n_val} validation examples; intervals: 95 % bootstrap (the examples resampled "
                     f"{BOOTSTRAP_ROUNDS} times)."]
        wide = [k for k, (low, high) in intervals.items() if high - low > WIDE]
        if n_val < MIN_DECISIVE:
            rows.append(f"**Too few to rank epochs or compare models** (fewer than {MIN_DECISIVE}): one example "
                        f"moves an accuracy by {1 / n_val:.3f}; validate on more data (--val) before trusting "
                        "these figures.")
        elif wide:
            rows.append(f"**Wide intervals** ({', '.join(wide)}: over {WIDE:g}): a model that differs from this one "
                        "by less is not shown better or worse by this validation set; validate on more data (--val).")
    return rows


def write_model_card(out: Path, manifest: dict) -> None:
    metrics = scalars(manifest.get("metrics", {}))
    data = manifest.get("data", {})
    task = manifest["task"]
    labels = task["state"].get("labels")
    lines = [
        f"# {out.name}",
        "",
        f"A **{task['name']}** model made with plughub: backbone `{manifest['backbone']['name']}` "
        f"({manifest['modality']}) with a `{manifest['head']['name']}` head.",
        "",
        "## Data",
        f"- trained on `{data.get('train')}` ({data.get('train_examples')} examples), "
        f"validated on {data.get('val') or 'a held-out split'} ({data.get('val_examples')} examples)",
    ]
    if labels:
        lines.append(f"- labels ({len(labels)}): {', '.join(map(str, labels[:30]))}{' …' if len(labels) > 30 else ''}")
    lines += ["", "## Metrics (validation)", ""] + metric_lines(metrics, manifest)
    lines += training_lines(manifest)
    kept = manifest.get("monitor") or {}
    if kept.get("kept_epoch"):
        lines += ["", "## Model selection", "", f"Weights of epoch {kept['kept_epoch']} of {kept.get('epochs_run')} "
                  f"(monitored: validation {kept.get('metric')}, {kept.get('mode')}): {kept.get('reason')}."]
    lines += ["", "## Use", "", "```bash", f"hub evaluate {out} --data DATA", f"hub predict {out} INPUT",
              f"hub export {out}            # ONNX, validated with onnxruntime", "```", "",
              "Training settings are in `hub.json` (`training`); curves in `curves.png`; "
              "TensorBoard events in `tb/`.", ""]
    atomic.write_text(out / "README.md", "\n".join(lines))
