"""``hub evaluate`` and ``hub predict`` on a model directory, through an engine
(``hub_core.deploy.engine``): torch, or with ``onnx`` the exported graph and no torch."""
from __future__ import annotations

from pathlib import Path

from hub_core.deploy.engine import evaluate, open_engine, predict
from hub_core.deploy.inputs import gather_inputs, stored_read_options  # noqa: F401 - re-exported
from hub_core.deploy.runtime import ONNX_FILE
from hub_core.model.contracts import ReadOptions, Task


def evaluate_dir(catalogue, directory: Path, data: str, read: ReadOptions, batch_size: int,
                 explicit_columns: bool = False, onnx: bool = False, file_name: str = ONNX_FILE,
                 workers: int | None = None) -> dict:
    """The task's metrics on ``data``: on torch with the loss too (the training loop's own
    evaluation), or with ``onnx`` from the exported ``file_name`` (fp32 or int8). The data
    is preprocessed once into the disk cache (by ``workers`` processes; default: the
    machine's share on torch, none with ``onnx``, which stays torch-free) and mapped from it."""
    from hub_core.data.sets import ExampleSet, read_examples
    from hub_core.data.loader import feed_workers, resolve_workers

    asked = workers  # the feed after the cache build takes workers only when they pay (feed_workers)
    engine = open_engine(catalogue, directory, onnx=onnx, file_name=file_name)
    read = stored_read_options(engine.manifest, read, explicit_columns)
    examples = read_examples(catalogue.modality(engine.manifest["modality"]), data, read)
    workers = (workers or 0) if onnx else resolve_workers(workers)
    labelled = ExampleSet(examples, engine.preprocessor, engine.task, train=False,
                          skip_bad=read.skip_bad).cached(workers)
    del examples
    if engine.task.evaluate_model is None:  # a task's own evaluation reads the raw examples
        labelled.forget_inputs()
    if not onnx:
        from hub_core.data.passes import ExampleFeed, evaluate as evaluate_torch

        feed = ExampleFeed(labelled, feed_workers(labelled, asked)[0], engine.device)
        try:
            return evaluate_torch(engine.model, feed, batch_size, engine.device)
        finally:
            feed.close()
    if engine.task.evaluate_model is not None or type(engine.task).prepare is not Task.prepare:
        from hub_core.common.errors import UsageError

        raise UsageError(f"task {engine.manifest['task']['name']!r} evaluates through torch (its own evaluation or "
                         f"input preparation); evaluate it without --onnx")
    return {"file": str(engine.path), **evaluate(engine, labelled, batch_size, workers=workers)}


def predict_dir(catalogue, directory: Path, inputs, read: ReadOptions, top_k: int = 1, batch_size: int = 32,
                onnx: bool = False, workers: int | None = None):
    """(examples, answers) for raw inputs, on torch or (``onnx``) on the exported graph;
    preprocessed on access by ``workers`` processes (default as for ``evaluate_dir``)."""
    from hub_core.data.loader import resolve_workers

    workers = (workers or 0) if onnx else resolve_workers(workers)
    return predict(catalogue, open_engine(catalogue, directory, onnx=onnx), inputs, read, top_k, batch_size,
                   workers=workers)
