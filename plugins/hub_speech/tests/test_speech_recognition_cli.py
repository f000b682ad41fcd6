"""speech-recognition end to end through the ``hub`` command line, on words spelt in two-tone
letters (hub_speech.spelled; no speech synthesiser needed): finetune -> evaluate -> export ->
predict --onnx -> serve, torch and onnxruntime giving the same greedy transcripts, and the
one-line errors for the data a person gets wrong."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hub_speech.spelled import spell, write_transcribed
from tests.test_runtime import predict_without_torch
from tests.test_serve import RUN_HUB, serving, upload

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recogniser(tmp_path_factory):
    """(folder, model directory): a tiny Conformer trained on 200 spelt clips, exported."""
    from hub_core.testing import run_hub

    folder = tmp_path_factory.mktemp("asr")
    write_transcribed(folder / "train", 200, seed=0)
    write_transcribed(folder / "test", 24, seed=1)
    model = folder / "model"
    code, _, err = run_hub("finetune", "speech/conformer-tiny", "--data", folder / "train", "--val", folder / "test",
                           "--out", model, "--epochs", 15, "--workers", 0, "--seed", 0, "-q")
    assert code == 0, err
    code, _, err = run_hub("export", model)
    assert code == 0, err
    return folder, model


def clips(folder, n: int) -> list[str]:
    return [str(p) for p in sorted((folder / "test").glob("*.wav"))[:n]]


def test_it_learns_to_transcribe_and_onnx_scores_alike(hub, recogniser):
    folder, model = recogniser
    manifest = json.loads((model / "hub.json").read_text())
    assert manifest["task"]["output_names"] == ["log_probs", "frames"]
    assert manifest["monitor"]["metric"] == "wer" and manifest["monitor"]["mode"] == "min"
    assert manifest["preprocessor"]["config"]["long_clips"] == "refuse"
    report = json.loads((model / "export.json").read_text())
    assert report["status"] == "ok" and report["outputs"] == ["log_probs", "frames"]
    assert len({case["shapes"]["waveform"][1] for case in report["validation"]["cases"]}) >= 3  # several durations
    scores = {}
    for engine in ((), ("--onnx",)):
        code, out, err = hub("evaluate", model, "--data", folder / "test", "--json", *engine)
        assert code == 0, err
        scores[engine] = json.loads(out)
    on_torch, on_onnx = scores[()], scores[("--onnx",)]
    assert on_torch["cer"] < 0.3, on_torch  # it learnt the letters: 24 unseen clips of unseen word orders
    assert (on_onnx["wer"], on_onnx["cer"]) == (on_torch["wer"], on_torch["cer"])
    for row in on_torch["worst_utterances"]:  # each error names its clip, for a person to read
        assert row["source"].endswith(".wav") and row["word_errors"] >= 1 and row["reference"] != row["hypothesis"]


def test_torch_onnx_and_the_server_give_the_same_transcripts(hub, recogniser, tmp_path):
    folder, model = recogniser
    inputs = clips(folder, 6)
    code, out, err = hub("predict", model, "--json", *inputs)
    assert code == 0, err
    on_torch = [row["answer"] for row in json.loads(out)]
    on_onnx = predict_without_torch(tmp_path, RUN_HUB + ["predict", str(model), "--onnx", "--json", *inputs])
    assert [a["text"] for a in on_torch] == [a["text"] for a in on_onnx]
    assert any(a["text"] for a in on_torch)
    for answer in on_onnx:  # word times from the alignment, in order, inside the clip
        times = [t for word in answer.get("words", []) for t in (word["start"], word["end"])]
        assert times == sorted(times) and " ".join(w["word"] for w in answer.get("words", [])) == answer["text"]
    with serving(tmp_path, model) as server:
        served = server.answers("model", [upload(p) for p in inputs])
        from tests.test_serve_v2 import infer_raw  # the Open Inference Protocol: clips as binary BYTES (tritonclient)

        clips_bytes = np.array([Path(p).read_bytes() for p in inputs], dtype=object)
        over_v2 = [json.loads(a) for a in infer_raw(server, "model", clips_bytes, True).as_numpy("answer")]
    assert [a["text"] for a in served] == [a["text"] for a in on_onnx] == [a["text"] for a in over_v2]
    code, out, err = hub("predict", model, inputs[0], "--onnx")  # a person reads the transcript itself
    assert code == 0 and out.strip().split("\t")[1] == on_onnx[0]["text"], (out, err)


def one_line_error(hub, *args) -> str:
    code, _, err = hub(*args)
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_bad_transcripts_and_clips_are_one_line_each(hub, recogniser, tmp_path):
    folder, model = recogniser
    clip = clips(folder, 1)[0]
    (tmp_path / "oov.csv").write_text(f"path,text\n{clip},cat\n{clip},Zoë's café\n")
    line = one_line_error(hub, "evaluate", model, "--data", tmp_path / "oov.csv")
    assert "oov.csv:3" in line and "outside the vocabulary" in line and "'é'" in line and "'ë'" in line, line
    (tmp_path / "gone.csv").write_text(f"path,text\n{clip},cat\nmissing.wav,dog\n")
    line = one_line_error(hub, "evaluate", model, "--data", tmp_path / "gone.csv")
    assert "gone.csv:3" in line and "missing.wav: no such audio file" in line, line
    long_clip, short_clip = tmp_path / "long.wav", tmp_path / "short.wav"
    soundfile.write(str(long_clip), spell(" ".join(["hello world"] * 8), 16000, np.random.default_rng(0)), 16000)
    soundfile.write(str(short_clip), np.zeros(200, np.float32), 16000)
    line = one_line_error(hub, "predict", model, long_clip, "--onnx")
    assert "long.wav" in line and "longer than --max-seconds 10" in line and "never cut" in line, line
    line = one_line_error(hub, "predict", model, short_clip, "--onnx")
    assert "short.wav" in line and "shorter than the model's receptive field (400 samples)" in line, line


def test_wav2vec2_takes_a_ctc_head_with_its_feature_encoder_frozen(hub, recogniser, tmp_path):
    """The hub's other sequence backbones carry the task too: a tiny wav2vec2 with its feature
    encoder frozen (as when fine-tuning pre-trained weights) trains an epoch, exports, and
    torch and onnxruntime decode alike."""
    folder, _ = recogniser
    out = tmp_path / "w2v"
    code, _, err = hub("finetune", "speech/wav2vec2-tiny", "--task", "speech-recognition", "--data", folder / "train",
                       "--val", folder / "test",
                       "--out", out, "--epochs", 1, "--batch-size", 8, "--workers", 0,
                       "--backbone-option", "freeze_feature_encoder=true")
    assert code == 0, err
    assert "frozen: FeatureExtractor" in err
    assert np.isfinite(json.loads((out / "hub.json").read_text())["metrics"]["loss"])
    code, _, err = hub("export", out)
    assert code == 0, err
    inputs = clips(folder, 3)
    answers = {}
    for engine in ((), ("--onnx",)):
        code, text, err = hub("predict", out, "--json", *inputs, *engine)
        assert code == 0, err
        answers[engine] = [row["answer"]["text"] for row in json.loads(text)]
    assert answers[()] == answers[("--onnx",)]
