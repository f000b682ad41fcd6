"""The hub's default fine-tune beside a classical baseline, on real data shipped in packages.

    apt-get install -y fortunes klettres-data      # the text and audio data (Debian packages)
    python benchmarks/real_data.py [--modalities text,image,audio] [--sizes few,all] [--out runs/real-data]

Per modality, with few labels (10 per class) and with all (subsampled, see below):
  text   Debian `fortunes`: which collection a fortune comes from (six collections)
         baseline TF-IDF (word 1-2 grams) + logistic regression; hub: nlp/minilm-l6
  image  scikit-learn's load_digits (1,797 real handwritten digits, 8x8) upscaled to 32 px PNGs
         baseline raw pixels + logistic regression; hub: vision/tiny
  audio  Debian `klettres-data`: people reading letters and syllables; which language: every
         language folder with at least AUDIO_MIN_CLIPS recordings (17 classes: en and en_GB are
         one class, English, see AUDIO_SAME_LANGUAGE), or --audio-languages es,it,lt,pt_BR,ru,hu
         baseline MFCC mean/std, standardised, + logistic regression with C chosen by
         cross-validation on the training labels; hub: speech/logmel-tiny
The hub runs `hub finetune PRESET --task classification` with no training flags (the
preset's recipe decides) and is scored with `hub evaluate` on a fixed test split. Sizes are
kept small so a run ends in minutes on 2 busy cores: "all" means up to ALL_PER_CLASS
labelled examples per class, and each test split has TEST_PER_CLASS per class. Prints JSON
with the CPU flags and the load.

Tuning a default (``--split validation``): the test clips are set aside exactly as above and
never read; up to VAL_PER_CLASS of the remaining clips per class are scored instead, and the
training clips come from what is left. ``--hub-args "--backbone-option pooling=stats"`` passes
flags to `hub finetune` for such an experiment (the reported figures use none).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

FEW, ALL_PER_CLASS, TEST_PER_CLASS, VAL_PER_CLASS, SEED = 10, 60, 30, 10, 0
FORTUNES = Path("/usr/share/games/fortunes")
TEXT_CLASSES = ("computers", "food", "literature", "love", "science", "sports")
KLETTRES = Path("/usr/share/klettres")
AUDIO_SIX = ("es", "it", "lt", "pt_BR", "ru", "hu")  # the first benchmark's languages (--audio-languages six)
AUDIO_MIN_CLIPS = 40  # a language needs TEST_PER_CLASS test clips and FEW training clips at least
# en_GB's folder is English read by other people than en's: the task is which language, so
# both are one class (two speakers in it) rather than a speaker/microphone contest between them.
AUDIO_SAME_LANGUAGE = {"en_GB": "en"}
AUDIO_LANGUAGES: tuple[str, ...] | None = None  # None: every folder with AUDIO_MIN_CLIPS recordings
HUB = [sys.executable, "-m", "hub_core"]
SPLIT = "test"  # or "validation" (--split): tune on clips that are never test clips
HUB_ARGS: list[str] = []  # extra `hub finetune` flags (--hub-args), for tuning experiments only


def hub(*args) -> str:
    done = subprocess.run([*HUB, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode:
        sys.exit(f"hub {' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def per_class_split(labels: list[str], rng) -> tuple[list[int], list[int], list[int]]:
    """(few, all, scored) indices: TEST_PER_CLASS per class for test, the rest up to ALL_PER_CLASS,
    few = the first FEW. With SPLIT "validation" the test clips are dropped and the scored ones
    are the next VAL_PER_CLASS (a third of what remains at most), training from the rest."""
    few, everything, scored = [], [], []
    for label in sorted(set(labels)):
        order = rng.permutation([i for i, y in enumerate(labels) if y == label]).tolist()
        test, rest = order[:TEST_PER_CLASS], order[TEST_PER_CLASS:]
        if SPLIT == "validation":
            held = min(VAL_PER_CLASS, len(rest) // 3)
            test, rest = rest[:held], rest[held:]
        scored += test
        everything += rest[:ALL_PER_CLASS]
        few += rest[:FEW]
    return few, everything, scored


# ----------------------------------------------------------------------------- data
def fortunes() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for name in TEXT_CLASSES:
        path = FORTUNES / name
        if not path.is_file():
            sys.exit(f"{path}: missing; apt-get install -y fortunes")
        for chunk in path.read_text(encoding="latin-1").split("\n%\n"):
            chunk = " ".join(chunk.split())
            if 20 <= len(chunk) <= 600:  # one-liners and short paragraphs; the long poems are few
                texts.append(chunk)
                labels.append(name)
    return texts, labels


def digits() -> tuple[np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, [str(t) for t in data.target]


def klettres_languages() -> tuple[str, ...]:
    """The language folders with AUDIO_MIN_CLIPS recordings (icons/, pics/ and near-empty ones are left out)."""
    if not KLETTRES.is_dir():
        sys.exit(f"{KLETTRES}: missing; apt-get install -y klettres-data")
    return tuple(d.name for d in sorted(KLETTRES.iterdir())
                 if d.is_dir() and sum(1 for _ in d.rglob("*.ogg")) >= AUDIO_MIN_CLIPS)


def klettres() -> tuple[list[Path], list[str], tuple[str, ...]]:
    """(files, labels, folders read): a folder's label is its language (AUDIO_SAME_LANGUAGE merges)."""
    folders = AUDIO_LANGUAGES or klettres_languages()
    files, labels = [], []
    for folder in folders:
        found = sorted((KLETTRES / folder).rglob("*.ogg"))
        if len(found) < FEW + TEST_PER_CLASS:
            sys.exit(f"{KLETTRES / folder}: {len(found)} recordings, need {FEW + TEST_PER_CLASS} "
                     f"({FEW} to train, {TEST_PER_CLASS} to test); apt-get install -y klettres-data")
        files += found
        labels += [AUDIO_SAME_LANGUAGE.get(folder, folder)] * len(found)
    return files, labels, folders


