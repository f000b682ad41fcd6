"""Fine-tuning on a GPU: the hub's loop against a bare loop, bf16, samples/s and utilisation. JSON.

    .venv/bin/python benchmarks/gpu.py [--steps 60]

For a timm ResNet-50 (224 px, batch 64) and a BERT-base encoder (128 tokens, batch 32), both
built from configs on generated data: ``hub finetune``'s loop (hub_core.train.loop.run,
--precision bf16) and a bare AdamW loop under bf16 autocast on the same model and tensors,
each timed over the same optimizer steps after warm-up (a 1-epoch run subtracted from a
2-epoch one, so set-up cancels); GPU utilisation sampled by NVML during each. Without a
CUDA device it says so and exits 0: this is never needed for CI.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Utilisation:
    """Mean GPU utilisation (%) sampled by NVML every 0.1 s while active; None without NVML."""

    def __enter__(self):
        self.samples, self.stop = [], threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.read = lambda: pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
        except Exception:  # noqa: BLE001 - no NVML bindings or driver: report None
            self.read = None
        if self.read:
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.1):
            self.samples.append(self.read())

    def __exit__(self, *exc):
        self.stop.set()
        self.mean = round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def write_images(folder: Path, n: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(n // 2):
            Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(folder / label / f"{i}.png")
    return folder


def write_text(path: Path, n: int) -> Path:
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    rows = [f'"{" ".join(rng.choice(words) for _ in range(120))}",{"ab"[i % 2]}' for i in range(n)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


CASES = {  # name: (preset, data writer, batch, TrainConfig options); random init, built from configs
    "resnet50": ("vision/resnet18", write_images, 64, {"backbone_options": {"model_name": "resnet50"}}),
    "bert_base": ("nlp/hf", write_text, 32, {"backbone_options": {"model_type": "bert", "hidden_size": 768,
                                                                  "num_hidden_layers": 12, "num_attention_heads": 12,
                                                                  "intermediate_size": 3072},
                                             "preprocess": {"max_length": 128}}),
}


def hub_seconds(catalogue, name: str, data: Path, out: Path, epochs: int) -> float:
    from hub_core.model.contracts import ReadOptions
    from hub_core.train.config import TrainConfig
    from hub_core.train.loop import Job, run

    model, _, batch, options = CASES[name]
    config = TrainConfig(epochs=epochs, batch_size=batch, precision="bf16", val_split=0.0, group_by_length=False,
                         device="cuda", **options)
    started = time.perf_counter()
    run(catalogue, Job(model=model, task="classification", data=str(data), out=str(out), quiet=True, overwrite=True,
                       read=ReadOptions()), config)
    return time.perf_counter() - started


def bare_seconds(catalogue, name: str, data: Path, out: Path, steps: int) -> float:
    """The hub's built model (from the 1-epoch run's directory) trained by a bare bf16 loop."""
    import torch

    from hub_core.model.build import load_model
    from hub_core.model.contracts import ReadOptions
    from hub_core.data.sets import ExampleSet, read_examples, to_tensors

    model = load_model(catalogue, out).cuda().train()
    examples = read_examples(catalogue.modality(model.manifest["modality"]), data, ReadOptions())
    batch = CASES[name][2]
    arrays, targets = ExampleSet(examples[:batch], model.preprocessor, model.task, train=False).collate(list(range(batch)))
    inputs, targets = to_tensors(arrays, "cuda"), torch.from_numpy(targets).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for i in range(steps + 5):
        if i == 5:
            torch.cuda.synchronize()
            started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(model(**inputs).float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return time.perf_counter() - started


def case(catalogue, name: str, tmp: Path, steps: int) -> dict:
    batch = CASES[name][2]
    data = CASES[name][1](tmp / name / "data" if name == "resnet50" else tmp / f"{name}.csv", steps * batch)
    hub_seconds(catalogue, name, data, tmp / name / "warm", 1)
    with Utilisation() as hub_gpu:
        one = hub_seconds(catalogue, name, data, tmp / name / "one", 1)
        two = hub_seconds(catalogue, name, data, tmp / name / "two", 2)
    with Utilisation() as bare_gpu:
        bare = bare_seconds(catalogue, name, data, tmp / name / "one", steps)
    hub_sps, bare_sps = steps * batch / (two - one), steps * batch / bare
    return {"model": CASES[name][0], "batch": batch, "precision": "bf16", "steps": steps,
            "hub_samples_per_s": round(hub_sps, 1), "bare_samples_per_s": round(bare_sps, 1),
            "ratio": round(hub_sps / bare_sps, 3), "gpu_utilisation_pct": {"hub": hub_gpu.mean, "bare": bare_gpu.mean}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per timed epoch [60]")
    parser.add_argument("--only", default=",".join(CASES))
    args = parser.parse_args()
    import torch

    from benchmarks.machine import Machine

    machine = Machine.now()
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device: benchmarks/gpu.py measures only on a GPU",
                          "machine": machine.report(torch.get_num_threads())}, indent=2))
        return
    from hub_core.plugin.manager import load_hub

    catalogue = load_hub().catalogue
    with tempfile.TemporaryDirectory() as name:
        results = {n: case(catalogue, n, Path(name), args.steps) for n in args.only.split(",")}
    print(json.dumps({"gpu": torch.cuda.get_device_name(0), "results": results,
                      "machine": machine.report(torch.get_num_threads())}, indent=2))


if __name__ == "__main__":
    main()
