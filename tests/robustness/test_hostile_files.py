"""Hostile files: weights that carry a pickle payload are refused and never executed, by every
path that reads weights; remote code is never trusted; paths in data tables cannot escape
``--data-root``; a model directory cannot name code to run.

The payload is a real one: unpickling it runs ``os.system("touch MARKER")``. Each test
checks that the command fails with one clear line and that MARKER was never created.
"""
from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path

import pytest

from hub_core.model.contracts import ReadOptions
from hub_core.common.errors import DataError
from tests.robustness.helpers import ROOT, TINY, clone_model, run_hub


class Payload:
    """Unpickled, it would create ``marker``: what an attacker's checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def torch_pickle(path: Path, marker: Path) -> Path:
    """A torch.save zip file: a state dict with a real tensor and the payload beside it."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.zeros(2), "extra": Payload(marker)}, path)
    return path


def plain_pickle(path: Path, marker: Path) -> Path:
    """A legacy (non-zip) pickle, as old .pth files are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}, protocol=2))
    return path


def pretrained_folder(folder: Path, marker: Path) -> Path:
    """A save_pretrained folder (config.json of a tiny BERT) whose pytorch_model.bin is hostile."""
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
               vocab_size=100).save_pretrained(folder)
    torch_pickle(folder / "pytorch_model.bin", marker)
    return folder


def assert_refused(result: tuple[int, str, str], marker: Path, says: str) -> None:
    code, _, stderr = result
    assert code == 1, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("hub: error: ") and "Traceback" not in stderr, stderr
    assert says in stderr, stderr
    assert not marker.exists(), "the pickle payload ran"


REFUSED = "cannot be loaded safely with weights_only=True"
# every command-line path that reads weights: the model, where the weights go, how they are made
WEIGHT_PATHS = [
    ("vision-file", TINY["image"], "image", lambda tmp, m: torch_pickle(tmp / "evil.pth", m), REFUSED),
    ("vision-legacy-file", TINY["image"], "image", lambda tmp, m: plain_pickle(tmp / "evil.pth", m), REFUSED),
    ("vision-folder", TINY["image"], "image", lambda tmp, m: torch_pickle(tmp / "w" / "model.pth", m).parent, REFUSED),
    ("speech-wav2vec2", ["speech/wav2vec2-tiny", "-t", "classification"], "audio",
     lambda tmp, m: torch_pickle(tmp / "evil.pt", m), REFUSED),
    ("speech-logmel-legacy", TINY["audio"], "audio", lambda tmp, m: plain_pickle(tmp / "evil.ckpt", m), REFUSED),
    ("nlp-pretrained-folder", ["nlp/hf", "-t", "classification"], "text",
     lambda tmp, m: pretrained_folder(tmp / "bert", m), REFUSED),
]


@pytest.mark.parametrize("name,model,modality,make,says", WEIGHT_PATHS, ids=[w[0] for w in WEIGHT_PATHS])
def test_a_pickle_payload_in_weights_is_refused_and_never_run(tmp_path, data, name, model, modality, make, says):
    marker = tmp_path / "PWNED"
    weights = make(tmp_path, marker)
    result = run_hub("finetune", *model, "--data", data[modality], "--out", tmp_path / "out", "--weights", weights,
                     "--quiet")
    assert_refused(result, marker, says)
    assert not (tmp_path / "out").exists()


def test_a_pickle_payload_in_a_model_directory_or_checkpoint_is_refused(tmp_path, data, models):
    """Model directories and checkpoints are safetensors + JSON: a pickle in their place is junk."""
    marker = tmp_path / "PWNED"
    model = clone_model(models["text"], tmp_path / "model")
    plain_pickle(model / "model.safetensors", marker)
    assert_refused(run_hub("evaluate", model, "--data", data["text"]), marker, "cannot load weights")

    out = tmp_path / "run"
    code, _, err = run_hub("finetune", *TINY["vectors"], "--data", data["vectors"], "--out", out, "--epochs", "1",
                           "--quiet")
    assert code == 0, err
    torch_pickle(out / "checkpoints" / "last" / "optimizer.safetensors", marker)
    assert_refused(run_hub("finetune", *TINY["vectors"], "--data", data["vectors"], "--out", out, "--resume",
                           "--quiet"), marker, "the checkpoint is damaged")


def test_remote_code_is_never_trusted(tmp_path, data):
    """A model folder whose config asks for its own Python code (auto_map): refused, not imported."""
    marker = tmp_path / "PWNED"
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "model_type": "evil-net", "hidden_size": 8,
        "auto_map": {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}}))
    for module in ("configuration_evil", "modeling_evil"):
        (folder / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    result = run_hub("finetune", "nlp/hf", "-t", "classification", "--data", data["text"], "--out", tmp_path / "out",
                     "--weights", folder, "--quiet")
    assert_refused(result, marker, "nlp/hf: cannot build the model")


SOURCES = [ROOT / "hub_core", *sorted((ROOT / "plugins").glob("hub_*/hub_*")), ROOT / "examples"]
UNSAFE = {
    "trust_remote_code enabled": re.compile(r"trust_remote_code\s*=\s*(?!False)"),
    "pickle.load": re.compile(r"pickle\.loads?\("),
    "numpy allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "torch.load without weights_only=True": re.compile(r"torch\.load\((?![^)]*weights_only\s*=\s*True)[^)]*\)"),
}


def test_no_code_enables_remote_code_or_unpickles():
    found = []
    for source in SOURCES:
        for path in source.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(ROOT)}: {what}" for what, pattern in UNSAFE.items() if pattern.search(text)]
    assert found == []


# ----------------------------------------------------------------------------- --data-root
def escaping_tables(root: Path, outside: Path, suffix: str) -> dict[str, Path]:
    """Tables inside ``root`` whose one path leaves it: relatively, absolutely, through a symlink."""
    (root / "link").symlink_to(outside)
    tables = {}
    for name, value in (("relative", f"../{outside.name}"), ("absolute", str(outside)),
                        ("dotdot-inside", f"sub/../../{outside.name}"), ("symlink", "link")):
        table = root / f"{name}.{suffix}"
        if suffix == "csv":
            table.write_text(f"path,label\n{value},a\n")
        else:
            table.write_text(json.dumps({"path": value, "label": "a"}) + "\n")
        tables[name] = table
    return tables


def image_file(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(path)
    return path


def audio_file(path: Path) -> Path:
    import numpy as np
    import soundfile

    soundfile.write(str(path), np.zeros(400, np.float32), 16000)
    return path


READERS = [("image", "hub_vision.data:read_examples", image_file, ".png"),
           ("audio", "hub_speech.data:read_examples", audio_file, ".wav")]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
@pytest.mark.parametrize("modality,reader,make,extension", READERS, ids=[r[0] for r in READERS])
def test_table_paths_cannot_escape_the_data_root(tmp_path, modality, reader, make, extension, suffix):
    from hub_core.plugin.specs import resolve

    root = tmp_path / "root"
    root.mkdir()
    outside = make(tmp_path / f"secret{extension}")
    read = resolve(reader)
    for name, table in escaping_tables(root, outside, suffix).items():
        with pytest.raises(DataError, match=r"path escapes --data-root"):
            read(table, ReadOptions(data_root=str(root)))
    make(root / f"inside{extension}")  # a path that stays inside is read as usual
    (root / f"ok.{suffix}").write_text(f"path,label\ninside{extension},a\n" if suffix == "csv" else
                                      json.dumps({"path": f"inside{extension}", "label": "a"}) + "\n")
    assert [Path(e.input).name for e in read(root / f"ok.{suffix}", ReadOptions(data_root=str(root)))] == \
        [f"inside{extension}"]


# ----------------------------------------------------------------------------- hub.json
@pytest.mark.parametrize("field,value", [("backbone.name", "os:system"), ("task.name", "builtins:exec"),
                                         ("head.name", "subprocess:run"), ("modality", "../../etc")])
def test_a_manifest_cannot_name_code_to_run(tmp_path, models, data, field, value):
    model = clone_model(models["text"], tmp_path / "model")
    manifest = json.loads((model / "hub.json").read_text())
    *parents, last = field.split(".")
    target = manifest
    for key in parents:
        target = target[key]
    target[last] = value
    (model / "hub.json").write_text(json.dumps(manifest))
    code, _, stderr = run_hub("predict", model, "hello")
    assert code == 1 and stderr.count("\n") == 1, stderr
    assert f"field {field} must be a lower-case registered name" in stderr, stderr  # refused as a name, before lookup
