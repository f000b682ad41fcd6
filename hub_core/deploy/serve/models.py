"""A served model: the ONNX graph, the saved preprocessor and task, and what one batch needs."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hub_core.common.errors import DataError, HubError, UsageError
from hub_core.common.limits import LimitExceeded
from hub_core.deploy.runtime import NUMPY_TYPES, open_exported
from hub_core.model.contracts import Batch, Example, decoded
from hub_core.plugin.specs import resolve


class BadInput(HubError):
    """A request's input that the model's preprocessor cannot use: the client's fault (4xx)."""


class TooLarge(BadInput):
    """Over a size limit (413)."""


@dataclass(frozen=True)
class Encoded:
    """One input's arrays (no batch axis) and the raw input they came from (a decoder may cut
    its answer from it): one of each, or one per part where the preprocessor cuts the input
    into parts (``windows``)."""

    arrays: list
    raws: list


@dataclass(frozen=True)
class Tensors:
    """One row of the graph's own input tensors (the Open Inference Protocol's tensor route):
    run as they are, batched with rows of the same shapes; answered with the task's outputs."""

    arrays: dict

    def signature(self) -> tuple:
        return tuple((name, value.dtype.str, value.shape) for name, value in sorted(self.arrays.items()))


@dataclass(frozen=True)
class Query:
    """An input the modality's ranker answers instead of the graph (``ModalitySpec.ranker``)."""

    value: object


class ServedModel:
    """One exported model directory, loaded once; ``encode`` one input, ``run`` a batch."""

    def __init__(self, catalogue, path, name: str, threads: int | None = None):
        self.name = name
        self.model = open_exported(catalogue, path, threads)
        self.manifest, self.preprocessor, self.task = self.model.manifest, self.model.preprocessor, self.model.task
        self.modality = catalogue.modality(self.manifest["modality"])
        ranker = getattr(self.modality, "ranker", None)
        self.ranker = resolve(ranker)(catalogue, self.model.directory) if ranker else None
        # which inputs are files (a string would be a path on the server): the model's, or its parts' (fusion)
        parts = getattr(self.preprocessor, "modalities", None) or {}
        self.file_inputs = getattr(self.modality, "file_inputs", False)
        self.file_parts = {name: getattr(catalogue.modality(modality), "file_inputs", False)
                           for name, modality in parts.items()}

    def check_text(self, part: str | None, where: str) -> None:
        """A client's string is a text: refused where the preprocessor would take it for a file
        path, whatever it names and whether or not that exists (the server never looks)."""
        if self.file_parts and part is None:
            raise BadInput(f"{where}: this model takes an object with one field per part "
                           f"({', '.join(self.file_parts)}), not a string")
        if self.file_parts.get(part) if part is not None else self.file_inputs:
            raise BadInput(f"{where}: this model reads files here: send the file's contents "
                           "({\"base64\": ..., \"filename\": ...} or multipart), not a string")

    def encode(self, raw, where: str):
        """One raw input -> its arrays (no batch axis), as training and ``hub predict`` make
        them; or a Query when the modality's ranker takes it (a user -> the top-K items)."""
        try:
            query = self.ranker.query(raw) if self.ranker is not None else None
            if query is not None:
                return Query(query)
            parts = self.preprocessor.windows(raw)
            parts = [raw] if parts is None else parts
            return Encoded([self.preprocessor(part, train=False) for part in parts], parts)
        except LimitExceeded as err:
            raise TooLarge(f"{where}: {err}") from None
        except (DataError, ValueError, TypeError, KeyError, OSError) as err:
            raise BadInput(f"{where}: {err}") from None

    def run(self, items: list, groups: list[tuple[int, int, int]]) -> list[list]:
        """The answers of each (start, stop, top_k) group of ``items``: one forward pass over
        every encoded input (padded together by the preprocessor's collate), queries ranked."""
        top_ks = [k for start, stop, k in groups for _ in range(start, stop)]
        answers: list = [None] * len(items)
        # a row per part of each input (one part unless the preprocessor cuts inputs into windows)
        rows = [(i, p) for i, item in enumerate(items) if isinstance(item, Encoded) for p in range(len(item.arrays))]
        self.run_tensors(items, answers)
        if rows:
            arrays = self.preprocessor.collate([items[i].arrays[p] for i, p in rows])
            outputs = self.model.run(arrays)
            examples = [Example(items[i].raws[p]) for i, p in rows]
            owners = np.array([i for i, _ in rows])
            parts: dict[int, list] = {}
            for k in sorted({top_ks[i] for i, _ in rows}):
                picked = [j for j, (i, _) in enumerate(rows) if top_ks[i] == k]
                some = len(picked) < len(rows)  # the rows of this top_k: every output and input is batch-major
                batch = Batch({key: value[picked] for key, value in arrays.items()} if some else arrays,
                              examples=[examples[j] for j in picked], owners=owners[picked])
                got = decoded(self.task, {key: value[picked] for key, value in outputs.items()} if some else outputs,
                              batch, k)
                for j, answer in zip(picked, got):
                    parts.setdefault(rows[j][0], []).append(answer)
            for i, answered in parts.items():
                answers[i] = self.task.gather(answered)
        for i, item in enumerate(items):
            if isinstance(item, Query):
                answers[i] = self.ranker.answer(item.value, top_ks[i])
        return [answers[start:stop] for start, stop, _ in groups]

    def run_tensors(self, items: list, answers: list) -> None:
        """The task's outputs of each Tensors row, one graph run per shape the rows share."""
        alike: dict[tuple, list[int]] = {}
        for i, item in enumerate(items):
            if isinstance(item, Tensors):
                alike.setdefault(item.signature(), []).append(i)
        for indices in alike.values():
            names = items[indices[0]].arrays
            outputs = self.model.run({name: np.concatenate([items[i].arrays[name] for i in indices])
                                      for name in names})
            for row, i in enumerate(indices):
                answers[i] = {name: outputs[name][row:row + 1] for name in self.task.output_names}

    def graph_inputs(self) -> list[tuple[str, np.dtype, list]]:
        """(name, dtype, shape with -1 for a dynamic axis) of each input the graph reads."""
        shapes = {i.name: axes(i.shape) for i in self.sessions()[0].get_inputs()}
        return [(name, np.dtype(dtype), shapes[name]) for name, dtype in self.model.inputs.items()]

    def graph_outputs(self) -> list[tuple[str, np.dtype, list]]:
        """(name, dtype, shape) of the task's outputs that a graph gives as they are."""
        found = {o.name: o for session in self.sessions() for o in session.get_outputs()}
        return [(name, np.dtype(NUMPY_TYPES.get(found[name].type, np.float32)), axes(found[name].shape))
                for name in self.task.output_names if name in found]

    def sessions(self) -> list:
        """The onnxruntime sessions of the model, the one that reads the preprocessor's arrays first."""
        if hasattr(self.model, "sessions"):
            return [graph.session for graph in self.model.sessions.values()]
        return [self.model.session]

    def describe(self) -> dict:
        """``GET /v1/models/NAME``: inputs, labels, metrics and the export report's summary."""
        manifest = self.manifest
        state = manifest["task"].get("state", {})
        return {"name": self.name, "modality": manifest["modality"], "backbone": manifest["backbone"]["name"],
                "head": manifest["head"]["name"], "task": manifest["task"]["name"],
                "labels": state.get("labels"), "metrics": manifest.get("metrics"),
                "graph": self.model.path.name,
                "inputs": [{"name": name, "dtype": np.dtype(dtype).name} for name, dtype in self.model.inputs.items()],
                "request": request_hint(self.modality), "export": export_summary(self.model.directory)}


