"""The base of tasks with a label map learnt from the training data (classification,
multi-label, token classification): one output per label, the map kept in hub.json."""
from __future__ import annotations

from hub_core.api import Example, ExportError, Task


class LabelMapTask(Task):
    """Subclasses say which labels the training data holds (``found_labels``, raising
    ValueError when there are too few); the rest (the map, its size, its state) is here."""

    def __init__(self, labels: list[str] | None = None, **options):
        super().__init__(**options)
        self.set_labels(labels or [])

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}

    def found_labels(self, examples: list[Example]) -> list[str]:
        """The sorted labels of the training examples."""
        raise NotImplementedError

    def fit(self, examples: list[Example]) -> None:
        self.set_labels(self.found_labels(examples))

    @property
    def num_outputs(self) -> int:
        return len(self.labels)

    def checked(self, logits):
        """``logits`` whose last axis has one score per label; a graph that gives another number
        (another model's graph, exported elsewhere) is one line, not a label read out of range."""
        if logits.shape[-1] != len(self.labels):
            raise ExportError(f"the graph gives {logits.shape[-1]} scores per example but the model has "
                              f"{len(self.labels)} labels: it is not this model's graph; run 'hub export' again")
        return logits

    def state(self) -> dict:
        return {"options": self.options, "labels": self.labels}

    @classmethod
    def from_state(cls, state: dict) -> "LabelMapTask":
        return cls(labels=state["labels"], **state.get("options", {}))
