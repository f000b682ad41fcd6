"""Fixtures for the speech plugin: real audio files generated with numpy, written with soundfile."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile

from hub_speech.signals import sound, write_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_WAV2VEC2 = {
    "extractor_conv_layer_config": [[16, 10, 5], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 2, 2], [16, 2, 2]],
    "encoder_embed_dim": 32, "encoder_pos_conv_kernel": 16, "encoder_pos_conv_groups": 4, "encoder_num_layers": 2,
    "encoder_num_heads": 2, "encoder_ff_interm_features": 64, "encoder_layer_drop": 0.0,
}


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CI machine is shared: keep each test on one core
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def clips(tmp_path):
    """Awkward real-world files: stereo, 8 kHz, 44.1 kHz, very short, empty, not audio at all."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "clips"
    folder.mkdir()
    made = {
        "stereo": (np.stack([sound("low", 1.0, 16000, rng), np.zeros(16000, np.float32)], axis=1), 16000),
        "rate8k": (sound("high", 1.0, 8000, rng), 8000),
        "rate44k": (sound("up", 1.0, 44100, rng), 44100),
        "short": (sound("high", 0.005, 16000, rng), 16000),  # 80 samples
        "flac": (sound("down", 0.5, 22050, rng), 22050),
        "ogg": (sound("low", 0.5, 16000, rng), 16000),
    }
    paths = {}
    for name, (samples, rate) in made.items():
        suffix = {"flac": ".flac", "ogg": ".ogg"}.get(name, ".wav")
        paths[name] = folder / f"{name}{suffix}"
        soundfile.write(str(paths[name]), samples, rate)
    paths["text"] = folder / "notes.wav"
    paths["text"].write_text("this is a text file, not a recording\n")
    paths["empty"] = folder / "empty.wav"
    soundfile.write(str(paths["empty"]), np.zeros(0, np.float32), 16000)
    return paths


@pytest.fixture(scope="session")
def tone_set(tmp_path_factory):
    """A small labelled folder-per-class set: low tones, high tones, rising chirps."""
    root = tmp_path_factory.mktemp("tones")
    write_dataset(root, 30, kinds=("low", "high", "up"), seconds=(0.4, 1.2), seed=3)
    return root


@pytest.fixture
def hub():
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""

    from hub_core.testing import run_hub

    return run_hub
