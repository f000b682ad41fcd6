"""The torch-free contracts: Example, ReadOptions, Preprocessor, Task.

Backbone and Head (torch modules) live in ``hub_core.model.modules``.

Data flows like this, for every modality and every command::

    reader(path, ReadOptions)    ->  [Example, ...]            (plugin: the modality's reader)
    Preprocessor.with_label(...) ->  ({name: np.ndarray}, label) (plugin; numpy only, no torch)
    Task.encode(label, arrays)   ->  target array              (core or plugin task)
    collate                      ->  Batch(inputs, targets (ragged allowed), indices, examples)
    Backbone(**batch.inputs)     ->  {"pooled": (B, D), "sequence": (B, T, D), "mask": (B, T), ...}
    Head(features)               ->  a tensor or a dict of tensors
    Task.outputs(head output)    ->  {output name: tensor}    (the exported graph's outputs)
    Task.loss(outputs, batch); Task.metrics() objects .update(outputs, batch);
    Task.decode(numpy outputs, batch) -> answers

The Preprocessor is the same code for training, evaluation, torch prediction and ONNX
prediction, so it must not import torch; a Task imports torch only inside ``loss``,
``prepare`` and ``outputs``, so the ONNX runtime can use its metrics and ``decode``.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Example:
    """One raw example: ``input`` as the modality understands it (a text, an image path,
    a dict of columns...), ``label`` as read from the file (None when unlabelled), and
    ``source`` ("file:line") for error messages."""

    input: Any
    label: Any = None
    source: str = ""


@dataclass
class ReadOptions:
    """What the user told ``hub`` about the data's layout."""

    input_columns: tuple[str, ...] = ()  # () lets the reader pick its default ("text", "path", ...)
    label_column: str = "label"
    skip_bad: bool = False  # skip and count unreadable examples instead of failing
    data_root: str | None = None  # if set, paths in files may not escape this directory
    labelled: bool = True  # False for prediction and pre-training corpora
    extra: dict = field(default_factory=dict)  # modality-specific options (max_seconds, ...)