# ----------------------------------------------------------------------------- baselines
def logistic(features: np.ndarray, labels: list[str], train: list[int], test: list[int], tune: bool = False):
    """Standardised features + logistic regression; with ``tune``, C from a 5-fold (fewer when a
    class has fewer clips) stratified cross-validation on the training rows alone: returns
    (accuracy, C)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features[train])
    y = [labels[i] for i in train]
    if tune:
        folds = min(5, min(y.count(label) for label in set(y)))
        model = LogisticRegressionCV(Cs=np.logspace(-3, 3, 13).tolist(), cv=folds, max_iter=5000,
                                     scoring="accuracy")  # today's default, pinned: scikit-learn 1.11 changes it
    else:
        model = LogisticRegression(max_iter=2000, C=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the extreme Cs of the search; the chosen one is reported
        model.fit(scaler.transform(features[train]), y)
    accuracy = float((model.predict(scaler.transform(features[test])) == np.asarray([labels[i] for i in test])).mean())
    return (accuracy, float(model.C_[0])) if tune else accuracy


def tfidf(texts, labels, train, test) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x = vectoriser.fit_transform([texts[i] for i in train])
    model = LogisticRegression(max_iter=2000, C=10.0).fit(x, [labels[i] for i in train])
    predicted = model.predict(vectoriser.transform([texts[i] for i in test]))
    return float((predicted == np.asarray([labels[i] for i in test])).mean())


def mfcc_features(files: list[Path]) -> np.ndarray:
    import soundfile
    import torch
    import torchaudio

    transform = torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=20)
    rows = []
    for path in files:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        wave = torch.from_numpy(audio.mean(1))
        if rate != 16000:
            wave = torchaudio.functional.resample(wave, rate, 16000)
        m = transform(wave)
        rows.append(torch.cat([m.mean(1), m.std(1)]).numpy())  # deltas' mean/std too: no better on validation
    return np.stack(rows)


# ----------------------------------------------------------------------------- the hub
def write_table(path: Path, header: tuple[str, str], rows) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def hub_score(preset: str, folder: Path, train_csv: Path, test_csv: Path) -> dict:
    out = folder / f"{train_csv.stem}-model"
    started = time.perf_counter()
    hub("finetune", preset, "--task", "classification", "--data", train_csv, "--out", out, "--overwrite", "--quiet",
        *HUB_ARGS)
    seconds = time.perf_counter() - started
    metrics = json.loads(hub("evaluate", out, "--data", test_csv, "--json"))
    manifest = json.loads((out / "hub.json").read_text())
    kept = manifest.get("monitor", {})
    return {"accuracy": metrics["accuracy"], "train_seconds": round(seconds, 1),
            "epochs": manifest["training"]["epochs"], "kept_epoch": kept.get("kept_epoch")}


SIZES = ("few", "all")


def both_sizes(result: dict, folder: Path, header, rows, few, everything, test_csv, preset, baseline_name, baseline):
    """Few labels and all (those in SIZES): the baseline (``baseline(train_indices)`` -> accuracy) beside the hub's fine-tune."""
    for name, idx in (("few", few), ("all", everything)):
        if name not in SIZES:
            continue
        train_csv = write_table(folder / f"{name}.csv", header, rows(idx))
        score = baseline(idx)
        result[name] = {"labels": len(idx), baseline_name: score[0] if isinstance(score, tuple) else score}
        if isinstance(score, tuple):
            result[name]["baseline_C"] = score[1]
        result[name]["hub"] = hub_score(preset, folder, train_csv, test_csv)
    return result


