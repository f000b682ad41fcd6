"""Prediction inputs and answers, shared by the torch path and the ONNX runtime (no torch here)."""
from __future__ import annotations

import json
from pathlib import Path

from hub_core.model.contracts import Example, ReadOptions
from hub_core.common.errors import UsageError
from hub_core.plugin.specs import resolve
from hub_core.common.table import TABLE_SUFFIXES


def gather_inputs(modality, inputs: tuple[str, ...], read: ReadOptions) -> list[Example]:
    """CLI inputs -> examples: a table file (Parquet too), a folder (a datasets folder too) or
    tar shards (a .tar, or a glob of them: each answer names its shard and sample key) are read
    by the modality's reader (labels ignored); anything else is one raw input (a text, an
    image or audio path), or a tuple of ``modality.args_per_input`` consecutive arguments."""
    from hub_core.common import shards

    if len(inputs) == 1 and (_is_table_or_folder(inputs[0]) or shards.matches(inputs[0])):
        options = ReadOptions(**{**read.__dict__, "labelled": False})
        if shards.matches(inputs[0]):
            return shards.read(resolve(modality.reader), inputs[0], options)
        return resolve(modality.reader)(Path(inputs[0]), options)
    per = getattr(modality, "args_per_input", 1)
    if per == 1:
        return [Example(input=raw, source=raw) for raw in inputs]
    if len(inputs) % per:
        raise UsageError(f"{modality.name} inputs take {per} arguments each, got {len(inputs)}: "
                         f"{' '.join(map(repr, inputs[-(len(inputs) % per):]))} is incomplete")
    groups = [tuple(inputs[i:i + per]) for i in range(0, len(inputs), per)]
    return [Example(input=group, source=" ".join(group)) for group in groups]


def command_inputs(inputs: tuple[str, ...], data: str | None) -> tuple[str, ...]:
    """``hub predict``'s INPUTS, or its ``--data`` (a file, a folder, or tar shards): one of them."""
    from hub_core.common import shards
    from hub_core.common.errors import DataError

    if data is not None and inputs:
        raise UsageError("give INPUTS or --data, not both")
    if data is None:
        if not inputs:
            raise UsageError("nothing to predict: give INPUTS (texts, image or audio paths) or --data FILE|FOLDER|"
                             "'shards-*.tar'")
        return inputs
    if existing_path(str(data)) is None and not shards.matches(str(data)):
        raise DataError("no such file or folder, and no shards match", file=data)
    return (str(data),)


def existing_path(text: str) -> Path | None:
    """``text`` as a path when a file or folder of that name exists, else None: a long text
    or one with a NUL byte is an input, never an OSError ("File name too long")."""
    # an empty argument is an (empty) raw input, not Path("") = the current folder
    if not text.strip() or len(text) > 4096 or "\0" in text:
        return None
    try:
        path = Path(text)
        return path if path.exists() else None
    except (OSError, ValueError):
        return None


def _is_table_or_folder(text: str) -> bool:
    path = existing_path(text)
    return path is not None and (path.is_dir() or path.suffix.lower() in TABLE_SUFFIXES)


def stored_read_options(manifest: dict, given: ReadOptions, explicit_columns: bool) -> ReadOptions:
    """The columns the model was trained with, unless the user named others."""
    stored = manifest.get("data", {}).get("read")
    if not stored or explicit_columns:
        return given
    return ReadOptions(**{**stored, "input_columns": tuple(stored.get("input_columns", ())), "skip_bad": given.skip_bad,
                          "data_root": given.data_root, "labelled": given.labelled,
                          "extra": {**stored.get("extra", {}), **given.extra}})


def describe(answer) -> str:
    """One answer as a short line for people."""
    if isinstance(answer, dict):
        if "label" in answer and "score" in answer:
            text = f"{answer['label']}\t{answer['score']:.4f}"
            if "top_k" in answer:
                text += "\t" + ", ".join(f"{a['label']} {a['score']:.3f}" for a in answer["top_k"][1:])
            return text
        if "labels" in answer:
            return ", ".join(f"{a['label']} {a['score']:.3f}" for a in answer["labels"]) or "(no label above threshold)"
        if "value" in answer:
            return f"{answer['value']:.6g}"
        if "tags" in answer:  # token classification: one tag per word of the input
            return " ".join(answer["tags"])
        if isinstance(answer.get("text"), str):  # a transcript, generated text: the text itself
            return answer["text"]
    return json.dumps(answer, default=str)


def print_answers(examples: list[Example], answers: list, as_json: bool) -> None:
    if as_json:
        rows = [{"input": e.source or str(e.input), "answer": a} for e, a in zip(examples, answers)]
        print(json.dumps(rows, indent=2, default=str))
        return
    for example, answer in zip(examples, answers):
        shown = str(example.source or example.input)
        print(f"{shown[:60]}\t{describe(answer)}")


def stored_examples(catalogue, manifest: dict) -> tuple[list, list, str]:
    """(train, validation) examples the model was trained with, re-read from their files, and
    where they came from; ([], [], why) when the files are gone or the model has none."""
    from hub_core.common.errors import HubError
    from hub_core.data.sets import read_examples
    from hub_core.data.splits import holdout

    data = manifest.get("data") or {}
    if not data.get("train"):
        return [], [], "no training data recorded in hub.json"
    stored = dict(data.get("read") or {})
    read = ReadOptions(**{**stored, "input_columns": tuple(stored.get("input_columns", ())), "labelled": True})
    modality = catalogue.modality(manifest["modality"])
    try:
        train = read_examples(modality, data["train"], read)
        if data.get("val"):
            return train, read_examples(modality, data["val"], read), data["val"]
        if data.get("val_split"):
            train, val = holdout(train, data["val_split"], data.get("seed", 0))
            return train, val, f"{data['train']} (the {data['val_split']:g} held out with seed {data.get('seed', 0)})"
        return train, [], "no validation data recorded in hub.json"
    except HubError as err:
        return [], [], f"stored data unreadable ({err})"
