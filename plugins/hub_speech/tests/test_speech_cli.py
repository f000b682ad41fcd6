"""End to end through the ``hub`` command line: fine-tune on generated audio, predict, export."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from hub_speech.signals import sound


def predictions(hub, *args):
    code, out, err = hub("predict", *args, "--json")
    assert code == 0, err
    return {row["input"]: row["answer"] for row in json.loads(out)}


@pytest.fixture
def unseen(tmp_path):
    """New clips unlike the training files: 44.1 kHz stereo, 8 kHz, and a long one."""
    rng = np.random.default_rng(11)
    clips = {"up": (np.stack([sound("up", 1.0, 44100, rng)] * 2, axis=1), 44100),
             "high": (sound("high", 0.8, 8000, rng), 8000), "low": (sound("low", 3.0, 16000, rng), 16000)}
    paths = {}
    for label, (samples, rate) in clips.items():
        paths[label] = str(tmp_path / f"new_{label}.wav")
        soundfile.write(paths[label], samples, rate)
    return paths


@pytest.mark.slow
def test_logmel_learns_tones_predicts_and_its_onnx_graph_agrees(hub, tone_set, unseen, tmp_path):
    out = tmp_path / "run"
    code, _, err = hub("finetune", "speech/logmel-tiny", "--task", "classification", "--data", tone_set, "--out", out,
                       "--epochs", 8, "--batch-size", 16, "--lr", 3e-3, "--val-split", 0.2, "-q")
    assert code == 0, err
    manifest = json.loads((out / "hub.json").read_text())
    assert manifest["metrics"]["accuracy"] >= 0.9, manifest["metrics"]
    assert manifest["preprocessor"]["config"]["sample_rate"] == 16000

    torch_answers = predictions(hub, out, *unseen.values())
    assert sum(torch_answers[path]["label"] == label for label, path in unseen.items()) >= 2, torch_answers
    code, text, err = hub("predict", out, unseen["up"])
    assert code == 0 and text.split("\t")[1] in ("up", "high", "low") and float(text.split("\t")[2]) > 0, (text, err)

    code, _, err = hub("export", out)
    assert code == 0, err
    report = json.loads((out / "export.json").read_text())
    assert report["status"] == "ok", report.get("error")
    seconds = {case["shapes"]["waveform"][1] / 16000 for case in report["validation"]["cases"] if case["source"] == "generated"}
    assert seconds == {0.5, 1.0, 3.0}
    onnx_answers = predictions(hub, out, *unseen.values(), "--onnx")
    for path, answer in torch_answers.items():
        assert onnx_answers[path]["label"] == answer["label"]
        assert abs(onnx_answers[path]["score"] - answer["score"]) < 1e-3  # TF32 convolutions on a GPU


@pytest.mark.slow
def test_wav2vec2_tiny_finetunes_one_epoch_and_exports_with_dynamic_length(hub, tone_set, unseen, tmp_path):
    from safetensors.torch import save_file

    from hub_core.plugin.manager import load_hub
    from hub_speech.wav2vec2 import build_wav2vec2

    _, config, _, _ = load_hub().catalogue.resolve_model("speech/wav2vec2-tiny")
    start = build_wav2vec2(config).model.state_dict()  # "pre-trained" weights in torchaudio's naming
    save_file({k: v.contiguous() for k, v in start.items()}, tmp_path / "start.safetensors")
    out = tmp_path / "w2v"
    code, _, err = hub("finetune", "speech/wav2vec2-tiny", "--task", "classification", "--data", tone_set, "--out", out,
                       "--weights", tmp_path / "start.safetensors", "--epochs", 1, "--batch-size", 8,
                       "--max-seconds", 1.0, "--lr", 1e-3)
    assert code == 0, err
    assert "frozen: FeatureExtractor" in err  # from pre-trained weights, the conv feature encoder stays frozen
    code, _, err = hub("export", out)
    assert code == 0, err
    import onnx

    graph = onnx.load(str(out / "model.onnx"))
    axes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input}
    assert axes == {"waveform": ["batch", "samples"], "lengths": ["batch"]}
    report = json.loads((out / "export.json").read_text())
    assert report["status"] == "ok", report.get("error")
    assert len({case["shapes"]["waveform"][1] for case in report["validation"]["cases"]}) >= 3
    torch_answers, onnx_answers = predictions(hub, out, *unseen.values()), predictions(hub, out, *unseen.values(), "--onnx")
    assert {p: a["label"] for p, a in torch_answers.items()} == {p: a["label"] for p, a in onnx_answers.items()}


@pytest.mark.slow
def test_wav2vec2_tiny_learns_from_scratch(hub, tone_set, tmp_path):
    out = tmp_path / "scratch"
    code, _, err = hub("finetune", "speech/wav2vec2-tiny", "-t", "classification", "-d", tone_set, "-o", out,
                       "--epochs", 6, "--batch-size", 16, "--lr", 2e-3, "--val-split", 0.2, "-q")
    assert code == 0, err
    metrics = json.loads((out / "hub.json").read_text())["metrics"]
    assert metrics["accuracy"] >= 0.8, metrics


@pytest.mark.slow
def test_wav2vec2_with_lora_and_with_the_last_block_unfrozen(hub, tone_set, tmp_path):
    for flags in (("--lora", 4), ("--freeze", "last-1")):
        out = tmp_path / flags[0].strip("-")
        code, _, err = hub("finetune", "speech/wav2vec2-tiny", "-t", "classification", "-d", tone_set, "-o", out,
                           "--max-steps", 3, "--batch-size", 8, "--max-seconds", 0.5, *flags)
        assert code == 0, err
        assert "trainable" in err
        code, text, err = hub("predict", out, next(tone_set.glob("up/*.wav")))
        assert code == 0 and len(text.strip().split("\t")) == 3, err


@pytest.mark.slow
def test_multilabel_sound_events_from_a_csv(hub, tmp_path):
    rng = np.random.default_rng(5)
    rows = ["path,label"]
    (tmp_path / "mix").mkdir()
    for index in range(60):
        kinds = [k for k in ("low", "high", "noise") if rng.random() < 0.5] or ["low"]
        clip = sum(sound(kind, 1.0, 16000, rng) for kind in kinds)
        soundfile.write(str(tmp_path / "mix" / f"{index}.wav"), clip / len(kinds), 16000)
        rows.append(f"mix/{index}.wav,{'|'.join(kinds)}")
    (tmp_path / "mix.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "events"
    code, _, err = hub("finetune", "speech/logmel-tiny", "--task", "multilabel", "--data", tmp_path / "mix.csv",
                       "--out", out, "--epochs", 10, "--batch-size", 8, "--lr", 3e-3, "--val-split", 0.25, "-q")
    assert code == 0, err
    metrics = json.loads((out / "hub.json").read_text())["metrics"]
    assert metrics["f1_micro"] >= 0.8, metrics
    answer = predictions(hub, out, tmp_path / "mix" / "0.wav")
    assert all(item["score"] >= 0.5 for item in next(iter(answer.values()))["labels"])


def test_bad_audio_is_one_clear_line_or_skipped(hub, tone_set, tmp_path, clips):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tone_set, data)
    shutil.copy(clips["text"], data / "low" / "notes.wav")
    code, out, err = hub("finetune", "speech/logmel-tiny", "-t", "classification", "-d", data, "-o", tmp_path / "a")
    assert code == 1 and err.strip() == f"hub: error: {data}/low/notes.wav: not a readable audio file (Format not recognised)"
    assert not (tmp_path / "a").exists()
    code, out, err = hub("finetune", "speech/logmel-tiny", "-t", "classification", "-d", data, "-o", tmp_path / "b",
                         "--skip-bad", "--max-steps", 1, "--epochs", 1, "-q")
    assert code == 0 and "skipped 1 unreadable audio file(s)" in err, err
    code, out, err = hub("predict", tmp_path / "b", clips["text"])
    assert code == 1 and "notes.wav: not a readable audio file" in err and "Traceback" not in err
    code, out, err = hub("finetune", "speech/logmel-tiny", "-t", "classification", "-d", tone_set, "-o", tmp_path / "c",
                         "-p", "max_second=2")
    assert code == 2 and "unknown audio option 'max_second' (did you mean 'max_seconds'?)" in err
