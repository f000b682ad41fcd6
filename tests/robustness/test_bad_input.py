"""Bad input, for every command and every modality: one clear line, a non-zero exit, no
traceback, nothing written.

Each case runs the real ``hub`` command line (in-process) against real files: missing,
empty, binary and wrongly encoded files, missing columns, wrong types, NaN and infinity,
labels never seen in training, empty classes, zero-length audio, corrupt images, huge
lines, unknown names, damaged model directories, wrong ONNX graphs, bad TOML and
contradictory options. For each one the test checks that

  * the exit code is 1 (a failure) or 2 (a usage error),
  * stderr is exactly one line, ``hub: error: ...``, naming what is wrong (the case's
    ``expect``), with no traceback, and stdout is empty,
  * no file was created or changed anywhere: not in the working folder, not in the
    models or data the case read (so a failed run leaves no partial output).

CASES is counted in docs/guarantees.md; ``test_the_readme_states_the_count`` keeps
the figure honest.
"""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tests.robustness.helpers import ROOT, TINY, clone_model, run_hub, snapshot


@dataclass(frozen=True)
class Case:
    command: str
    modality: str  # the data's modality, or "any"
    name: str
    argv: tuple[str, ...]  # {text}, {image}...: data; {text_model}...: model directories; {out}
    expect: str  # what the error line must say
    files: dict = field(default_factory=dict)  # written in the working folder first: name -> str | bytes
    prepare: Callable | None = None  # prepare(workdir, models): e.g. a damaged copy of a model

    @property
    def id(self) -> str:
        return f"{self.command}-{self.modality}-{self.name}"


def finetune(modality: str, *extra: str, data: str | None = None) -> tuple[str, ...]:
    return ("finetune", *TINY[modality], "--data", data or "{" + modality + "}", "--out", "{out}", "--quiet",
            "--epochs", "1", "--max-steps", "1", *extra)


# --------------------------------------------------------------------------- damaged things
def damaged_model(modality: str, *, manifest: Callable | None = None, drop: tuple[str, ...] = (),
                  write: dict | None = None) -> Callable:
    """prepare(): ``model/``, a copy of the modality's model with its hub.json edited,
    files removed or files replaced."""
    def prepare(workdir: Path, models: dict) -> None:
        target = clone_model(models[modality], workdir / "model")
        for name in drop:
            path = target / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        if manifest is not None:
            data = json.loads((target / "hub.json").read_text())
            manifest(data)
            (target / "hub.json").write_text(json.dumps(data))
        for name, content in (write or {}).items():
            content = content() if callable(content) else content
            (target / name).write_bytes(content) if isinstance(content, bytes) else (target / name).write_text(content)
    return prepare