def axes(shape) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in shape]


def request_hint(modality) -> str:
    """What one item of ``inputs`` looks like for this modality, for people reading /v1/models/NAME."""
    per = getattr(modality, "args_per_input", 1)
    if per > 1:
        ranks = " or {\"user\": ID} for the top-K items" if getattr(modality, "ranker", None) else ""
        return f"a list of {per} values, e.g. [\"a\", \"b\"]{ranks}"
    return ("a string (text), a list of strings (a pair), an object {\"base64\": ..., \"filename\": ...} "
            "(an image or audio file), or an object with one field per part (fusion)")


def export_summary(directory: Path) -> dict | None:
    path = Path(directory) / "export.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    validation = report.get("validation") or {}
    return {key: report.get(key) for key in ("status", "exporter", "opset", "size_bytes", "fixed_axes")} | {
        "validated_cases": len(validation.get("cases", [])),
        "all_ok": all(case.get("ok") for case in validation.get("cases", [])) if validation else None}


def load_models(catalogue, paths, threads: int | None = None) -> dict[str, ServedModel]:
    """Every model directory (or .onnx file) by its served name: the folder's name, made
    unique; any one that cannot load stops the server with the usual one-line error."""
    models = {}
    for path in paths:
        path = Path(path)
        base = (path.parent if path.suffix == ".onnx" else path).resolve().name or "model"
        name, number = base, 2
        while name in models:
            name, number = f"{base}-{number}", number + 1
        if not all(c.isalnum() or c in "-_." for c in name):
            raise UsageError(f"{path}: its folder name {name!r} is not a usable model name (letters, digits, - _ .)")
        models[name] = ServedModel(catalogue, path, name, threads)
    return models
