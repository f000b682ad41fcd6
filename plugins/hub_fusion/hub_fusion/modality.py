"""The "multimodal" modality: table rows with one column per part of a fusion model (a text,
an image path, an audio path, ...), and the FusionPreprocessor that hands each part's value
to its own modality's preprocessor. Numpy only: the ONNX runtime runs this very code.

Columns. A part reads the column of its own name (part ``text`` reads column ``text``), or
the column(s) named by ``--input-column PART=COLUMN`` (``PART=A,B``: the part gets a
``{column: value}`` row, as a tabular backbone wants). A single-column cell that names an
existing file, relative to the table's folder (or ``--data-root``), becomes that file's
absolute path, so image and audio parts find their files wherever hub runs. On the command
line, ``hub predict DIR '{"text": "a red kite", "image": "kite.png"}'`` gives one row.

Missing values: an empty cell, a JSON null or a key absent from a JSONL row. The policy is
the fusion backbone's ``missing`` option, stored in hub.json (backbone and preprocessor):

  absent (default)  the part contributes its learned "absent" embedding instead of its
                    features. Its preprocessor is fed a fixed placeholder (so batch shapes
                    never change) and ``present.PART`` is false. A row with no part at all
                    is a data error.
  error             a missing value is a data error naming the file, line and part.

``part_dropout`` (a preprocessor option, default 0) hides each present part of a training
row with that probability (never all of them), so the absent embeddings learn what "not
given" should mean even when the training data has no gaps.

Arrays: each part's arrays prefixed by its name (``text.input_ids``, ``image.pixel_values``)
and one bool ``present.PART`` per part.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from hub_core.api import (DataError, Example, ModelDirError, Preprocessor, ReadOptions, UsageError, is_table,
                          did_you_mean, iter_rows, notice, resolve_path)

PART_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PRESENT = "present"  # arrays ``present.PART``; so no part may be called that
MISSING_POLICIES = ("absent", "error")
OWN_OPTIONS = {"missing": "absent", "part_dropout": 0.0}
PLACEHOLDER_SCALE = 0.25  # a short placeholder sequence / clip for a missing part


def check_part_name(name, where: str = "fusion") -> str:
    if not isinstance(name, str) or not PART_NAME.match(name) or name == PRESENT:
        raise UsageError(f"{where}: part name {name!r} must be lower-case letters, digits and _ "
                         f"(starting with a letter), and not {PRESENT!r}")
    return name


def is_missing(value) -> bool:
    """Empty cells, nulls and empty lists or rows mean: this part was not given."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value or (isinstance(value, dict) and all(is_missing(v) for v in value.values()))
    return False


# ----------------------------------------------------------------------------- the reader
def column_map(input_columns) -> dict[str, tuple[str, ...]] | None:
    """``--input-column PART=COLUMN[,COLUMN]`` (or ``COLUMN`` for a part of that name) ->
    {part: columns}; None when not given (every column but the label, by its own name)."""
    if not input_columns:
        return None
    mapping = {}
    for entry in input_columns:
        part, sep, columns = entry.partition("=")
        names = tuple(c.strip() for c in (columns if sep else part).split(",") if c.strip())
        check_part_name(part.strip(), f"--input-column {entry!r}")
        if not names:
            raise UsageError(f"--input-column {entry!r}: expected PART=COLUMN")
        mapping[part.strip()] = names
    return mapping


def read_examples(path: str | Path, options: ReadOptions) -> list[Example]:
    """One example per row of a CSV/TSV/JSONL table: ``input`` is ``{part: value}``."""
    path = Path(path)
    if not is_table(path):
        raise DataError("multimodal data is a CSV, TSV or JSONL table with one column per part "
                        "(a text, an image path, an audio path, ...) and a label column", file=path)
    mapping = column_map(options.input_columns)
    label = options.label_column
    base = Path(options.data_root) if options.data_root else path.parent
    examples, skipped, seen = [], [], set()
    for line, row in iter_rows(path, required=(label,) if options.labelled else ()):
        seen.update(row)
        try:
            examples.append(_row_example(path, line, row, mapping, options, base))
        except DataError as err:
            if not options.skip_bad:
                raise
            skipped.append(err)
    absent = [c for columns in (mapping or {}).values() for c in columns if c not in seen]
    if absent:
        raise DataError(f"no column {absent[0]!r} (columns: {', '.join(sorted(map(str, seen)))})", file=path)
    if skipped:
        notice(f"skipped {len(skipped)} bad row(s) in {path} (--skip-bad); first: {skipped[0]}")
    return examples


def _row_example(path: Path, line: int, row: dict, mapping, options: ReadOptions, base: Path) -> Example:
    label = options.label_column
    if mapping is None:
        inputs = {column: _cell(row[column], path, line, options, base) for column in row if column != label}
    else:
        inputs = {part: _cell(row.get(columns[0]), path, line, options, base) if len(columns) == 1
                  else {c: row.get(c) for c in columns} for part, columns in mapping.items()}
    if all(is_missing(v) for v in inputs.values()):
        raise DataError(f"no value in any input column ({', '.join(inputs)})", file=path, line=line)
    value = row.get(label) if options.labelled else None
    if options.labelled and is_missing(value):
        raise DataError("empty label", file=path, line=line, field=label)
    return Example(inputs, value, f"{path}:{line}")


