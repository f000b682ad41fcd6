"""Evaluate and predict with a saved model directory on the torch path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hub_core.model.contracts import ReadOptions
from hub_core.train.data import ExampleSet, plan_batches, read_examples, to_tensors
from hub_core.model.directory import device_for, load_model
from hub_core.deploy.inputs import gather_inputs, stored_read_options  # noqa: F401 - re-exported


def evaluate_dir(catalogue, directory: Path, data: str, read: ReadOptions, batch_size: int,
                 explicit_columns: bool = False) -> dict:
    from hub_core.train.loop import evaluate

    model = load_model(catalogue, directory)
    read = stored_read_options(model.manifest, read, explicit_columns)
    modality = catalogue.modality(model.manifest["modality"])
    examples = read_examples(modality, data, read)
    device = device_for(None)
    model.to(device)
    return evaluate(model, ExampleSet(examples, model.preprocessor, model.task, train=False), batch_size, device)


def predict_torch(catalogue, directory: Path, inputs, read: ReadOptions, top_k: int = 1, batch_size: int = 32):
    model = load_model(catalogue, directory)
    read = stored_read_options(model.manifest, read, bool(read.input_columns))
    modality = catalogue.modality(model.manifest["modality"])
    examples = gather_inputs(modality, tuple(inputs), read)
    data = ExampleSet(examples, model.preprocessor, model.task, train=False, labelled=False)
    device = device_for(None)
    model.to(device)
    answers = []
    with torch.no_grad():
        for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
            arrays, _ = data.collate(indices)
            output = model(**to_tensors(arrays, device)).float().cpu().numpy()
            answers.extend(model.task.answers(np.asarray(output), top_k=top_k, arrays=arrays))
    return examples, answers
