"""A torch model's pass over a data set: the feeds that hand it Batches, and the evaluation
pass that training (each epoch) and ``hub evaluate`` (without --onnx) share.

    ExampleFeed    preprocessed examples through the whole model, from worker processes
    FeatureCache   pooled backbone features computed once (disk-cached), for a head on a frozen backbone
    evaluate       the loss and the task's metric objects over a whole set, in eval mode
"""
from __future__ import annotations

import numpy as np
import torch

from hub_core.data.loader import Loader
from hub_core.data.sets import ExampleSet, plan_batches
from hub_core.model import metrics as task_metrics
from hub_core.model.contracts import Batch
from hub_core.model.directory import HubModel
from hub_core.model.program import program_of


class ExampleFeed:
    """Batches of preprocessed examples, through the whole model: preprocessed by ``workers``
    processes (``hub_core.data.loader``), pinned and copied without blocking on CUDA."""

    def __init__(self, examples: ExampleSet, workers: int = 0, device=None):
        self.examples = examples
        self.cuda = device is not None and torch.device(device).type == "cuda"
        self.loader = Loader(examples, workers, tensors=True, pin=self.cuda)

    def __len__(self):
        return len(self.examples)

    def lengths(self):
        return self.examples.lengths()

    def batches(self, batches, epoch: int, device, start: int = 0):
        """Batches on ``device`` for ``batches[start:]``, in order, with their raw examples
        when the task reads them."""
        plan = batches[start:]
        for indices, (arrays, targets) in zip(plan, self.loader(plan, epoch)):
            inputs = {k: v.to(device, non_blocking=self.cuda) for k, v in arrays.items()}
            yield self.examples.batch(inputs, to_device(targets, device, self.cuda), indices)

    def close(self):
        self.loader.close()

    def forward(self, model, inputs):
        return model(**inputs)


class FeatureCache:
    """Pooled backbone features computed once, for training a head on a frozen backbone:
    the same interface as ExampleFeed, so the loop does not know which it runs. Kept in the
    disk cache too (keyed by the data's entry and the backbone's weights), so a later
    head-only run on the same data skips the backbone: its features are memory-mapped, the
    targets collated once, and a batch is one fancy-index of each (no per-example Python)."""

    examples = None  # a task's own evaluation (evaluate_model) needs the examples: not cached

    def __init__(self, model: HubModel, data: ExampleSet, batch_size: int, device, autocast, workers: int = 0,
                 precision: str = "fp32", weights: str | None = None):
        """``weights``: the backbone's ``cachebuild.weights_digest``; None keeps the features out of the disk cache."""
        from hub_core.common import diskcache
        from hub_core.data.cachebuild import features_key

        key = features_key(data, weights, device, precision) if weights else None
        entry = diskcache.lookup(key) if key else None
        self.reused = entry is not None
        if entry is not None:
            self.features = np.load(entry / "features.npy", mmap_mode="r")  # the page cache's, not the process's
        else:
            self.features = self._compute(model, data, batch_size, device, autocast, workers)
            if key:
                with diskcache.building(key, "features", f"{model.manifest['backbone']['name']} features of "
                                                         f"{len(data)} examples") as folder:
                    np.save(folder / "features.npy", self.features)
        self.task, self.data = data.task, data
        self.targets = all_targets(data)

    @staticmethod
    def stored(data: ExampleSet, weights: str, device, precision: str) -> bool:
        """Whether the disk cache has these features."""
        from hub_core.common import diskcache
        from hub_core.data.cachebuild import features_key

        key = features_key(data, weights, device, precision)
        return key is not None and diskcache.lookup(key) is not None

    @staticmethod
    def _compute(model, data, batch_size, device, autocast, workers):
        """Every example's pooled features, in the set's order, from batches of similar lengths
        (unsorted text batches pad to their longest: 2.6x the work on the fortunes); a set
        already in the disk cache is collated here, without worker processes to start."""
        lengths = data.lengths()
        order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(len(data))
        plan = [order[i:i + batch_size] for i in range(0, len(data), batch_size)]
        features = None
        model.backbone.eval()
        feed = ExampleFeed(data, 0 if data.store is not None else workers, device)
        with torch.no_grad(), autocast():
            for indices, batch in zip(plan, feed.batches(plan, 0, device)):
                pooled = model.backbone(**batch.inputs)["pooled"].float().cpu().numpy()
                if features is None:
                    features = np.empty((len(data), *pooled.shape[1:]), dtype=np.float32)
                features[indices] = pooled
        feed.close()
        return features

    def __len__(self):
        return len(self.data)

    def lengths(self):
        return None  # features have no length to group by

    def batch(self, indices, epoch: int, device) -> Batch:
        inputs = {"pooled": torch.from_numpy(np.ascontiguousarray(self.features[indices])).to(device)}
        if self.targets is not None:
            return Batch(inputs, self.targets[torch.from_numpy(np.asarray(indices))].to(device), indices)
        targets = self.task.collate_targets([self.data.get(int(i)).target for i in indices])
        return Batch(inputs, to_device(as_tensors(targets), device), indices)

    def batches(self, batches, epoch: int, device, start: int = 0):
        return (self.batch(indices, epoch, device) for indices in batches[start:])

    def close(self):
        pass

    def forward(self, model, inputs):
        return model.head_outputs(inputs)  # single process only (no DDP wrapper to go through)


