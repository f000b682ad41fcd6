"""Speech recognition (CTC) on real sentences spoken by synthetic voices, against pocketsphinx.

    apt-get install -y espeak-ng fortunes            # the voices and the text (Debian packages)
    pip install pocketsphinx                         # the baseline, with its en-us model
    python benchmarks/asr.py [--train 1000] [--test 200] [--out runs/asr]

How the sets are built (deterministic for a seed):
  sentences  Debian `fortunes` (every collection in /usr/share/games/fortunes): each fortune's
             lines joined, attributions ("-- Someone") dropped; kept when its normalised text
             (hub_speech.transcripts.normalise) is 4-14 words of a-z and ' only (no digits) and
             it reads as prose (``plain``: no ASCII art, code or chat logs);
             deduplicated, shuffled; the test sentences are never spoken in training.
  voices     espeak-ng, accent x variant (`espeak-ng -v en-gb-scotland+f2`), each utterance at a
             random speed (140-190 words a minute) and pitch (30-70). Training voices: the
             TRAIN_ACCENTS x TRAIN_VARIANTS; test voices: the TEST_VARIANTS (never heard in
             training) with every accent; the "unseen accent" test subset also has an accent
             never heard in training (TEST_ACCENTS), so neither half of its voice was.
  audio      espeak-ng's 22,050 Hz WAV as it writes it; the hub resamples to 16 kHz itself,
             pocketsphinx is given the same clip resampled to 16 kHz (scipy, polyphase).
Scores: WER and CER (jiwer) on the normalised text, the hub's with `hub evaluate` (greedy
decoding, torch and the exported ONNX), pocketsphinx's (its default en-us acoustic model,
language model and dictionary, as the wheel ships them) on the same test utterances.
Speed: real-time factor (seconds of compute per second of audio, lower is faster) of the
hub model on 10-s clips (test utterances joined), torch eager against onnxruntime fp32, batch
1 and 8, the same thread count; with the CPU flags and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.machine import Machine  # noqa: E402

FORTUNES = Path("/usr/share/games/fortunes")
TRAIN_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd")
TEST_ACCENTS = ("en-029", "en-us-nyc")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m6", "f1", "f2", "f4")
TEST_VARIANTS = ("m5", "m7", "f3", "f5")
PRESET = "speech/conformer-small"


def fortunes() -> list[str]:
    """Every fortune's text, lines joined, attribution lines dropped."""
    from hub_speech.transcripts import normalise

    kept = set()
    for path in sorted(FORTUNES.iterdir()):
        if path.suffix or not path.is_file():
            continue  # .dat indexes, .u8 links
        for block in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            lines = [line.strip() for line in block.splitlines() if not re.match(r"\s*--", line)]
            raw = " ".join(lines).strip()
            text = normalise(raw)
            if 4 <= len(text.split()) <= 14 and re.fullmatch(r"[a-z' ]+", text) and plain(raw, text):
                kept.add(raw)
    return sorted(kept)


def plain(raw: str, text: str) -> bool:
    """Prose, not ASCII art, code or chat logs: no markup characters, no run of three
    punctuation marks, no word longer than 16 letters, letters at least 80 % of the rest."""
    if re.search(r"[_/\\|<>*{}\[\]=#@~^;]", raw) or re.search(r"[^\w\s]{3}", raw):
        return False
    return max(map(len, text.split())) <= 16 and sum(ch.isalpha() for ch in raw) >= 0.8 * len(raw.replace(" ", ""))


def speak(text: str, voice: str, speed: int, pitch: int, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                   check=True, capture_output=True)


def build(out: Path, n_train: int, n_test: int, seed: int) -> dict:
    """out/train, out/test, out/test-unseen-accent: clips with their .txt beside them."""
    rng = np.random.default_rng(seed)
    texts = fortunes()
    order = rng.permutation(len(texts))
    chosen = {"train": [texts[i] for i in order[:n_train]], "test": [texts[i] for i in order[n_train:n_train + n_test]]}
    voices = {"train": [f"{a}+{v}" for a in TRAIN_ACCENTS for v in TRAIN_VARIANTS],
              "test": [f"{a}+{v}" for a in TRAIN_ACCENTS + TEST_ACCENTS for v in TEST_VARIANTS]}
    sets, unseen = {}, out / "test-unseen-accent"
    shutil.rmtree(unseen, ignore_errors=True)  # remade from this draw: a rerun links the same clips
    unseen.mkdir(parents=True)
    for name, sentences in chosen.items():
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        drawn = []
        for index, text in enumerate(sentences):
            # every draw is made whether or not the clip exists, so a rerun draws the same voices
            voice = voices[name][int(rng.integers(len(voices[name])))]
            speed, pitch = int(rng.integers(140, 191)), int(rng.integers(30, 71))
            clip = folder / f"{index:05d}.wav"
            if not clip.exists():
                speak(text, voice, speed, pitch, clip)
                clip.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
            drawn.append({"clip": clip.name, "voice": voice, "speed": speed, "pitch": pitch})
            if name == "test" and voice.split("+")[0] in TEST_ACCENTS:
                for suffix in (".wav", ".txt"):
                    os.link(clip.with_suffix(suffix), (unseen / clip.name).with_suffix(suffix))
        (out / f"{name}-voices.jsonl").write_text("".join(json.dumps(row) + "\n" for row in drawn))
        sets[name] = {"utterances": len(sentences), "voices": len(voices[name]), "sentences": "fortunes",
                      "voices_heard": len({row["voice"] for row in drawn})}
    sets["test-unseen-accent"] = {"utterances": len(list(unseen.glob("*.wav")))}
    return sets