def onnx_graph(input_name: str, width: int) -> bytes:
    """A valid ONNX graph that takes ``input_name`` (batch, width) and gives a classifier's named
    outputs: not the model's export, found out by its inputs."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", width])
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width])
               for name in ("logits", "probabilities")]
    graph = helper.make_graph([helper.make_node("Identity", [input_name], ["logits"]),
                               helper.make_node("Softmax", ["logits"], ["probabilities"])], "other", [x], outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def png(width: int = 16) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, width), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def wav(samples) -> bytes:
    import io

    import numpy as np
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(samples, dtype=np.float32), 16000, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


BINARY = bytes(range(256)) * 8
LATIN1 = "text,label\ncafé olé,sport\n".encode("latin-1")
HUGE = "text,label\n" + "a" * (17 << 20) + ",sport\n"  # beyond the 16 MB field limit
VECTOR_HEADER = ",".join(f"x{i}" for i in range(8)) + ",label\n"


def set_in(path: str, value) -> Callable:
    def edit(manifest: dict) -> None:
        *parents, last = path.split(".")
        target = manifest
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


C = Case
CASES = [
    # ------------------------------------------------------------------ finetune: data, every modality
    C("finetune", "text", "missing-file", finetune("text", data="missing.csv"), "missing.csv: no such file"),
    C("finetune", "text", "empty-file", finetune("text", data="empty.csv"), "empty.csv: the file is empty",
      {"empty.csv": ""}),
    C("finetune", "text", "binary-file", finetune("text", data="binary.csv"), "binary.csv: not UTF-8 text",
      {"binary.csv": BINARY}),
    C("finetune", "text", "latin-1", finetune("text", data="latin1.csv"), "latin1.csv: not UTF-8 text",
      {"latin1.csv": LATIN1}),
    C("finetune", "text", "no-label-column", finetune("text", data="t.csv"), "missing column 'label'",
      {"t.csv": "text\nhello there\n"}),
    C("finetune", "text", "no-text-column", finetune("text", data="t.csv"), "missing column 'text'",
      {"t.csv": "body,label\nhello,a\n"}),
    C("finetune", "text", "one-class", finetune("text", data="t.csv"), "needs at least 2 classes",
      {"t.csv": "text,label\n" + "goal scored,sport\n" * 5}),
    C("finetune", "text", "unseen-val-label", finetune("text", "--val", "v.csv"), "v.csv:2: label 'zebra' was not seen",
      {"v.csv": "text,label\nzebras again,zebra\n"}),
    C("finetune", "text", "number-as-text", finetune("text", data="t.jsonl"), "t.jsonl:1: empty or missing text",
      {"t.jsonl": '{"text": 5, "label": "a"}\n'}),
    C("finetune", "text", "broken-jsonl", finetune("text", data="t.jsonl"), "t.jsonl:2: invalid JSON",
      {"t.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", "label": \n'}),
    C("finetune", "text", "jsonl-not-objects", finetune("text", data="t.jsonl"), "each line must be a JSON object",
      {"t.jsonl": '["a", "x"]\n'}),
    C("finetune", "text", "ragged-csv", finetune("text", data="t.csv"), "t.csv:3: 3 cells but the header has 2",
      {"t.csv": "text,label\nfine,a\nnot,fine,at all\n"}),
    C("finetune", "text", "huge-line", finetune("text", data="t.csv"), "field larger than field limit",
      {"t.csv": HUGE}),
    C("finetune", "text", "empty-text", finetune("text", data="t.csv"), "t.csv:3: empty or missing text",
      {"t.csv": "text,label\nfine,a\n   ,b\n"}),
    C("finetune", "text", "empty-label", finetune("text", data="t.csv"), "t.csv:3: example has no label",
      {"t.csv": "text,label\nfine,a\nalso fine,\n"}),
    C("finetune", "text", "corpus-for-labels", finetune("text", data="c.txt"), "a .txt corpus has no labels",
      {"c.txt": "just lines\nof text\n"}),
    C("finetune", "text", "unknown-suffix", finetune("text", data="t.xlsx"), "cannot read .xlsx as text",
      {"t.xlsx": b"PK\x03\x04"}),
    C("finetune", "text", "regression-words", finetune("text", "-t", "regression"), "is not a number", {}),
    C("finetune", "text", "regression-nan", finetune("text", "-t", "regression", data="t.csv"), "is not finite",
      {"t.csv": "text,label\nsome words,1.5\nmore words,nan\n"}),
    C("finetune", "text", "tags-per-word", finetune("text", "-t", "token-classification", data="t.jsonl"),
      "3 words but 2 tags", {"t.jsonl": '{"tokens": ["a", "b", "c"], "tags": ["O", "O"]}\n'}),
    C("finetune", "text", "no-words", finetune("text", "-t", "token-classification", data="t.conll"),
      "no sentences found", {"t.conll": "-DOCSTART- O\n\n"}),
    C("finetune", "image", "corrupt-image", finetune("image", data="img"), "cannot read image",
      {"img/a/1.png": png(), "img/b/2.png": b"\x89PNG\r\n\x1a\n" + BINARY}),
    C("finetune", "image", "zero-byte-image", finetune("image", data="img"), "img/b/2.jpg: cannot read image",
      {"img/a/1.png": png(), "img/b/2.jpg": b""}),
    C("finetune", "image", "truncated-png", finetune("image", data="img"), "img/b/2.png: cannot read image",
      {"img/a/1.png": png(), "img/b/2.png": png(64)[:120]}),
    C("finetune", "image", "empty-class", finetune("image", data="img"), "class folder 'b' has no images",
      {"img/a/1.png": png(), "img/b/notes.txt": "nothing here"}),
    C("finetune", "image", "loose-images", finetune("image", data="img"), "outside any class subfolder",
      {"img/a/1.png": png(), "img/stray.png": png()}),
    C("finetune", "image", "no-class-folders", finetune("image", data="img"), "found no subfolders",
      {"img/readme.txt": "x"}),
    C("finetune", "image", "csv-missing-image", finetune("image", data="i.csv"), "i.csv:2: image not found",
      {"i.csv": "path,label\ngone.png,a\n"}),
    C("finetune", "image", "csv-no-path-column", finetune("image", data="i.csv"), "no image path column",
      {"i.csv": "picture,label\nx.png,a\n"}),
    C("finetune", "image", "escapes-data-root", finetune("image", "--data-root", "root", data="root/i.csv"),
      "path escapes --data-root", {"root/i.csv": "path,label\n../secret.png,a\n", "secret.png": png()}),
    C("finetune", "image", "wrong-file-type", finetune("image", data="notes.txt"), "expected an image folder",
      {"notes.txt": "x"}),
    C("finetune", "audio", "zero-length-audio", finetune("audio", data="aud"), "holds zero samples",
      {"aud/a/1.wav": wav([0.1] * 800), "aud/b/2.wav": wav([])}),
    C("finetune", "audio", "nan-samples", finetune("audio", data="aud"), "holds NaN or infinite samples",
      {"aud/a/1.wav": wav([0.1] * 800), "aud/b/2.wav": wav([float("nan")] * 800)}),
    C("finetune", "audio", "not-audio", finetune("audio", data="aud"), "aud/b/2.wav: not a readable audio file",
      {"aud/a/1.wav": wav([0.1] * 800), "aud/b/2.wav": "this is text"}),
    C("finetune", "audio", "truncated-wav", finetune("audio", data="aud"), "aud/b/2.wav: not a readable audio file",
      {"aud/a/1.wav": wav([0.1] * 800), "aud/b/2.wav": wav([0.1] * 800)[:30]}),
    C("finetune", "audio", "single-file-unlabelled", finetune("audio", data="one.wav"), "a single audio file has no label",
      {"one.wav": wav([0.1] * 800)}),
    C("finetune", "audio", "csv-missing-clip", finetune("audio", data="a.csv"), "gone.wav: no such audio file",
      {"a.csv": "path,label\ngone.wav,a\n"}),
    C("finetune", "audio", "escapes-data-root", finetune("audio", "--data-root", "root", data="root/a.csv"),
      "path escapes --data-root", {"root/a.csv": "path,label\n/etc/passwd,a\n"}),
    C("finetune", "interactions", "nan-rating", finetune("interactions", data="r.csv"), "r.csv:3: rating is not a finite",
      {"r.csv": "user,item,rating\nu1,i1,4\nu1,i2,nan\n"}),
    C("finetune", "interactions", "inf-rating", finetune("interactions", data="r.csv"), "r.csv:2: rating is not a finite",
      {"r.csv": "user,item,rating\nu1,i1,inf\n"}),
    C("finetune", "interactions", "word-rating", finetune("interactions", data="r.csv"), "rating is not a number",
      {"r.csv": "user,item,rating\nu1,i1,five\n"}),
    C("finetune", "interactions", "no-user-column", finetune("interactions", data="r.csv"), "missing column 'user'",
      {"r.csv": "customer,item,rating\nu1,i1,5\n"}),
    C("finetune", "interactions", "header-only", finetune("interactions", data="r.csv"), "r.csv: contains no examples",
      {"r.csv": "user,item,rating\n"}),
    C("finetune", "interactions", "empty-id", finetune("interactions", data="r.csv"), "r.csv:2: empty user id",
      {"r.csv": "user,item,rating\n,i1,5\n"}),
    C("finetune", "interactions", "bad-timestamp", finetune("interactions", data="r.csv"), "neither a number nor an ISO",
      {"r.csv": "user,item,rating,timestamp\nu1,i1,5,yesterday\n"}),
    C("finetune", "interactions", "rating-range", finetune("interactions", "--read-option", "rating_range=1:5",
                                                           data="r.csv"),
      "rating outside rating_range 1:5", {"r.csv": "user,item,rating\nu1,i1,9\n"}),
    C("finetune", "interactions", "duplicates-error", finetune("interactions", "--read-option", "duplicates=error",
                                                               data="r.csv"),
      "duplicate (user, item) pair", {"r.csv": "user,item,rating\nu1,i1,4\nu1,i1,5\n"}),
    C("finetune", "interactions", "bad-duplicates-option", finetune("interactions", "--read-option", "duplicates=maybe"),
      "duplicates='maybe'"),
    C("finetune", "interactions", "unknown-read-option", finetune("interactions", "--read-option", "colour=red"),
      "unknown reader option 'colour'"),
    C("finetune", "vectors", "not-a-number", finetune("vectors", data="v.csv"), "v.csv:2: feature is not a number",
      {"v.csv": VECTOR_HEADER + "1,2,3,x,5,6,7,8,a\n"}),
    # ------------------------------------------------------------------ finetune: names and options
    C("finetune", "any", "unknown-model", ("finetune", "nlp/bert-tinyy", "-t", "classification", "-d", "{text}",
                                           "-o", "{out}"), "unknown model 'nlp/bert-tinyy'"),
    C("finetune", "any", "unknown-task", finetune("vectors", "-t", "clasification"), "did you mean 'classification'"),
    C("finetune", "any", "task-of-another-modality", finetune("text", "-t", "recsys/rating"),
      "task 'recsys/rating' works on interactions data"),
    C("finetune", "any", "unknown-head", finetune("vectors", "--head", "nohead"), "unknown head 'nohead'"),
    C("finetune", "any", "head-of-wrong-kind", finetune("vectors", "--head", "token-linear"), "consumes sequence"),
    C("finetune", "any", "unknown-head-option", finetune("vectors", "--head-option", "bogus=1"),
      "head 'linear' has no such option"),
    C("finetune", "any", "unknown-task-option", finetune("vectors", "--task-option", "bogus=1"),
      "task 'classification' has no such option"),
    C("finetune", "any", "nan-learning-rate", finetune("vectors", "--lr", "nan"), "positive finite"),
    C("finetune", "any", "zero-learning-rate", finetune("vectors", "--lr", "0"), "positive finite"),
    C("finetune", "any", "inf-head-lr", finetune("vectors", "--head-lr", "inf"), "positive finite"),
    C("finetune", "any", "negative-seed", finetune("vectors", "--seed", "-1"), "seed must be 0 or more"),
    C("finetune", "any", "seed-2-to-the-70", finetune("vectors", "--seed", str(2**70)), "seed must be a whole number"),
    C("finetune", "any", "infinite-max-params", finetune("vectors", "--max-params", "inf"), "PLUGHUB_MAX_PARAMS"),
    C("finetune", "any", "nan-max-params", finetune("vectors", "--max-params", "nan"), "PLUGHUB_MAX_PARAMS"),
    C("finetune", "text", "jsonl-nested-5000-deep", finetune("text", data="t.jsonl"), "t.jsonl:1: JSON nesting",
      {"t.jsonl": '{"text": ' + "[" * 5000 + "]" * 5000 + ', "label": "a"}\n'}),
    C("finetune", "text", "jsonl-nested-100-deep", finetune("text", data="t.jsonl"),
      "t.jsonl:1: JSON nesting 101 levels: at most 64 allowed (PLUGHUB_MAX_JSON_DEPTH)",
      {"t.jsonl": '{"text": ' + "[" * 100 + "]" * 100 + ', "label": "a"}\n'}),
    C("finetune", "any", "toml-nested-5000-deep", finetune("vectors", "--config", "deep.toml"),
      "deep.toml: nested too deeply", {"deep.toml": "lr = " + "[" * 5000 + "]" * 5000 + "\n"}),
    C("finetune", "any", "zero-epochs", finetune("vectors", "--epochs", "0"), "epochs must be at least 1"),
    C("finetune", "any", "negative-clip", finetune("vectors", "--clip", "-1"), "clip must be a finite number"),
    C("finetune", "any", "negative-warmup", finetune("vectors", "--warmup", "-1"), "warmup must be a finite number"),
    C("finetune", "any", "val-split-above-1", finetune("vectors", "--val-split", "1.5"), "val_split must be"),
    C("finetune", "any", "epochs-not-a-number", finetune("vectors", "--epochs", "x"), "'x' is not a valid integer"),
    C("finetune", "any", "unknown-freeze", finetune("vectors", "--freeze", "sometimes"), "freeze = 'sometimes'"),
    C("finetune", "any", "lora-and-frozen-backbone", finetune("vectors", "--lora", "2", "--freeze", "backbone"),
      "contradict"),
    C("finetune", "any", "lora-and-last-n", finetune("vectors", "--lora", "2", "--freeze", "last-1"), "contradict"),
    C("finetune", "any", "resume-and-overwrite", finetune("vectors", "--resume", "--overwrite"), "contradict"),
    C("finetune", "any", "resume-nothing", finetune("vectors", "--resume"), "has no checkpoint to resume from"),
    C("finetune", "any", "out-not-empty", finetune("vectors"), "is not empty", {"out/keep.txt": "precious"}),
    C("finetune", "any", "unknown-device", finetune("vectors", "--device", "banana"), "--device 'banana' is not a device"),
    C("finetune", "any", "unknown-monitor", finetune("vectors", "--monitor", "nometric"),
      "--monitor 'nometric' is not a metric"),
    C("finetune", "any", "missing-input-column", finetune("text", "--input-column", "nope"), "missing column 'nope'"),
    C("finetune", "any", "read-option-without-value", finetune("text", "--read-option", "novalue"), "expected KEY=VALUE"),
    C("finetune", "any", "fusion-part-on-plain-model", finetune("vectors", "--model", "text=nlp/bert-tiny"),
      "names the parts of a new fusion model"),
    C("finetune", "any", "missing-weights", finetune("image", "--weights", "nothing.pth"), "no such file"),
    C("finetune", "any", "text-as-weights", finetune("image", "--weights", "w.pth"), "w.pth: not a readable PyTorch file",
      {"w.pth": "these are not weights"}),
    C("finetune", "any", "weights-for-recsys", finetune("interactions", "--weights", "w.safetensors"),
      "take no --weights", {"w.safetensors": b"x"}),
    C("finetune", "any", "config-missing", finetune("vectors", "--config", "none.toml"), "none.toml: no such file"),
    C("finetune", "any", "config-bad-toml", finetune("vectors", "--config", "c.toml"), "c.toml:1:7:",
      {"c.toml": "[train\nepochs = 1\n"}),
    C("finetune", "any", "config-unknown-key", finetune("vectors", "--config", "c.toml"), "did you mean 'epochs'",
      {"c.toml": "[train]\nepoch = 1\n"}),
    C("finetune", "any", "config-wrong-type", finetune("vectors", "--config", "c.toml"), "epochs = 'many' is not a valid int",
      {"c.toml": "[train]\nepochs = 'many'\n"}),
    C("finetune", "any", "config-binary", finetune("vectors", "--config", "c.toml"), "c.toml: not UTF-8 text",
      {"c.toml": BINARY}),
    C("finetune", "text", "max-length-too-small", finetune("text", "--max-length", "1"), "max_length must be"),
    C("finetune", "text", "unknown-text-option", finetune("text", "-p", "vocab_sise=100"), "did you mean 'vocab_size'"),
    C("finetune", "text", "negative-hidden-size", finetune("text", "--backbone-option", "hidden_size=-3"),
      "cannot build the model"),
    C("finetune", "image", "tiny-image-size", finetune("image", "-p", "image_size=3"), "from 8 to 4096"),
    C("finetune", "image", "unknown-timm-model", ("finetune", "vision/timm:no_such_net", "-t", "classification", "-d",
                                                  "{image}", "-o", "{out}"), "unknown timm model 'no_such_net'"),
    C("finetune", "image", "unknown-backbone-key", finetune("image", "--backbone-option", "colour=1"),
      "unknown config key 'colour'"),
    C("finetune", "audio", "negative-max-seconds", finetune("audio", "--max-seconds", "-1"), "must be from 0 to 86,400"),
    C("finetune", "audio", "nan-max-seconds", finetune("audio", "--max-seconds", "nan"), "max_seconds = nan"),
    C("finetune", "audio", "negative-mel-bands", finetune("audio", "--backbone-option", "n_mels=-1"),
      "n_mels must be a positive whole number"),
    C("finetune", "interactions", "negative-negatives", finetune("interactions", "-p", "negatives=-2"),
      "negatives=-2"),
    C("finetune", "interactions", "zero-dim", finetune("interactions", "--backbone-option", "dim=0"), "must be positive"),
    # ------------------------------------------------------------------ pretrain
    C("pretrain", "text", "labelled-objective", ("pretrain", "nlp/bert-tiny", "--objective", "classification", "-d",
                                                 "{text}", "-o", "{out}"), "not a pre-training objective"),
    C("pretrain", "image", "mlm-on-images", ("pretrain", "vision/timm:test_resnet", "-d", "{image}", "-o", "{out}"),
      "task 'mlm' works on text data"),
    C("pretrain", "text", "binary-corpus", ("pretrain", "nlp/bert-tiny", "-d", "c.txt", "-o", "{out}"),
      "c.txt: not UTF-8 text", {"c.txt": BINARY}),
    C("pretrain", "text", "empty-folder", ("pretrain", "nlp/bert-tiny", "-d", "corpus", "-o", "{out}"),
      "the folder has no .txt files", {"corpus/readme.md": "x"}),
    # ------------------------------------------------------------------ evaluate: damaged model directories
    C("evaluate", "any", "not-a-model-dir", ("evaluate", "folder", "-d", "{text}"), "not a model directory",
      {"folder/x.txt": "x"}),
    C("evaluate", "text", "manifest-not-json", ("evaluate", "model", "-d", "{text}"), "hub.json: not valid JSON",
      prepare=damaged_model("text", write={"hub.json": "{not json"})),
    C("evaluate", "text", "manifest-a-list", ("evaluate", "model", "-d", "{text}"), "no integer format_version",
      prepare=damaged_model("text", write={"hub.json": "[1, 2]"})),
    C("evaluate", "text", "manifest-newer", ("evaluate", "model", "-d", "{text}"), "newer than this hub's",
      prepare=damaged_model("text", manifest=set_in("format_version", 99))),
    C("evaluate", "text", "manifest-missing-field", ("evaluate", "model", "-d", "{text}"), "missing field 'task'",
      prepare=damaged_model("text", manifest=lambda m: m.pop("task"))),
    C("evaluate", "text", "manifest-wrong-type", ("evaluate", "model", "-d", "{text}"),
      "field backbone.config must be an object", prepare=damaged_model("text", manifest=set_in("backbone.config", "x"))),
    C("evaluate", "text", "unknown-backbone", ("evaluate", "model", "-d", "{text}"),
      "names backbone 'nlp/gpt9', which no installed plugin provides",
      prepare=damaged_model("text", manifest=set_in("backbone.name", "nlp/gpt9"))),
    C("evaluate", "text", "backbone-of-another-modality", ("evaluate", "model", "-d", "{text}"),
      "backbone 'vision/timm' is for 'image'", prepare=damaged_model("text", manifest=set_in("backbone.name",
                                                                                             "vision/timm"))),
    C("evaluate", "text", "config-does-not-fit-weights", ("evaluate", "model", "-d", "{text}"),
      "feature size 64, hub.json says 32", prepare=damaged_model("text", manifest=set_in("backbone.config.hidden_size",
                                                                                         64))),
    C("evaluate", "text", "unknown-task", ("evaluate", "model", "-d", "{text}"), "names task 'nope'",
      prepare=damaged_model("text", manifest=set_in("task.name", "nope"))),
    C("evaluate", "text", "task-state-foreign", ("evaluate", "model", "-d", "{text}"), "task.state does not fit",
      prepare=damaged_model("text", manifest=set_in("task.state", {}))),
    C("evaluate", "text", "head-options-foreign", ("evaluate", "model", "-d", "{text}"), "has no such option",
      prepare=damaged_model("text", manifest=set_in("head.options", {"width": 3}))),
    C("evaluate", "text", "head-size-does-not-fit", ("evaluate", "model", "-d", "{text}"), "cannot load weights",
      prepare=damaged_model("text", manifest=set_in("head.num_outputs", 7))),
    C("evaluate", "text", "weights-missing", ("evaluate", "model", "-d", "{text}"), "no model.safetensors",
      prepare=damaged_model("text", drop=("model.safetensors",))),
    C("evaluate", "text", "weights-corrupt", ("evaluate", "model", "-d", "{text}"), "cannot load weights",
      prepare=damaged_model("text", write={"model.safetensors": BINARY})),
    C("evaluate", "text", "weights-a-pickle", ("evaluate", "model", "-d", "{text}"), "cannot load weights",
      prepare=damaged_model("text", write={"model.safetensors": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."})),
    C("evaluate", "text", "tokenizer-missing", ("evaluate", "model", "-d", "{text}"), "no tokenizer.json",
      prepare=damaged_model("text", drop=("preprocessor",))),
    C("evaluate", "text", "tokenizer-corrupt", ("evaluate", "model", "-d", "{text}"), "not a valid tokenizer.json",
      prepare=damaged_model("text", write={"preprocessor/tokenizer.json": "{}"})),
    # an untrusted hub.json: every field the hub reads is checked (issue 18), the model sized before it is built
    *[C("evaluate", "text", f"manifest-{name}", ("evaluate", "model", "-d", "{text}"), expect,
        prepare=damaged_model("text", manifest=set_in(field, value)))
      for name, field, value, expect in [
          ("negative-outputs", "head.num_outputs", -1, "field head.num_outputs must be a whole number of at least 1"),
          ("boolean-outputs", "head.num_outputs", True, "field head.num_outputs must be a whole number of at least 1"),
          ("zero-feature-dim", "backbone.feature_dim", 0, "field backbone.feature_dim must be a whole number of at"),
          ("bad-modality-name", "modality", "Text!", "field modality must be a lower-case registered name"),
          ("boolean-version", "format_version", True, "no integer format_version of at least 1"),
          ("inputs-without-axes", "inputs", [{"name": "input_ids"}], "field inputs must be a list of {name, dtype"),
          ("negative-axis", "inputs", [{"name": "x", "dtype": "int64", "axes": ["batch", -3]}], "field inputs must be"),
          ("plugins-not-a-list", "plugins", "hub-nlp", "field plugins must be a list of distribution names"),
          ("output-names-numbers", "task.output_names", [1, 2], "field task.output_names must be a list of strings"),
          ("val-split-above-one", "data.val_split", 5, "field data.val_split must be a number from 0 to below 1"),
          ("seed-a-string", "data.seed", "zero", "field data.seed must be a whole number"),
          ("metrics-a-list", "metrics", [], "field metrics must be an object"),
          ("a-million-layers", "backbone.config.num_hidden_layers", 10**6, "hub.json: more than 100,000 modules"),
          ("a-trillion-outputs", "head.num_outputs", 10**12, "more than 1,000,000,000 parameters"),
      ]],
    C("predict", "any", "manifest-a-million-empty-layers", ("predict", "model", "1,2,3,4,5,6,7,8"),
      "hub.json: more than 100,000 modules", prepare=damaged_model("vectors", manifest=set_in("backbone.config.depth", 10**6))),
    C("evaluate", "image", "preprocessor-config-foreign", ("evaluate", "model", "-d", "{image}"),
      "image option 'image_size'", prepare=damaged_model("image", manifest=set_in("preprocessor.config.image_size",
                                                                                  "big"))),
    C("evaluate", "audio", "preprocessor-config-foreign", ("evaluate", "model", "-d", "{audio}"),
      "audio option sample_rate", prepare=damaged_model("audio", manifest=set_in("preprocessor.config.sample_rate",
                                                                                 -5))),
    C("evaluate", "interactions", "vocabulary-missing", ("evaluate", "model", "-d", "{interactions}"),
      "cannot read the interaction vocabularies", prepare=damaged_model("interactions", drop=("preprocessor/vocab.json",))),
    C("evaluate", "text", "unseen-label", ("evaluate", "{text_model}", "-d", "v.csv"), "label 'zebra' was not seen",
      {"v.csv": "text,label\nzebras again,zebra\n"}),
    C("evaluate", "text", "other-modality-data", ("evaluate", "{text_model}", "-d", "{interactions}"),
      "missing column 'text'"),
    C("evaluate", "interactions", "other-modality-data", ("evaluate", "{interactions_model}", "-d", "{text}"),
      "missing column 'user'"),
    C("evaluate", "image", "corrupt-image", ("evaluate", "{image_model}", "-d", "img"), "cannot read image",
      {"img/blue/1.png": png(), "img/red/2.png": BINARY}),
    # ------------------------------------------------------------------ predict: every modality, torch and ONNX
    C("predict", "text", "empty-text", ("predict", "{text_model}", ""), "empty text"),
    C("predict", "text", "blank-text", ("predict", "{text_model}", "   "), "empty text"),
    C("predict", "text", "bad-table", ("predict", "{text_model}", "p.csv"), "missing column 'text'",
      {"p.csv": "body\nhello\n"}),
    C("predict", "image", "corrupt-image", ("predict", "{image_model}", "pic.png"), "pic.png: cannot read image",
      {"pic.png": "not a png"}),
    C("predict", "image", "missing-image", ("predict", "{image_model}", "nothere.png"), "nothere.png: image not found"),
    C("predict", "image", "a-folder-of-nothing", ("predict", "{image_model}", "empty"), "no images found",
      {"empty/notes.txt": "x"}),
    C("predict", "audio", "not-audio", ("predict", "{audio_model}", "clip.wav"), "clip.wav: not a readable audio file",
      {"clip.wav": "not audio"}),
    C("predict", "audio", "zero-length", ("predict", "{audio_model}", "clip.wav"), "holds zero samples",
      {"clip.wav": wav([])}),
    C("predict", "audio", "a-word-not-a-path", ("predict", "{audio_model}", "hello"), "hello: no such audio file"),
    C("predict", "interactions", "incomplete-pair", ("predict", "{interactions_model}", "u1"), "'u1' is incomplete"),
    C("predict", "vectors", "not-numbers", ("predict", "{vectors_model}", "1,2,x"), "could not convert"),
    C("predict", "any", "top-k-zero", ("predict", "{vectors_model}", "1,2,3,4,5,6,7,8", "--top-k", "0"),
      "'--top-k' / '-k': 0 is not in the range"),
    C("predict", "any", "onnx-not-exported", ("predict", "{vectors_model}", "1,2,3,4,5,6,7,8", "--onnx"),
      "no model.onnx: run 'hub export"),
    C("predict", "any", "onnx-garbage", ("predict", "model", "1,2,3,4,5,6,7,8", "--onnx"), "onnxruntime cannot load it",
      prepare=damaged_model("vectors", write={"model.onnx": BINARY})),
    C("predict", "any", "onnx-other-inputs", ("predict", "model", "1,2,3,4,5,6,7,8", "--onnx"),
      "the graph needs input(s) pixel_values", prepare=damaged_model("vectors",
                                                                     write={"model.onnx": lambda: onnx_graph(
                                                                         "pixel_values", 8)})),
    C("predict", "any", "onnx-other-shapes", ("predict", "model", "1,2,3,4,5,6,7,8", "--onnx"),
      "onnxruntime rejects the inputs x (1, 8)", prepare=damaged_model("vectors",
                                                                       write={"model.onnx": lambda: onnx_graph("x", 3)})),
    # ------------------------------------------------------------------ export and bench
    C("export", "any", "not-a-model-dir", ("export", "folder"), "not a model directory", {"folder/x.txt": "x"}),
    C("export", "text", "weights-corrupt", ("export", "model"), "cannot load weights",
      prepare=damaged_model("text", write={"model.safetensors": BINARY})),
    C("export", "any", "opset-too-old", ("export", "{vectors_model}", "--opset", "5"), "5 is not in the range"),
    C("export", "any", "negative-tolerance", ("export", "{vectors_model}", "--atol", "-1"), "-1.0 is not in the range"),
    C("bench", "any", "batch-zero", ("bench", "{vectors_model}", "--batch", "0"), "expected batch sizes like 1,16"),
    C("bench", "any", "batch-word", ("bench", "{vectors_model}", "--batch", "x"), "expected batch sizes like 1,16"),
    C("bench", "any", "not-exported", ("bench", "{vectors_model}"), "no model.onnx"),
    # ------------------------------------------------------------------ catalogue commands and registries
    C("info", "any", "unknown-name", ("info", "nlp/nothing"), "did you mean 'nlp/hf'"),
    C("list", "any", "unknown-kind", ("list", "widgets"), "'widgets' is not one of"),
    C("list", "any", "unknown-modality", ("list", "--modality", "smell"), "unknown modality 'smell'"),
    C("list", "any", "registry-missing", ("--registry", "none.toml", "list"), "'none.toml' does not exist"),
    C("list", "any", "registry-syntax", ("--registry", "r.toml", "list"), "r.toml:1:13:",
      {"r.toml": '[presets."x"\nbackbone = "nlp/hf"\n'}),
    C("list", "any", "registry-unknown-table", ("--registry", "r.toml", "list"), "did you mean 'presets'",
      {"r.toml": '[presetz."x"]\nbackbone = "nlp/hf"\n'}),
    C("list", "any", "registry-presets-not-a-table", ("--registry", "r.toml", "list"), "presets must be a table",
      {"r.toml": "presets = 3\n"}),
    C("list", "any", "registry-unknown-key", ("--registry", "r.toml", "list"), "r.toml:3:1: preset 'x': unknown key",
      {"r.toml": '[presets."x"]\nbackbone = "nlp/hf"\nconfg = {}\n'}),
    C("list", "any", "registry-wrong-type", ("--registry", "r.toml", "list"), "config must be a table",
      {"r.toml": '[presets."x"]\nbackbone = "nlp/hf"\nconfig = "big"\n'}),
    C("list", "any", "registry-no-backbone", ("--registry", "r.toml", "list"), "needs backbone",
      {"r.toml": '[presets."x"]\nconfig = {}\n'}),
    C("list", "any", "registry-bad-name", ("--registry", "r.toml", "list"), "preset name 'Bad Name!' must be",
      {"r.toml": '[presets."Bad Name!"]\nbackbone = "nlp/hf"\n'}),
    C("list", "any", "registry-duplicate", ("--registry", "r.toml", "list"), "Cannot declare",
      {"r.toml": '[presets."x"]\nbackbone = "nlp/hf"\n[presets."x"]\nbackbone = "nlp/hf"\n'}),
    C("list", "any", "registry-plugins-not-strings", ("--registry", "r.toml", "list"), "must be a table of strings",
      {"r.toml": "[plugins.x]\ninstall = 3\n"}),
    C("list", "any", "registry-binary", ("--registry", "r.toml", "list"), "r.toml: not UTF-8 text",
      {"r.toml": BINARY}),
    C("list", "any", "project-registry-broken", ("list",), "plughub.toml:1:2: unknown table",
      {"plughub.toml": "[preset]\n"}),
    C("finetune", "any", "preset-of-unknown-backbone", ("--registry", "r.toml", "finetune", "x", "-t", "classification",
                                                        "-d", "{text}", "-o", "{out}"),
      "unknown backbone 'nlp/nothing'", {"r.toml": '[presets."x"]\nbackbone = "nlp/nothing"\n'}),
    C("plugins", "any", "uninstall-unknown", ("plugins", "uninstall", "not-a-plugin", "-y"),
      "'not-a-plugin' is not an installed plugin"),
    C("plugins", "any", "editable-not-a-path", ("plugins", "install", "-e", "not-a-path"), "--editable needs a local path"),
    # ------------------------------------------------------------------ plugin commands
    C("recommend", "text", "not-a-recommender", ("recommend", "{text_model}", "--user", "u1"), "not a recommender"),
    C("recommend", "interactions", "k-zero", ("recommend", "{interactions_model}", "--user", "u1", "--k", "0"),
      "0 is not in the range"),
    C("split-interactions", "interactions", "nan-rating", ("split-interactions", "r.csv", "-o", "{out}"),
      "rating is not a finite", {"r.csv": "user,item,rating\nu1,i1,nan\n"}),
    C("export-towers", "text", "not-factorised", ("export-towers", "{text_model}"), "does not factorise into towers"),
    C("vision imagenet", "image", "no-pretrained-weights", ("vision", "imagenet", "vision/timm:test_resnet", "-o",
                                                            "{out}"), "has no pretrained weights"),
]


def fill(argv: tuple[str, ...], values: dict) -> list[str]:
    return [arg.format_map(values) if "{" in arg else arg for arg in argv]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_clear_line_and_writes_nothing(case, workdir, data, models):
    for name, content in case.files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    if case.prepare:
        case.prepare(workdir, models)
    values = {**{k: str(v) for k, v in data.items()}, **{f"{k}_model": str(v) for k, v in models.items()},
              "out": str(workdir / "out")}
    watched = (workdir, *models.values(), *(p if p.is_dir() else p.parent for p in data.values()))
    before = snapshot(*watched)

    code, stdout, stderr = run_hub(*fill(case.argv, values))

    assert code in (1, 2), f"exit {code}: {stderr or stdout}"
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hub: error: "), stderr
    assert case.expect in lines[0], lines[0]
    assert stdout == ""
    assert snapshot(*watched) == before, "a failed command created or changed files"


def test_the_cases_cover_every_command_and_modality():
    commands = {case.command.split()[0] for case in CASES}
    assert {"finetune", "pretrain", "evaluate", "predict", "export", "bench", "info", "list", "plugins", "recommend",
            "split-interactions", "export-towers", "vision"} <= commands
    assert {"text", "image", "audio", "interactions"} <= {case.modality for case in CASES}
    assert len({case.id for case in CASES}) == len(CASES)


def test_the_readme_states_the_count():
    found = re.search(r"(\d+) bad-input cases", (ROOT / "docs" / "guarantees.md").read_text())
    assert found and int(found[1]) == len(CASES), f"docs/guarantees.md should say '{len(CASES)} bad-input cases'"


def test_debug_shows_the_traceback_with_the_same_exit_code(workdir):
    (workdir / "folder").mkdir()
    code, _, stderr = run_hub("evaluate", "folder", "-d", "x.csv", "--debug")
    assert code == 1 and "Traceback" in stderr and stderr.rstrip().endswith("not a model directory (no hub.json)")
