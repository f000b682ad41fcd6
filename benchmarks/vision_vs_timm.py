"""Benchmark: `hub finetune` against a timm training loop on the same images.

Same model (timm's test_resnet at 32 px, random init, a linear classifier), same data (the
example's coloured shapes: 450 training images, 90 fresh ones to test on), same recipe:
AdamW (lr 1e-2, weight decay 0.01), per-step cosine decay, gradient clipping at 1.0,
batch 32, 15 epochs, timm's augmentation (random resized crop of 60-100 % of the area,
horizontal flip, colour jitter 0.2) and timm's eval transform. The timm side is built
from timm's own pieces, as its train.py does: ``create_transform``, torchvision's
ImageFolder and DataLoader, ``create_optimizer_v2``, ``CosineLRScheduler``. Timed: each
whole run (reading, training, evaluating on the fresh images). Prints JSON.

Run: .venv/bin/python benchmarks/vision_vs_timm.py [--epochs 15] [--per-class 150]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

MODEL, SIZE, BATCH, LR, WEIGHT_DECAY, SEED = "test_resnet", 32, 32, 1e-2, 0.01, 0
MIN_SCALE, JITTER = 0.6, 0.2


def make_shapes():
    spec = importlib.util.spec_from_file_location("make_shapes", ROOT / "examples" / "vision" / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_shapes


def run_hub(train: Path, test: Path, out: Path, epochs: int) -> tuple[float, float]:
    from hub_core.train.config import TrainConfig
    from hub_core.model.contracts import ReadOptions
    from hub_core.plugin.manager import load_hub
    from hub_core.train.loop import Job, run

    catalogue = load_hub().catalogue
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=LR, weight_decay=WEIGHT_DECAY, schedule="cosine",
                         clip=1.0, seed=SEED, val_split=0.0,
                         preprocess={"min_scale": MIN_SCALE, "color_jitter": JITTER})
    job = Job(model="vision/tiny", task="classification", data=str(train), val=str(test), out=str(out),
              read=ReadOptions(), overwrite=True, quiet=True)
    started = time.perf_counter()
    metrics = run(catalogue, job, config)
    return time.perf_counter() - started, metrics["accuracy"]


def run_timm(train: Path, test: Path, epochs: int) -> tuple[float, float]:
    import timm
    from timm.data import create_transform, resolve_data_config
    from timm.optim import create_optimizer_v2
    from timm.scheduler import CosineLRScheduler
    from torchvision.datasets import ImageFolder

    started = time.perf_counter()
    torch.manual_seed(SEED)
    model = timm.create_model(MODEL, num_classes=3)
    data_config = resolve_data_config({"input_size": (3, SIZE, SIZE)}, model=model)
    train_set = ImageFolder(str(train), transform=create_transform(
        **data_config, is_training=True, scale=(MIN_SCALE, 1.0), hflip=0.5, color_jitter=JITTER))
    test_set = ImageFolder(str(test), transform=create_transform(**data_config))
    loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH, shuffle=True)
    optimizer = create_optimizer_v2(model, "adamw", lr=LR, weight_decay=WEIGHT_DECAY)
    total = epochs * len(loader)
    scheduler = CosineLRScheduler(optimizer, t_initial=total, lr_min=0.0, t_in_epochs=False)
    step = 0
    for _ in range(epochs):
        model.train()
        for images, labels in loader:
            loss = torch.nn.functional.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            scheduler.step_update(step)
    model.eval()
    right = 0
    with torch.no_grad():
        for images, labels in torch.utils.data.DataLoader(test_set, batch_size=64):
            right += int((model(images).argmax(-1) == labels).sum())
    return time.perf_counter() - started, right / len(test_set)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--per-class", type=int, default=150)
    options = parser.parse_args()
    shapes = make_shapes()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train = shapes(tmp / "train", per_class=options.per_class, size=SIZE, seed=0)
        test = shapes(tmp / "test", per_class=30, size=SIZE, seed=99)
        hub_seconds, hub_accuracy = run_hub(train, test, tmp / "hub", options.epochs)
        timm_seconds, timm_accuracy = run_timm(train, test, options.epochs)
    print(json.dumps({"machine": machine.report(),
        "benchmark": "hub finetune vs a timm training loop (test_resnet, 32 px shapes)",
        "train_images": 3 * options.per_class, "test_images": 90, "epochs": options.epochs, "batch_size": BATCH,
        "torch_threads": torch.get_num_threads(), "load_average": [round(x, 1) for x in os.getloadavg()],
        "hub": {"seconds": round(hub_seconds, 2), "test_accuracy": round(hub_accuracy, 4)},
        "timm": {"seconds": round(timm_seconds, 2), "test_accuracy": round(timm_accuracy, 4)},
        "wall_time_ratio_timm_over_hub": round(timm_seconds / hub_seconds, 3),
    }, indent=2))


if __name__ == "__main__":
    sys.exit(main())
