"""Generate a small labelled audio set in class folders, for `hub finetune speech/...`.

    python examples/speech/make_sounds.py OUT [--per-class 60] [--seed 0]           tones and chirps
    python examples/speech/make_sounds.py OUT --words [--per-class 40] [--seed 0]   spoken words

Sounds: OUT/{low,high,up,down,noise}/*.wav — steady tones, rising and falling chirps and
noise, of random length, level, onset and pitch, at 8, 16, 22.05 and 44.1 kHz, some stereo.

Words (keyword spotting): OUT/{yes,no,up,down,left,right}/*.wav spoken by Debian's
``espeak-ng`` (apt-get install espeak-ng) with random voices, speeds and pitches, placed
at a random onset in 1.2 s of background noise.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from hub_speech.signals import write_dataset

WORDS = ("yes", "no", "up", "down", "left", "right")
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029")
VARIANTS = ("", "+m1", "+m3", "+m5", "+f1", "+f2", "+f4", "+klatt")


def speak(word: str, rng: np.random.Generator, workdir: Path) -> tuple[np.ndarray, int]:
    voice = str(rng.choice(VOICES)) + str(rng.choice(VARIANTS))
    target = workdir / "word.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(int(rng.integers(110, 210))), "-p", str(int(rng.integers(20, 80))),
                    "-w", str(target), word], check=True, capture_output=True)
    samples, rate = soundfile.read(str(target), dtype="float32")
    return samples, rate


def write_words(out: Path, per_class: int, seed: int) -> int:
    if shutil.which("espeak-ng") is None:
        sys.exit("make_sounds.py: --words needs espeak-ng (apt-get install espeak-ng); without it, leave out --words")
    rng = np.random.default_rng(seed)
    count = 0
    with tempfile.TemporaryDirectory() as workdir:
        for word in WORDS:
            (out / word).mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                speech, rate = speak(word, rng, Path(workdir))
                speech = speech[: int(1.1 * rate)]
                clip = rng.standard_normal(int(1.2 * rate)).astype(np.float32) * 10 ** (-rng.uniform(25, 45) / 20)
                onset = int(rng.integers(0, clip.size - speech.size + 1))
                clip[onset:onset + speech.size] += speech * 10 ** (-rng.uniform(0, 12) / 20)
                soundfile.write(str(out / word / f"{word}_{index:04d}.wav"), clip / max(1.0, np.abs(clip).max()), rate)
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=None, help="clips per class [60 sounds, 40 words]")
    parser.add_argument("--words", action="store_true", help="spoken words with espeak-ng instead of tones")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.words:
        count = write_words(args.out, args.per_class or 40, args.seed)
    else:
        count = len(write_dataset(args.out, args.per_class or 60, seed=args.seed))
    print(f"wrote {count} clips to {args.out}")


if __name__ == "__main__":
    main()
