"""One engine abstraction: preprocessed arrays in, the head's raw output out.

    engine.head_output(arrays) -> np.ndarray    what Task.metrics and Task.answers read

``TorchEngine`` runs a HubModel (eager, fp32); ``OnnxEngine`` runs an exported graph with
onnxruntime (``hub_core.deploy.runtime``: no torch). Both carry the model directory's
manifest, preprocessor and task, so ``evaluate`` (hub evaluate --onnx, hub bench),
``predict`` (hub predict, the demo) and the benchmarks are one loop over either engine.

This module imports no torch at import time: the ONNX path stays torch-free.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hub_core.deploy.inputs import gather_inputs, stored_read_options
from hub_core.deploy.runtime import ONNX_FILE, OnnxGraph, OnnxModel, locate_onnx


class TorchEngine:
    """A HubModel in eval mode, fed numpy arrays."""

    name = "torch eager fp32"

    def __init__(self, model, device="cpu"):
        self.model = model.eval().to(device)
        self.device = device
        self.manifest, self.preprocessor, self.task = model.manifest, model.preprocessor, model.task

    def head_output(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        from hub_core.train.data import to_tensors

        with torch.inference_mode():
            return self.model(**to_tensors(arrays, self.device)).float().cpu().numpy()


class OnnxEngine(OnnxModel):
    """An exported graph (fp32 or int8) with its model directory's preprocessor and task."""

    def __init__(self, catalogue, path: str | os.PathLike, threads: int | None = None, name: str = "onnxruntime"):
        super().__init__(catalogue, path, threads)
        self.name = name


class GraphEngine(OnnxGraph):
    """A bare graph beside a torch model (bench, export's comparison): head_output only."""

    def __init__(self, name: str, path: Path, threads: int | None = None):
        super().__init__(path, threads)
        self.name = name


def open_engine(catalogue, path: str | os.PathLike, *, onnx: bool = False, file_name: str = ONNX_FILE,
                threads: int | None = None):
    """The engine for a model directory: torch (on the default device), or with ``onnx`` its
    exported ``file_name`` (or the .onnx file ``path`` names) through onnxruntime."""
    if onnx:
        return OnnxEngine(catalogue, locate_onnx(path, file_name)[0], threads, name=f"onnxruntime {file_name}")
    from hub_core.model.build import load_model
    from hub_core.model.directory import device_for

    return TorchEngine(load_model(catalogue, path), device_for(None))


def batches_of(data, batch_size: int, workers: int = 0):
    """(arrays, targets) numpy batches of an ExampleSet in order, from ``workers`` processes."""
    from hub_core.train.data import plan_batches
    from hub_core.train.loader import Loader

    loader = Loader(data, workers, tensors=False)
    try:
        yield from loader(plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0), 0)
    finally:
        loader.close()


def evaluate(engine, data, batch_size: int = 64, task=None, workers: int = 0) -> dict:
    """The task's metrics (``task``, or the engine's own) over a labelled ExampleSet from this
    engine's head outputs; no loss: that is torch's training objective, which the training
    loop's evaluation reports."""
    from hub_core.train.outputs import OutputBatches

    batches = OutputBatches()
    for arrays, targets in batches_of(data, batch_size, workers):
        batches.add(np.asarray(engine.head_output(arrays), dtype=np.float32), targets)
    return (task or engine.task).metrics(batches.pairs())


def predict(catalogue, engine, inputs, read, top_k: int = 1, batch_size: int = 32, workers: int = 0):
    """(examples, answers) for raw inputs (texts, files, a table), read as training read them."""
    from hub_core.train.data import ExampleSet

    read = stored_read_options(engine.manifest, read, bool(read.input_columns))
    examples = gather_inputs(catalogue.modality(engine.manifest["modality"]), tuple(inputs), read)
    data = ExampleSet(examples, engine.preprocessor, engine.task, train=False, labelled=False)
    answers = []
    for arrays, _ in batches_of(data, batch_size, workers):
        answers.extend(engine.task.answers(np.asarray(engine.head_output(arrays)), top_k=top_k, arrays=arrays))
    return examples, answers