def as_tensors(targets):
    """Collated numpy targets as torch: one tensor, or a list of them (ragged)."""
    if isinstance(targets, list):
        return [torch.from_numpy(np.ascontiguousarray(t)) for t in targets]
    return torch.from_numpy(np.ascontiguousarray(targets))


def to_device(targets, device, non_blocking: bool = False):
    if targets is None:
        return None
    if isinstance(targets, list):
        return [t.to(device, non_blocking=non_blocking) for t in targets]
    return targets.to(device, non_blocking=non_blocking)


def to_numpy(targets):
    if targets is None:
        return None
    if isinstance(targets, list):
        return [t.cpu().numpy() for t in targets]
    return targets.cpu().numpy()


def floats(outputs: dict) -> dict:
    """Named outputs in fp32 (autocast's bf16 ones too), for the loss and the metrics."""
    return {k: v.float() if v.is_floating_point() else v for k, v in outputs.items()}


def all_targets(data: ExampleSet) -> torch.Tensor | None:
    """Every example's target collated once (a batch indexes it), when they share one shape;
    None otherwise (each batch collates its own, as the task pads them)."""
    targets = [data.get(i).target for i in range(len(data))]
    if not targets or targets[0] is None or any(t.shape != targets[0].shape for t in targets):
        return None
    return torch.from_numpy(np.ascontiguousarray(data.task.collate_targets(targets)))


def evaluate(model: HubModel, data: ExampleFeed | FeatureCache, batch_size: int, device, autocast=None,
             tune: str | None = None, intervals: bool = False) -> dict:
    """Loss and the task's metrics over a whole data set, in eval mode; with ``tune``, the task
    first fits its decision (a binary threshold) to this data for that metric. A task with a
    program (generation) has its program's outputs beside the model's for its metrics. With
    ``intervals``, "intervals" holds each ranked value's 95 % interval over these examples
    (``metrics.bootstrap``: Wilson's for shares of the examples, else a bootstrap)."""
    if model.task.evaluate_model is not None and data.examples is not None:
        return model.task.evaluate_model(model, data.examples, batch_size=batch_size, device=device)
    autocast = autocast or (lambda: torch.autocast(device.type, enabled=False))
    was_training = model.training
    model.eval()
    losses, count, metrics = 0.0, 0, model.task.metrics()
    program = program_of(model.task)  # a multi-graph model also generates, as its exported graphs will
    graphs = program.on_torch(model, device) if program is not None else None
    with torch.no_grad(), autocast():
        for batch in data.batches(plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0), 0, device):
            batch = model.task.prepare(batch, train=False, generator=None)
            outputs = floats(data.forward(model, batch.inputs))
            losses += float(model.task.loss(outputs, batch)) * len(batch)
            count += len(batch)
            numpy_outputs = {k: v.cpu().numpy() for k, v in outputs.items()}
            numpy_batch = Batch({k: v.cpu().numpy() for k, v in batch.inputs.items()}, to_numpy(batch.targets),
                                batch.indices, batch.examples, batch.owners)  # windows: whose part each row is
            if program is not None:
                numpy_outputs.update(program.run(graphs, numpy_batch.inputs))
            for metric in metrics:
                metric.update(numpy_outputs, numpy_batch)
    model.train(was_training)
    if tune:
        model.task.tune(metrics, tune)
    found = {"loss": losses / max(1, count), **task_metrics.compute_all(metrics)}
    if intervals:
        found["intervals"] = task_metrics.bootstrap(metrics)
    return found
