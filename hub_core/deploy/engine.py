"""One engine abstraction: preprocessed arrays in, the task's named outputs out.

    engine.run(arrays) -> {output name: np.ndarray}    what the task's metrics and decode read

``TorchEngine`` runs a HubModel (eager, fp32); ``open_engine(..., onnx=True)`` opens what was
exported, run by onnxruntime (``hub_core.deploy.runtime``: no torch): one graph
(``OnnxModel``), or several driven by the task's program (``ProgramModel``). All carry the model directory's
manifest, preprocessor and task, so ``evaluate`` (hub evaluate --onnx, hub bench),
``predict`` (hub predict, the demo) and the benchmarks are one loop over either engine.

This module imports no torch at import time: the ONNX path stays torch-free.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hub_core.deploy.inputs import gather_inputs, stored_read_options
from hub_core.deploy.runtime import ONNX_FILE, OnnxGraph, open_exported
from hub_core.model.contracts import decoded
from hub_core.model.program import program_of


class TorchEngine:
    """A HubModel in eval mode, fed numpy arrays; a multi-graph model runs its program over
    its torch modules (the very loop the ONNX graphs run in)."""

    name = "torch eager fp32"

    def __init__(self, model, device="cpu"):
        self.model = model.eval().to(device)
        self.device = device
        self.manifest, self.preprocessor, self.task = model.manifest, model.preprocessor, model.task
        self.program = program_of(self.task)
        self.graphs = self.program.on_torch(self.model, device) if self.program is not None else None

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        from hub_core.data.sets import to_tensors

        if self.program is not None:
            return self.program.run(self.graphs, arrays)
        with torch.inference_mode():
            outputs = self.model(**to_tensors(arrays, self.device))
            return {k: (v.float() if v.is_floating_point() else v).cpu().numpy() for k, v in outputs.items()}




class GraphEngine(OnnxGraph):
    """A bare graph beside a torch model (bench, export's comparison): ``run`` only."""

    def __init__(self, name: str, path: Path, threads: int | None = None):
        super().__init__(path, threads)
        self.name = name


def open_engine(catalogue, path: str | os.PathLike, *, onnx: bool = False, file_name: str = ONNX_FILE,
                threads: int | None = None):
    """The engine for a model directory: torch (on the default device), or with ``onnx`` its
    exported ``file_name`` (or the .onnx file ``path`` names; a multi-graph export: its
    program over every graph) through onnxruntime."""
    if onnx:
        engine = open_exported(catalogue, path, threads, file_name)
        engine.name = f"onnxruntime {file_name}"
        return engine
    from hub_core.model.build import load_model
    from hub_core.model.directory import device_for

    return TorchEngine(load_model(catalogue, path), device_for(None))


def batches_of(data, batch_size: int, workers: int = 0):
    """The numpy Batches of an ExampleSet in order, from ``workers`` processes."""
    from hub_core.data.sets import plan_batches
    from hub_core.data.loader import Loader

    loader = Loader(data, workers, tensors=False)
    plan = plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0)
    try:
        for indices, (arrays, targets) in zip(plan, loader(plan, 0)):
            yield data.batch(arrays, targets, indices)
    finally:
        loader.close()


def evaluate(engine, data, batch_size: int = 64, task=None, workers: int = 0) -> dict:
    """The task's metrics (``task``, or the engine's own) over a labelled ExampleSet from this
    engine's named outputs; no loss: that is torch's training objective, which the training
    loop's evaluation reports."""
    from hub_core.model.metrics import compute_all

    metrics = (task or engine.task).metrics()
    for batch in batches_of(data, batch_size, workers):
        outputs = engine.run(batch.inputs)
        for metric in metrics:
            metric.update(outputs, batch)
    return compute_all(metrics)


def predict(catalogue, engine, inputs, read, top_k: int = 1, batch_size: int = 32, workers: int = 0):
    """(examples, answers) for raw inputs (texts, files, a table), read as training read them."""
    from hub_core.data.sets import ExampleSet

    read = stored_read_options(engine.manifest, read, bool(read.input_columns))
    examples = gather_inputs(catalogue.modality(engine.manifest["modality"]), tuple(inputs), read)
    data = ExampleSet(examples, engine.preprocessor, engine.task, train=False, labelled=False)
    data.with_examples = True  # a decoder may cut its answer from the raw input
    answers = []
    for batch in batches_of(data, batch_size, workers):
        answers.extend(decoded(engine.task, engine.run(batch.inputs), batch, top_k))
    return examples, gathered(engine.task, answers, data.owners, len(examples))


def gathered(task, answers: list, owners, count: int) -> list:
    """One answer per example: the answers of its parts (rows, in order) joined by ``task.gather``
    when the preprocessor cut inputs into parts; the rows' answers as they are otherwise."""
    if owners is None:
        return answers
    parts = [[] for _ in range(count)]
    for owner, answer in zip(owners, answers):
        parts[owner].append(answer)
    return [task.gather(p) for p in parts]
