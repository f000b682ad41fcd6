"""The torch-free contracts: Example, ReadOptions, Preprocessor, Task.

Backbone and Head (torch modules) live in ``hub_core.model.modules``.

Data flows like this, for every modality and every command::

    reader(path, ReadOptions)  ->  [Example, ...]              (plugin: the modality's reader)
    Preprocessor(example.input) ->  {name: np.ndarray}          (plugin; numpy only, no torch)
    Task.encode(example.label)  ->  np.ndarray target           (core or plugin task)
    Preprocessor.collate([...]) ->  batch of np arrays (padded per batch)
    Backbone(**batch)           ->  {"pooled": (B, D), "sequence": (B, T, D), "mask": (B, T)}
    Head(features)              ->  (B, num_outputs) or (B, T, num_outputs)
    Task.loss / Task.metrics / Task.answers

The Preprocessor is the same code for training, evaluation, torch prediction and ONNX
prediction, so it must not import torch; a Task imports torch only inside ``loss``,
``prepare`` and ``outputs``, so the ONNX runtime can use its ``answers``.
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
    """Labels, loss, metrics and answers for one kind of problem.

    ``fit`` sees the training examples (to build a label map); ``state`` and
    ``from_state`` round-trip everything through hub.json.
    """

    name: str = ""
    #: names of the exported graph's outputs, produced by ``outputs``
    output_names: tuple[str, ...] = ("logits",)
    #: default metric for early stopping / best checkpoint, and whether higher is better
    monitor: str = "loss"
    monitor_mode: str = "min"
    #: Optional ``evaluate_model(model, data, *, batch_size, device) -> metrics dict`` for
    #: tasks whose evaluation is not per-example outputs vs targets (the recommender's full
    #: ranking of every item per user). ``data`` is the engine's ExampleSet (``data.get(i)``
    #: the preprocessed arrays, ``data.examples`` the raw ones); None: the engine's loop.
    evaluate_model = None

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

    def collate_targets(self, targets: list[np.ndarray]) -> np.ndarray:
        return np.stack(targets)

    def prepare(self, inputs: dict, targets, *, train: bool, generator=None):
        """Last step before the model sees a batch (torch tensors); MLM masks here."""
        return inputs, targets

    def prepare_run(self, model, train_examples: list, val_examples: list, config):
        """Shape the run before training starts (MLM: pack the texts, fill in its recipe);
        returns (train examples, validation examples, TrainConfig). Default: unchanged."""
        return train_examples, val_examples, config

    def tune(self, batches: list[tuple[np.ndarray, np.ndarray]], metric: str) -> None:
        """Fit the decision to validation batches for ``metric`` (a binary threshold), after
        training. Default: nothing to tune."""

    @abc.abstractmethod
    def loss(self, outputs, targets):
        """The training loss (a torch scalar) from the head's outputs and the targets."""

    def outputs(self, head_output) -> dict:
        """Named outputs of the exported graph (torch tensors), e.g. logits + probabilities."""
        return {"logits": head_output}

    @abc.abstractmethod
    def metrics(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
        """Metrics over (head outputs, targets) numpy pairs; compute with a kept library."""

    @abc.abstractmethod
    def answers(self, head_output: np.ndarray, top_k: int = 1, arrays: dict | None = None) -> list[Any]:
        """Batch of head outputs (numpy) -> one JSON-able answer per example."""

    def state(self) -> dict:
        return {"options": self.options}

    @classmethod
    def from_state(cls, state: dict) -> "Task":
        task = cls(**state.get("options", {}))
        return task