class Preprocessor(abc.ABC):
    """Raw input -> dict of numpy arrays without a batch axis. Fitted, then saved.

    ``config`` must be JSON-serialisable: it goes to hub.json; files (tokenizer,
    vocabularies) go to the ``preprocessor/`` directory through ``save``.
    """

    #: True when ``__call__(train=True)`` draws something random from ``rng`` (image
    #: augmentation, the recommender's sampled negatives): the engine then preprocesses
    #: training examples afresh each epoch instead of caching them once.
    augments: bool = False

    def __init__(self, config: dict):
        self.config = dict(config)

    def fit(self, examples: list[Example]) -> None:
        """Learn from training data (train a tokenizer, build a vocabulary). Optional."""

    @abc.abstractmethod
    def __call__(self, raw: Any, *, train: bool = False, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """One example's arrays. ``train`` enables augmentation, drawn from ``rng``."""

    def windows(self, raw: Any) -> list | None:
        """The parts of one raw input that become items of their own (sliding windows over a
        long context or signal, tiles of a large image), each accepted by ``__call__`` and
        ``with_label`` (which maps the example's label into the part); None (the default):
        the input is one item. Each part is decoded as a row of its own (``batch.owners`` says
        whose) and ``Task.gather`` joins an example's answers into one."""
        return None

    def with_label(self, raw: Any, label: Any, *, train: bool = False,
                   rng: np.random.Generator | None = None) -> tuple[dict[str, np.ndarray], Any]:
        """(arrays, label) of a labelled example: an augmentation that moves the image moves
        its boxes and masks here. Default: the label as it is."""
        return self(raw, train=train, rng=rng), label

    def length(self, arrays: dict[str, np.ndarray]) -> int:
        """The example's length for length-grouped batches (0: fixed size)."""
        return 0

    def collate(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Stack examples into a batch; variable-length modalities pad to the longest."""
        return {key: np.stack([item[key] for item in items]) for key in items[0]}

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A collated batch of generated inputs for export and validation when no real
        data is at hand. ``scale`` stretches variable axes (0.5: half the usual sequence
        length or clip duration, 3: three times); fixed-size modalities ignore it."""
        raise NotImplementedError(f"{type(self).__name__} cannot generate inputs")

    def save(self, directory: Path) -> None:
        """Write files the preprocessor needs (``config`` is saved by the caller)."""

    @classmethod
    def load(cls, directory: Path, config: dict) -> "Preprocessor":
        return cls(config)




class Task(abc.ABC):
    """Targets, objective, metrics and decoding for one kind of problem (plugin API 2).

    Every stage speaks in named outputs: the model returns ``outputs(head(...))``, a dict of
    tensors whose names are ``output_names`` (the exported graph's outputs too); ``loss``
    reads them with the whole ``Batch``; ``metrics()`` gives fresh metric objects that
    declare which way is better; ``decode`` turns numpy outputs (from torch or onnxruntime
    alike) plus the batch into answers. ``fit`` sees the training examples (a label map);
    ``state`` / ``from_state`` round-trip everything through hub.json, so the decoder ships
    with the model directory.
    """

    name: str = ""
    #: names of the model's (and the exported graph's) outputs, as ``outputs`` returns them;
    #: each is batch-major (axis 0 is the batch)
    output_names: tuple[str, ...] = ("logits",)
    #: the default metric for early stopping and the kept epoch (its direction is the metric's)
    monitor: str = "loss"
    #: True when ``decode`` or a metric reads the raw examples (``batch.examples``): the data
    #: then keeps them (a span cut from the context, a reference transcript)
    needs_examples: bool = False
    #: ``"module:Class"`` of a ``hub_core.model.program.Program`` when answers take several
    #: graphs and a numpy loop (generation); its outputs join the model's for metrics and
    #: ``decode``. None: the model's one forward pass is the answer.
    program: str | None = None
    #: Optional ``evaluate_model(model, data, *, batch_size, device) -> metrics dict`` for
    #: tasks whose evaluation is not a pass of outputs over examples (the recommender's full
    #: ranking of every item per user); torch only: ``hub evaluate --onnx`` says so.
    evaluate_model = None
    #: preprocessor options a new model of this task starts from, under the user's own (extractive
    #: QA: the text preprocessor cuts question/context pairs into windows with character offsets)
    preprocess: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "answers" in cls.__dict__ and "decode" not in cls.__dict__:  # written for plugin API 1
            raise TypeError(f"task class {cls.__qualname__} is written for plugin API 1 (answers, metrics(batches), "
                            "loss(outputs, targets)); this core speaks plugin API 2: implement decode(outputs, batch), "
                            "metrics() returning metric objects and loss(outputs, batch) (docs/plugin-guide.md)")

    def __init__(self, **options):
        self.options = options

    def fit(self, examples: list[Example]) -> None:
        """Learn the label map from training examples."""

    def fit_to(self, preprocessor: "Preprocessor") -> None:
        """Learn from the fitted preprocessor; called after ``fit``, before the head is
        built. For tasks whose outputs depend on it (masked-LM: the tokenizer's
        vocabulary size and mask token). Optional."""

    @property
    def num_outputs(self) -> int:
        raise NotImplementedError

    @abc.abstractmethod
    def encode(self, label: Any, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """A raw label -> target array. Raise ValueError with a clear message if bad."""

    def collate_targets(self, targets: list[np.ndarray]):
        """A batch's targets: stacked when they share a shape, else the list itself (ragged:
        boxes per image, tokens per transcript); ``loss`` and the metrics read either."""
        if all(t.shape == targets[0].shape for t in targets):
            return np.stack(targets)
        return list(targets)

    def prepare(self, batch: "Batch", *, train: bool, generator=None) -> "Batch":
        """Last step before the model sees a batch (torch tensors); MLM masks here."""
        return batch

    def prepare_run(self, model, train_examples: list, val_examples: list, config):
        """Shape the run before training starts (MLM: pack the texts, fill in its recipe);
        returns (train examples, validation examples, TrainConfig). Default: unchanged."""
        return train_examples, val_examples, config

    def outputs(self, head_output) -> dict:
        """The head's output as named tensors (torch): a head that returns a dict already
        names them; one tensor is called ``output_names[0]``. Add derived outputs here
        (probabilities, a de-standardised value) so the exported graph has them."""
        if isinstance(head_output, dict):
            return head_output
        return {self.output_names[0]: head_output}

    @abc.abstractmethod
    def loss(self, outputs: dict, batch: "Batch"):
        """The training loss (a torch scalar) from the named outputs and the batch
        (``batch.targets``, its inputs' masks and lengths)."""

    @abc.abstractmethod
    def metrics(self) -> list:
        """Fresh metric objects (``hub_core.model.metrics.Metric``) for one evaluation pass,
        each declaring which of its values are better higher."""

    @abc.abstractmethod
    def decode(self, outputs: dict[str, np.ndarray], batch: "Batch", top_k: int = 1) -> list[Any]:
        """Numpy outputs of a batch -> one JSON-able answer per example (numpy only: the
        same code answers for torch and onnxruntime)."""

    def gather(self, answers: list) -> Any:
        """One example's answer from the answers of its parts (``Preprocessor.windows``: the
        best span over every window, boxes of every tile after NMS). Default: a one-part
        example's answer as it is, several parts' as a list."""
        return answers[0] if len(answers) == 1 else {"parts": answers}

    def tune(self, metrics: list, name: str) -> None:
        """Fit the decision to a validation pass (the ``metrics`` it updated) for the metric
        ``name`` (a binary threshold), after training. Default: nothing to tune."""

    def state(self) -> dict:
        return {"options": self.options}

    @classmethod
    def from_state(cls, state: dict) -> "Task":
        task = cls(**state.get("options", {}))
        return task


def decoded(task: Task, outputs: dict, batch: "Batch", top_k: int = 1) -> list:
    """``task.decode``'s answers, checked to be one per row of the batch: a plugin's decoder that
    miscounts is named, never zipped against the wrong inputs."""
    answers = task.decode(outputs, batch, top_k=top_k)
    if not isinstance(answers, list) or len(answers) != len(batch):
        from hub_core.common.errors import PluginError

        got = len(answers) if isinstance(answers, list) else type(answers).__name__
        raise PluginError(f"task {task.name!r}: decode gave {got} answers for a batch of {len(batch)}")
    return answers


@dataclass
class Batch:
    """What loss, metrics and decoders see of a batch.

    ``inputs``: the collated arrays (numpy; torch tensors inside the training loop);
    ``targets``: the task's collated targets, one array or (ragged) a list of per-example
    arrays, None when unlabelled; ``indices``: each row's example in its data set;
    ``examples``: the raw examples of those rows when the data still holds them (always
    for ``hub predict`` and the server; for training and evaluation when the task
    ``needs_examples``); ``owners``: when the preprocessor cuts inputs into parts
    (``windows``), the example each row is a part of."""

    inputs: dict
    targets: Any = None
    indices: np.ndarray | None = None
    examples: list | None = None
    owners: np.ndarray | None = None

    def __len__(self) -> int:
        if self.indices is not None:
            return len(self.indices)
        return len(next(iter(self.inputs.values())))