def hub(*args) -> str:
    done = subprocess.run([sys.executable, "-m", "hub_core", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        raise SystemExit(f"hub {' '.join(map(str, args))} failed: {done.stderr[-2000:]}")
    return done.stdout


def pocketsphinx_hypotheses(folder: Path) -> tuple[dict, float]:
    """({clip name: (reference, hypothesis)}, real-time factor) of pocketsphinx's default
    en-us model on every clip of ``folder``, both texts normalised."""
    import soundfile
    from pocketsphinx import Decoder

    from hub_speech.audio import resample
    from hub_speech.transcripts import normalise

    decoder = Decoder(loglevel="FATAL")
    pairs, seconds, spent = {}, 0.0, 0.0
    for clip in sorted(folder.glob("*.wav")):
        samples, rate = soundfile.read(str(clip), dtype="float32")
        pcm = (np.clip(resample(samples, rate, 16000), -1, 1) * 32767).astype(np.int16)
        start = time.perf_counter()
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), full_utt=True)
        decoder.end_utt()
        spent += time.perf_counter() - start
        seconds += len(samples) / rate
        pairs[clip.name] = (normalise(clip.with_suffix(".txt").read_text(encoding="utf-8")),
                            normalise(decoder.hyp().hypstr if decoder.hyp() else ""))
    return pairs, spent / seconds


def error_rates(pairs: list[tuple[str, str]]) -> dict:
    import jiwer

    references, hypotheses = [p[0] for p in pairs], [p[1] for p in pairs]
    return {"wer": jiwer.wer(references, hypotheses), "cer": jiwer.cer(references, hypotheses),
            "utterances": len(pairs)}


def real_time_factor(model_dir: Path, folder: Path, threads: int) -> dict:
    """Seconds of compute per second of audio for 10-s clips (test utterances joined, cut at
    10 s), torch eager against onnxruntime fp32, at batch 1 and 8; forward pass and decoding."""
    import onnxruntime as ort
    import torch

    from hub_core.api import Batch, load_model
    from hub_core.python import catalogue

    torch.set_num_threads(threads)
    model = load_model(catalogue(), model_dir)
    pre, task = model.preprocessor, model.task
    joined = np.concatenate([pre.read(str(clip)) for clip in sorted(folder.glob("*.wav"))[:40]])
    clips = [joined[i * 160000:(i + 1) * 160000] for i in range(8)]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    result = {}
    for batch in (1, 8):
        arrays = pre.collate([{"waveform": c, "lengths": np.asarray(c.size, dtype=np.int64)} for c in clips[:batch]])

        def on_torch():
            with torch.inference_mode():
                out = model(**{k: torch.from_numpy(v) for k, v in arrays.items()})
            return task.decode({k: v.numpy() for k, v in out.items()}, Batch(arrays))

        def on_ort():
            return task.decode(dict(zip(names, session.run(None, arrays))), Batch(arrays))

        for name, run in (("torch", on_torch), ("onnxruntime", on_ort)):
            run()
            times = []
            for _ in range(5):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            result[f"{name}_batch{batch}"] = round(float(np.median(times)) / (10.0 * batch), 5)
        result[f"ort_speedup_batch{batch}"] = round(result[f"torch_batch{batch}"] / result[f"onnxruntime_batch{batch}"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=1000, help="training utterances")
    parser.add_argument("--test", type=int, default=200, help="test utterances")
    parser.add_argument("--out", type=Path, default=Path("runs/asr"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true", help="no pocketsphinx (an experiment beside a full run)")
    parser.add_argument("--hub-args", default="", help="extra `hub finetune` flags (experiments; reported figures: none)")
    args = parser.parse_args()
    machine = Machine.now()
    data = args.out / "data"
    sets = build(data, args.train, args.test, args.seed)
    model = args.out / f"model-{args.train}"
    command = ["finetune", PRESET, "--data", data / "train", "--val-split", "0.05", "--out", model,
               *shlex.split(args.hub_args)]
    start, trained_now = time.perf_counter(), not (model / "hub.json").exists()
    if trained_now:
        hub(*command)
    if not (model / "model.onnx").exists():
        hub("export", model)
    trained = time.perf_counter() - start
    results = {"sets": sets, "preset": PRESET, "finetune": "hub " + " ".join(map(str, command)),
               "train_seconds": round(trained) if trained_now else "trained by an earlier run",
               "kept": json.loads((model / "hub.json").read_text())["monitor"], "hub": {}, "pocketsphinx": {}}
    decoded, sphinx_rtf = ({}, None) if args.skip_baseline else pocketsphinx_hypotheses(data / "test")
    for name in ("test", "test-unseen-accent"):
        scores = {engine: json.loads(hub("evaluate", model, "--data", data / name, "--json", *flags))
                  for engine, flags in (("torch", ()), ("onnx", ("--onnx",)))}
        results["hub"][name] = {engine: {k: s[k] for k in ("wer", "cer")} for engine, s in scores.items()}
        results["hub"][name]["worst"] = scores["torch"].get("worst_utterances", [])[:3]
        clips = sorted(p.name for p in (data / name).glob("*.wav"))
        if decoded:  # the subset is scored from the same runs
            results["pocketsphinx"][name] = error_rates([decoded[c] for c in clips])
    results["pocketsphinx"]["rtf"] = round(sphinx_rtf, 4) if sphinx_rtf else None
    results["real_time_factor"] = real_time_factor(model, data / "test", args.threads)
    results["machine"] = machine.report(args.threads)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
