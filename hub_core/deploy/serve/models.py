"""A served model: the ONNX graph, the saved preprocessor and task, and what one batch needs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hub_core.common.errors import DataError, HubError, UsageError
from hub_core.deploy.runtime import OnnxModel


class BadInput(HubError):
    """A request's input that the model's preprocessor cannot use: the client's fault (4xx)."""


class ServedModel:
    """One exported model directory, loaded once; ``encode`` one input, ``run`` a batch."""

    def __init__(self, catalogue, path, name: str, threads: int | None = None):
        self.name = name
        self.model = OnnxModel(catalogue, path, threads)
        self.manifest, self.preprocessor, self.task = self.model.manifest, self.model.preprocessor, self.model.task
        self.modality = catalogue.modality(self.manifest["modality"])

    def encode(self, raw, where: str) -> dict[str, np.ndarray]:
        """One raw input -> its arrays (no batch axis), as training and ``hub predict`` make them."""
        try:
            return self.preprocessor(raw, train=False)
        except (DataError, ValueError, TypeError, KeyError, OSError) as err:
            raise BadInput(f"{where}: {err}") from None

    def run(self, items: list[dict[str, np.ndarray]], groups: list[tuple[int, int, int]]) -> list[list]:
        """One forward pass over ``items`` (padded together by the preprocessor's collate);
        the answers of each (start, stop, top_k) group, read from its own rows."""
        arrays = self.preprocessor.collate(items)
        head = self.model.head_output(arrays)
        answers = []
        for start, stop, top_k in groups:
            rows = {key: value[start:stop] for key, value in arrays.items()}
            answers.append(self.task.answers(head[start:stop], top_k=top_k, arrays=rows))
        return answers

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


def request_hint(modality) -> str:
    """What one item of ``inputs`` looks like for this modality, for people reading /v1/models/NAME."""
    per = getattr(modality, "args_per_input", 1)
    if per > 1:
        return f"a list of {per} values, e.g. [\"a\", \"b\"]"
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