def run_text(folder: Path, rng) -> dict:
    texts, labels = fortunes()
    few, everything, test = per_class_split(labels, rng)
    rows = lambda idx: [(texts[i], labels[i]) for i in idx]  # noqa: E731
    test_csv = write_table(folder / "test.csv", ("text", "label"), rows(test))
    result = {"data": f"fortunes: {', '.join(TEXT_CLASSES)}", "preset": "nlp/minilm-l6", "test_examples": len(test)}
    return both_sizes(result, folder, ("text", "label"), rows, few, everything, test_csv, "nlp/minilm-l6",
                      "baseline_tfidf_logreg", lambda idx: tfidf(texts, labels, idx, test))


def run_image(folder: Path, rng) -> dict:
    from PIL import Image

    images, labels = digits()
    few, everything, test = per_class_split(labels, rng)
    paths = []
    for i, image in enumerate(images):  # 0..16 grey levels at 8x8 -> 32x32 RGB, as a camera would give them
        path = folder / "png" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((32, 32), Image.BILINEAR).convert("RGB").save(path)
        paths.append(path)
    rows = lambda idx: [(str(paths[i]), labels[i]) for i in idx]  # noqa: E731
    test_csv = write_table(folder / "test.csv", ("image", "label"), rows(test))
    flat = images.reshape(len(images), -1)
    result = {"data": "sklearn load_digits, upscaled to 32 px", "preset": "vision/tiny", "test_examples": len(test)}
    return both_sizes(result, folder, ("image", "label"), rows, few, everything, test_csv, "vision/tiny",
                      "baseline_pixels_logreg", lambda idx: logistic(flat, labels, idx, test))


def run_audio(folder: Path, rng) -> dict:
    files, labels, folders = klettres()
    few, everything, test = per_class_split(labels, rng)
    features = mfcc_features(files)
    rows = lambda idx: [(str(files[i]), labels[i]) for i in idx]  # noqa: E731
    test_csv = write_table(folder / "test.csv", ("path", "label"), rows(test))
    classes = sorted(set(labels))
    result = {"data": f"klettres-data recordings: which language of {len(classes)} ({', '.join(classes)}), "
                      f"folders {', '.join(folders)}",
              "preset": "speech/logmel-tiny", "scored_split": SPLIT, f"{SPLIT}_examples": len(test),
              "all_labels_per_class": {c: sum(labels[i] == c for i in everything) for c in classes}}
    return both_sizes(result, folder, ("path", "label"), rows, few, everything, test_csv, "speech/logmel-tiny",
                      "baseline_mfcc_logreg", lambda idx: logistic(features, labels, idx, test, tune=True))


def cpu_flags() -> list[str]:
    wanted = {"avx2", "avx512f", "avx512_vnni", "amx_tile"}
    try:
        return sorted(wanted & set(Path("/proc/cpuinfo").read_text().split()))
    except OSError:
        return []


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.machine import Machine

    machine = Machine.now()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/real-data"))
    parser.add_argument("--modalities", default="text,image,audio")
    parser.add_argument("--sizes", default="few,all", help="few, all or both: run a part alone on a busy machine")
    parser.add_argument("--audio-languages", default="auto",
                        help="klettres folders, comma-separated; 'six' for es,it,lt,pt_BR,ru,hu; 'auto' (default): "
                             f"every language with {AUDIO_MIN_CLIPS} recordings, en_GB counted as en")
    parser.add_argument("--split", default="test", choices=("test", "validation"),
                        help="score on the test clips (default) or, to tune a default, on validation clips kept apart")
    parser.add_argument("--hub-args", default="", help="extra `hub finetune` flags, for tuning experiments")
    args = parser.parse_args()
    global SIZES, AUDIO_LANGUAGES, SPLIT, HUB_ARGS
    SIZES = tuple(args.sizes.split(","))
    if not set(SIZES) <= {"few", "all"}:
        parser.error(f"--sizes: few and/or all, got {args.sizes!r}")
    if args.audio_languages == "six":
        AUDIO_LANGUAGES = AUDIO_SIX
    elif args.audio_languages != "auto":
        AUDIO_LANGUAGES = tuple(args.audio_languages.split(","))
        missing = [name for name in AUDIO_LANGUAGES if not (KLETTRES / name).is_dir()]
        if missing:
            parser.error(f"--audio-languages: no folder {KLETTRES / missing[0]}")
    SPLIT, HUB_ARGS = args.split, shlex.split(args.hub_args)
    runners = {"text": run_text, "image": run_image, "audio": run_audio}
    results = {"cpu_flags": cpu_flags(), "load_before": os.getloadavg(), "hub_args": HUB_ARGS,
               "sizes": {"few_per_class": FEW, "all_per_class_at_most": ALL_PER_CLASS, "test_per_class": TEST_PER_CLASS}}
    for name in args.modalities.split(","):
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        results[name] = runners[name](folder, np.random.default_rng(SEED))
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
        print(json.dumps({name: results[name]}), file=sys.stderr)
    results["load_after"] = os.getloadavg()
    results["machine"] = machine.report()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
