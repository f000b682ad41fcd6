"""Modality-specific flags come from the modality's spec (ModalitySpec.options), not the core:
--max-length (text) and --max-seconds (audio) as before, and a third-party modality's own."""
import json

import pytest

from hub_core.api import CliOption
from hub_core.plugin import manager as plugins
from hub_core.testing import run_hub
from hub_core.train import loop


@pytest.fixture
def captured(monkeypatch):
    """`hub finetune` with the tiny plugin and the fixture modality; the config reaches no training."""
    monkeypatch.setattr(plugins, "BUILTINS", {**plugins.BUILTINS, "tiny": "tests.tinyplug",
                                              "framed": "tests.fixtures.plugins.plughub_fixture_options"})
    seen = {}
    monkeypatch.setattr(loop, "run", lambda catalogue, job, config: seen.update(preprocess=config.preprocess) or {})
    return seen


def test_a_modality_adds_its_options_to_the_training_commands(captured, tmp_path):
    code, out, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", tmp_path / "x.csv", "-o",
                             tmp_path / "o", "--frame-rate", "8", "--max-length", "5", "--max-seconds", "1.5",
                             "-p", "scale=2", "-q")
    assert code == 0, err
    assert captured["preprocess"] == {"scale": 2, "frame_rate": 8, "max_length": 5, "max_seconds": 1.5}
    for command in ("finetune", "pretrain"):
        code, out, _ = run_hub(command, "--help")
        out = " ".join(out.split())  # help text wraps
        assert "--frame-rate INTEGER" in out and "Framed: frames per second (= -p frame_rate=VALUE" in out
        assert "--max-length INTEGER" in out and "--max-seconds FLOAT" in out
    code, out, _ = run_hub("evaluate", "--help")  # no -p there: no shortcuts either
    assert "--max-length" not in out and "--frame-rate" not in out


def test_a_flag_the_command_already_has_is_refused_against_the_plugin(captured):
    code, out, _ = run_hub("plugins", "--json")
    record = next(r for r in json.loads(out) if r["name"] == "framed")
    assert record["errors"] == ["modality 'framed': --epochs is already an option of 'hub finetune'; not added"]


def test_unset_shortcuts_change_nothing(captured, tmp_path):
    code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", tmp_path / "x.csv", "-o",
                           tmp_path / "o", "-q")
    assert code == 0, err
    assert not captured["preprocess"]


@pytest.mark.parametrize("kwargs,message", [
    ({"flag": "-x"}, "must be a long flag"),
    ({"flag": "--Max"}, "must be a long flag"),
    ({"flag": "--n", "type": list}, "type must be int, float or str"),
])
def test_bad_options_are_refused_when_registered(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CliOption(**kwargs)
    assert CliOption("--max-length", int).key == "max_length"
