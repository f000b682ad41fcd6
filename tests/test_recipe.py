"""Presets carry their family's training recipe; the user's file and flags still win (issue 15)."""
import pytest

from hub_core.common.errors import ConfigError
from hub_core.train import recipe
from hub_core.train.config import build_config

RECIPE = {"lr": 5e-5, "head_lr": 1e-3, "warmup": 0.06, "schedule": "linear", "target_steps": 600, "min_epochs": 3,
          "epochs": 20, "label_smoothing": 0.1}


def test_the_recipe_sits_between_defaults_and_the_user(tmp_path):
    config = build_config(None, {}, RECIPE, "nlp/minilm-l6")
    assert (config.lr, config.head_lr, config.schedule, config.label_smoothing) == (5e-5, 1e-3, "linear", 0.1)
    assert config.recipe["lr"] == "preset nlp/minilm-l6"
    file = tmp_path / "train.toml"
    file.write_text("lr = 2e-5\nepochs = 4\n")
    mine = build_config(str(file), {"head_lr": 3e-4}, RECIPE, "nlp/minilm-l6")
    assert (mine.lr, mine.head_lr, mine.epochs, mine.target_steps) == (2e-5, 3e-4, 4, 0)  # epochs chosen: no auto
    assert mine.recipe["lr"] == "--config" and mine.recipe["head_lr"] == "flag"
    with pytest.raises(ConfigError, match="train.lrr is not a training setting"):
        build_config(None, {}, {"lrr": 1}, "p")


def test_epochs_follow_the_data_size():
    config = build_config(None, {}, RECIPE, "p")
    assert recipe.resolve_epochs(config, 6).epochs == 20  # 100 examples: 600 steps would need 100 epochs
    assert recipe.resolve_epochs(config, 60).epochs == 10
    assert recipe.resolve_epochs(config, 1000).epochs == 3
    line = recipe.describe(recipe.resolve_epochs(config, 60))
    assert line.startswith("recipe: lr 5e-05 (preset p)") and "epochs 10 (preset p: 600 steps at 60/epoch" in line


def test_plugin_presets_carry_recipes():
    from hub_core.plugin.catalogue import read_presets
    from pathlib import Path
    import hub_nlp
    import hub_recsys

    text = {p.name: p for p in read_presets(Path(hub_nlp.__file__).parent / "presets.toml")}
    assert text["nlp/minilm-l6"].train["schedule"] == "linear"
    recsys = {p.name: p for p in read_presets(Path(hub_recsys.__file__).parent / "presets.toml")}
    assert recsys["recsys/mf"].train["batch_size"] >= 1000 and recsys["recsys/mf"].config["dim"] == 64