def _cell(value, path: Path, line: int, options: ReadOptions, base: Path):
    """A cell as the part's preprocessor wants it: a relative file name becomes an absolute path."""
    if not isinstance(value, str) or is_missing(value) or "\n" in value or len(value) > 1024:
        return value
    try:
        is_file = (base / value.strip()).is_file()
    except (OSError, ValueError):  # not a possible file name: a text
        return value
    return str(resolve_path(path, value.strip(), options.data_root, line)) if is_file else value


# ----------------------------------------------------------------------------- the preprocessor
class FusionPreprocessor(Preprocessor):
    """Each part's value through its own modality's preprocessor, arrays prefixed by part.

    Config: ``parts`` ({PART: {"modality": NAME, "config": {...}}}, from the fusion
    backbone), ``missing``, ``part_dropout``; ``PART.KEY`` sets a part's preprocessor option
    (``-p text.max_length=64``), and a plain ``KEY`` goes to every part whose preprocessor
    has that option (``--max-length 64`` reaches the text parts).
    """

    def __init__(self, config: dict, catalogue=None, parts: dict[str, Preprocessor] | None = None):
        self.options, part_configs, shared = route_options(config)
        self.modalities = {name: part["modality"] for name, part in part_configs.items()}
        if parts is None:
            parts = {name: self._build(catalogue, part) for name, part in part_configs.items()}
            for name in share(shared, {name: part.config for name, part in parts.items()}, part_configs):
                parts[name] = self._build(catalogue, part_configs[name])
        self.parts = parts
        self._placeholders: dict[str, dict] = {}

    @staticmethod
    def _modality(catalogue, name: str, error=UsageError):
        if catalogue is None:
            raise error("the multimodal preprocessor is built by hub: it needs the catalogue of modalities")
        spec = catalogue.find("modality", name)
        if spec is None:
            raise error(f"a part's modality {name!r} is provided by no installed plugin (see 'hub plugins')")
        return spec

    @classmethod
    def _build(cls, catalogue, part: dict) -> Preprocessor:
        return cls._modality(catalogue, part["modality"]).create_preprocessor(part["config"], catalogue)

    @property
    def config(self) -> dict:
        """The parts' configs as they are now (fitting fills them in), for hub.json."""
        return {"parts": {name: {"modality": self.modalities[name], "config": part.config}
                          for name, part in self.parts.items()}, **self.options}

    @property
    def augments(self) -> bool:
        return self.options["part_dropout"] > 0 or any(getattr(p, "augments", False) for p in self.parts.values())

    # -- fitting -------------------------------------------------------------------------
    def fit(self, examples: list[Example]) -> None:
        """Fit each part's preprocessor on the training rows that have a value for it."""
        for name, part in self.parts.items():
            given = [Example(e.input[name], e.label, e.source) for e in examples
                     if isinstance(e.input, dict) and not is_missing(e.input.get(name))]
            if not given:
                columns = sorted({str(k) for e in examples if isinstance(e.input, dict) for k in e.input})
                where = examples[0].source.rpartition(":")[0] if examples else None
                raise DataError(f"no training row has a value for part {name!r} (columns: {', '.join(columns)}); "
                                f"name its column with --input-column {name}=COLUMN", file=where or None)
            part.fit(given)

    # -- one example -----------------------------------------------------------------------
    def __call__(self, raw, *, train: bool = False, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        row = self._row(raw)
        given = {name: not is_missing(row.get(name)) for name in self.parts}
        if not any(given.values()):
            raise ValueError(f"no value for any part ({', '.join(self.parts)}); the row has "
                             f"{', '.join(map(str, row)) or 'nothing'} (name columns with --input-column PART=COLUMN)")
        missing = [name for name, present in given.items() if not present]
        if missing and self.options["missing"] == "error":
            raise ValueError(f"no value for part {missing[0]!r} (the model's missing-value policy is 'error')")
        present = dict(given)
        if train and self.options["part_dropout"] and rng is not None:
            hidden = {name: present[name] and rng.random() < self.options["part_dropout"] for name in present}
            if not all(hidden[n] or not present[n] for n in present):  # never hide every given part
                present = {name: present[name] and not hidden[name] for name in present}
        arrays = {}
        for name, part in self.parts.items():
            try:
                own = part(row[name], train=train, rng=rng) if present[name] else self._placeholder(name)
            except (DataError, ValueError, OSError) as err:
                raise ValueError(f"part {name!r}: {err}") from None
            arrays.update({f"{name}.{key}": value for key, value in own.items()})
            arrays[f"{PRESENT}.{name}"] = np.asarray(present[name], dtype=bool)
        return arrays

    def _row(self, raw) -> dict:
        if isinstance(raw, str) and raw.lstrip().startswith("{"):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ValueError(f"input is not a valid JSON object: {err.msg} (column {err.colno})") from None
        if not isinstance(raw, dict):
            example = ", ".join(f'"{name}": ...' for name in self.parts)
            raise ValueError(f"a multimodal input is a JSON object naming its parts ({{{example}}}), "
                             f"got {type(raw).__name__}")
        return raw

    def _placeholder(self, name: str) -> dict[str, np.ndarray]:
        """A fixed input for a missing part (its features are replaced by the absent embedding)."""
        if name not in self._placeholders:
            try:
                batch = self.parts[name].synthetic(1, PLACEHOLDER_SCALE, np.random.default_rng(0))
            except NotImplementedError:
                raise ValueError(f"no value, and the {self.modalities[name]!r} preprocessor cannot make a "
                                 f"placeholder input: give a value in every row") from None
            self._placeholders[name] = {key: value[0] for key, value in batch.items()}
        return self._placeholders[name]

    def split(self, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """Prefixed arrays -> {part: that part's own arrays} (presence flags left out)."""
        return {name: {key[len(name) + 1:]: value for key, value in arrays.items() if key.startswith(f"{name}.")}
                for name in self.parts}

    def length(self, arrays: dict[str, np.ndarray]) -> int:
        return sum(self.parts[name].length(own) for name, own in self.split(arrays).items())

    # -- batches -------------------------------------------------------------------------
    def collate(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Each part's own collate (its padding), then the presence flags."""
        per_item = [self.split(item) for item in items]
        batch = {}
        for name, part in self.parts.items():
            batch.update({f"{name}.{key}": value for key, value in part.collate([own[name] for own in per_item]).items()})
            batch[f"{PRESENT}.{name}"] = np.asarray([item[f"{PRESENT}.{name}"] for item in items], dtype=bool)
        return batch

    def synthetic(self, batch_size: int, scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Every part's generated inputs; the first row has every part, the others miss some."""
        batch = {}
        for name, part in self.parts.items():
            batch.update({f"{name}.{key}": value for key, value in part.synthetic(batch_size, scale, rng).items()})
            present = rng.random(batch_size) < 0.75
            present[0] = True
            batch[f"{PRESENT}.{name}"] = present
        return batch

    # -- files ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Each part's files in a folder of its name (its config is in hub.json)."""
        for name, part in self.parts.items():
            (Path(directory) / name).mkdir(parents=True, exist_ok=True)
            part.save(Path(directory) / name)

    @classmethod
    def load(cls, directory: Path, config: dict, catalogue=None) -> "FusionPreprocessor":
        """Each part from its folder, with options given on top of the saved ones applied."""
        options, part_configs, shared = route_options(config)
        share(shared, {name: part["config"] for name, part in part_configs.items()}, part_configs)
        parts = {name: cls._modality(catalogue, part["modality"], ModelDirError).load_preprocessor(
                     Path(directory) / name, part["config"], catalogue) for name, part in part_configs.items()}
        return cls({"parts": part_configs, **options}, catalogue, parts=parts)


def route_options(config: dict) -> tuple[dict, dict, dict]:
    """(the fusion's own options, {PART: {"modality", "config"}} with ``PART.KEY`` options
    folded in, the plain options left for ``share``) from a FusionPreprocessor config."""
    parts = {check_part_name(name): {"modality": part["modality"], "config": dict(part.get("config") or {})}
             for name, part in (config.get("parts") or {}).items()}
    if not parts:
        raise UsageError("the multimodal preprocessor needs parts (it is built for a fusion model)")
    options, shared = dict(OWN_OPTIONS), {}
    for key, value in config.items():
        part, dot, option = key.partition(".")
        if key == "parts":
            continue
        if key in OWN_OPTIONS:
            options[key] = value
        elif dot:
            if part not in parts:
                raise UsageError(f"preprocessor option {key!r} names part {part!r}; the parts are "
                                 f"{', '.join(parts)}{did_you_mean(part, parts)}")
            parts[part]["config"][option] = value
        else:
            shared[key] = value
    if options["missing"] not in MISSING_POLICIES:
        raise UsageError(f"missing = {options['missing']!r} must be one of {', '.join(MISSING_POLICIES)}")
    dropout = options["part_dropout"]
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise UsageError(f"part_dropout must be a number in [0, 1), got {dropout!r}")
    return options, parts, shared


def share(shared: dict, known: dict[str, dict], parts: dict) -> set[str]:
    """Give each plain option to the parts whose preprocessor config (``known``) has it;
    return the parts that changed."""
    changed = set()
    for key, value in shared.items():
        takers = [name for name, config in known.items() if key in config]
        if not takers:
            raise UsageError(f"preprocessor option {key!r} is not an option of any part's preprocessor; "
                             f"name the part: -p PART.{key}=VALUE (parts: {', '.join(parts)})")
        for name in takers:
            parts[name]["config"][key] = value
        changed.update(takers)
    return changed
