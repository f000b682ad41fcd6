"""Fuzzing (hypothesis): the readers, the registry/config/manifest parsers and the
preprocessors meet generated input, and may fail only with the hub's own errors
(``HubError`` and its subclasses), never a raw Python exception.

Generated input mixes raw bytes with near-valid structure (tables with plausible column
names and hostile cells: NaN, inf, empty, NUL, ``..`` paths, very long values; TOML with
real keys and wrong types; manifests with real fields and wrong values). Preprocessors
are fed as the engine feeds them, through ``ExampleSet``, whose contract turns a
preprocessor's ValueError about one input into a DataError naming that input.

Runs are derandomized (the same examples on every CI run) and modest; EXAMPLES counts
them for docs/guarantees.md.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hub_core.model.contracts import Example, ReadOptions
from hub_core.common.errors import HubError
from hub_core.plugin.specs import resolve

EXAMPLES = 120
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
WORKDIR = Path(tempfile.mkdtemp(prefix="plughub-fuzz-"))

# ----------------------------------------------------------------------------- strategies
NAMES = st.sampled_from(["text", "label", "path", "image", "user", "item", "rating", "timestamp", "tokens", "tags",
                         "x0", "x1", "", " label"]) | st.text(max_size=8)
HOSTILE = st.sampled_from(["nan", "inf", "-inf", "1e309", "", " ", "0", "-1", "5", "a|b", "../x.png", "/etc/passwd",
                           "\x00", "é", '"', "'", "\\", "a" * 5000, "2024-13-45", "1" * 40, "[1, 2]", "null"])
CELLS = HOSTILE | st.text(max_size=12) | st.integers().map(str) | st.floats().map(str)
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | CELLS,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
                           max_leaves=8)


@st.composite
def table_text(draw, separator=","):
    header = draw(st.lists(NAMES, max_size=5))
    rows = draw(st.lists(st.lists(CELLS, max_size=6), max_size=6))
    return "\n".join(separator.join(cells) for cells in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))


@st.composite
def jsonl_text(draw):
    rows = draw(st.lists(st.dictionaries(NAMES, JSON_VALUES, max_size=5) | JSON_VALUES, max_size=6))
    lines = [json.dumps(row) for row in rows]
    if lines and draw(st.booleans()):
        lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]  # a cut-off last line
    return "\n".join(lines)


def file_content(text_strategy):
    """Structured text (UTF-8, sometimes Latin-1 or with a BOM), or raw bytes."""
    encoded = st.tuples(text_strategy, st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])).map(
        lambda pair: pair[0].encode(pair[1], errors="replace"))
    return encoded | st.binary(max_size=400)


CONTENT = {".csv": file_content(table_text()), ".tsv": file_content(table_text("\t")),
           ".jsonl": file_content(jsonl_text()), ".txt": file_content(st.text(max_size=200)),
           ".conll": file_content(st.lists(st.text(max_size=20), max_size=8).map("\n".join)),
           ".png": st.binary(max_size=400), ".wav": st.binary(max_size=400)}


def write(name: str, content: bytes) -> Path:
    path = WORKDIR / name
    path.write_bytes(content)
    return path


def only_hub_errors(function, *args, **kwargs):
    """Call; a HubError is a fine answer to bad input, anything else fails the test."""
    try:
        return function(*args, **kwargs)
    except HubError:
        return None


# ----------------------------------------------------------------------------- readers
def test_iter_rows_of_any_table():
    from hub_core.common.table import iter_rows

    @FUZZ
    @given(suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]), data=st.data())
    def check(suffix, data):
        path = write(f"rows{suffix}", data.draw(CONTENT[suffix]))
        only_hub_errors(lambda: list(iter_rows(path, required=data.draw(st.lists(NAMES, max_size=2)))))

    check()


READERS = {
    "text": ("hub_nlp.data:read_examples", [".csv", ".tsv", ".jsonl", ".txt", ".conll"]),
    "image": ("hub_vision.data:read_examples", [".csv", ".jsonl", ".png"]),
    "audio": ("hub_speech.data:read_examples", [".csv", ".jsonl", ".wav"]),
    "interactions": ("hub_recsys.data:read_examples", [".csv", ".tsv", ".jsonl"]),
}
READ_OPTIONS = st.builds(
    ReadOptions, input_columns=st.lists(NAMES, max_size=3).map(tuple), label_column=NAMES, skip_bad=st.booleans(),
    data_root=st.sampled_from([None, str(WORKDIR), "/nonexistent"]), labelled=st.booleans(),
    extra=st.dictionaries(st.sampled_from(["duplicates", "rating_range", "user_column", "timestamp_column", "x"]),
                          CELLS | st.integers(), max_size=2))


@pytest.mark.parametrize("modality", READERS)
def test_a_reader_on_any_file(modality):
    reader, suffixes = READERS[modality]
    read = resolve(reader)

    @FUZZ
    @given(suffix=st.sampled_from(suffixes), options=READ_OPTIONS, data=st.data())
    def check(suffix, options, data):
        path = write(f"{modality}{suffix}", data.draw(CONTENT[suffix]))
        examples = only_hub_errors(read, path, options)
        if examples is not None:
            list(examples)  # an interaction log is lazy: every example must come out too

    check()


# ----------------------------------------------------------------------------- registry, config, manifest
TOML_SCALARS = (st.integers(-10**20, 10**20).map(str) | st.floats().map(lambda x: {"nan": "nan", "inf": "inf",
                                                                                     "-inf": "-inf"}.get(str(x), repr(x)))
                | st.booleans().map(lambda b: str(b).lower()) | CELLS.map(json.dumps))
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.lists(inner, max_size=3).map(lambda v: f"[{', '.join(v)}]")
                           | st.dictionaries(st.sampled_from(["a", "model_name", "dim"]), inner, max_size=2).map(
                               lambda d: "{ " + ", ".join(f"{k} = {v}" for k, v in d.items()) + " }"), max_leaves=4)


def toml_table(header: str, keys) -> st.SearchStrategy:
    return st.dictionaries(keys, TOML_VALUES, max_size=5).map(
        lambda table: f"{header}\n" + "".join(f"{json.dumps(k)} = {v}\n" for k, v in table.items()))


TRAIN_KEYS = st.sampled_from(["epochs", "batch_size", "lr", "head_lr", "seed", "freeze", "lora", "warmup", "clip",
                              "val_split", "schedule", "precision", "monitor", "head_options", "preprocess",
                              "device", "max_steps"]) | st.text(max_size=6)
PRESET_KEYS = st.sampled_from(["backbone", "config", "weights", "head", "task", "description"]) | st.text(max_size=6)
REGISTRY = st.lists(st.one_of(toml_table('[presets."a/b"]', PRESET_KEYS), toml_table("[plugins.x]", PRESET_KEYS),
                              toml_table("[presets]", st.text(max_size=5)), toml_table("", PRESET_KEYS)),
                    max_size=3).map("".join)


def test_registry_files():
    from hub_core.plugin.catalogue import Catalogue

    @FUZZ
    @given(content=file_content(REGISTRY))
    def check(content):
        only_hub_errors(Catalogue().add_presets_file, write("registry.toml", content))

    check()


def test_training_config_files_and_flags():
    from hub_core.train.config import build_config, parse_pairs

    flags = st.dictionaries(TRAIN_KEYS.filter(lambda k: k.isidentifier() and k not in (
        "head_options", "preprocess", "task_options", "backbone_options")), st.none() | CELLS | st.integers() |
        st.floats(), max_size=4)

    @FUZZ
    @given(content=file_content(st.one_of(toml_table("[train]", TRAIN_KEYS), toml_table("", TRAIN_KEYS))),
           overrides=flags, pairs=st.lists(CELLS, max_size=3))
    def check(content, overrides, pairs):
        only_hub_errors(build_config, write("train.toml", content), {k: v for k, v in overrides.items()
                                                                     if k in TRAIN_FIELDS})
        only_hub_errors(parse_pairs, tuple(pairs), "--preprocess")

    from hub_core.train.config import TrainConfig
    TRAIN_FIELDS = set(TrainConfig.__dataclass_fields__)
    check()


def test_any_toml_bytes():
    from hub_core.common.tomlfile import load_toml

    @FUZZ
    @given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
    def check(content):
        only_hub_errors(load_toml, write("any.toml", content))

    check()


def mutate(value, draw):
    """The same JSON with some leaves replaced by hostile values."""
    if isinstance(value, dict):
        return {k: mutate(v, draw) for k, v in value.items() if not draw(st.integers(0, 30)) == 0}
    if isinstance(value, list):
        return [mutate(v, draw) for v in value]
    return draw(JSON_VALUES) if draw(st.integers(0, 8)) == 0 else value


def test_damaged_manifests(models):
    from hub_core.model.manifest import MANIFEST, load_preprocessor_and_task, read_manifest
    from hub_core.plugin.manager import load_hub
    from tests.robustness.helpers import clone_model

    catalogue = load_hub().catalogue
    folders = {m: clone_model(models[m], WORKDIR / f"model-{m}") for m in ("vectors", "interactions")}
    originals = {m: json.loads((folder / MANIFEST).read_text()) for m, folder in folders.items()}

    @FUZZ
    @given(modality=st.sampled_from(sorted(folders)), data=st.data())
    def check(modality, data):
        manifest = mutate(originals[modality], data.draw) if data.draw(st.booleans()) else data.draw(JSON_VALUES)
        (folders[modality] / MANIFEST).write_text(json.dumps(manifest))
        only_hub_errors(read_manifest, folders[modality])
        only_hub_errors(load_preprocessor_and_task, catalogue, folders[modality])

    check()


# ----------------------------------------------------------------------------- preprocessors
RAW = (st.none() | st.booleans() | st.integers() | st.floats() | CELLS | st.lists(CELLS, max_size=4)
       | st.tuples(CELLS, CELLS) | st.tuples(CELLS, CELLS, CELLS) | st.dictionaries(NAMES, CELLS, max_size=3)
       | hnp.arrays(st.sampled_from([np.float32, np.float64, np.int16, np.uint8, np.bool_]),
                    hnp.array_shapes(min_dims=0, max_dims=4, max_side=6)))
CONFIG_VALUES = st.none() | st.booleans() | st.integers(-5, 5000) | st.floats() | CELLS | st.lists(st.integers(-2, 300),
                                                                                                     max_size=4)


def fitted(modality: str, config: dict):
    """The modality's preprocessor built from ``config`` and fitted on a few real examples."""
    if modality == "text":
        from hub_nlp.preprocess import TextPreprocessor as cls
        examples = [Example(f"words about topic {i} and more words", "a") for i in range(8)]
    elif modality == "image":
        from hub_vision.preprocess import ImagePreprocessor as cls
        examples = []
    elif modality == "audio":
        from hub_speech.preprocess import AudioPreprocessor as cls
        examples = []
    else:
        from hub_recsys.preprocess import InteractionPreprocessor as cls
        examples = [Example({"user": f"u{i % 3}", "item": f"i{i % 5}"}, 1.0) for i in range(10)]
    preprocessor = cls(config)
    preprocessor.fit(examples)
    return preprocessor


OPTION_NAMES = {
    "text": ["vocab_size", "lowercase", "min_frequency", "max_length", "token_type_ids", "pair_separator", "tokenizer"],
    "image": ["image_size", "interpolation", "mean", "std", "crop_pct", "crop_mode", "augment", "min_scale", "hflip",
              "color_jitter"],
    "audio": ["sample_rate", "max_seconds", "fixed_length", "normalize", "min_samples", "random_crop"],
    "interactions": ["negatives", "feature_separator", "user_features"],
}


@pytest.mark.parametrize("modality", OPTION_NAMES)
def test_preprocessor_options(modality):
    @FUZZ
    @given(config=st.dictionaries(st.sampled_from(OPTION_NAMES[modality]) | st.text(max_size=5), CONFIG_VALUES,
                                  max_size=3))
    def check(config):
        only_hub_errors(fitted, modality, config)

    check()


@pytest.mark.parametrize("modality", OPTION_NAMES)
def test_preprocessor_inputs_through_the_engine(modality):
    from hub_core.data.sets import ExampleSet

    small = {"image": {"image_size": 16}, "text": {"vocab_size": 100, "max_length": 16}}.get(modality, {})
    preprocessor = fitted(modality, small)

    @FUZZ
    @given(raw=RAW, train=st.booleans())
    def check(raw, train):
        data = only_hub_errors(ExampleSet, [Example(raw, None, "fuzz")], preprocessor, None, train=train, seed=1,
                               labelled=False)
        if data is not None:
            only_hub_errors(data.collate, [0])

    check()
