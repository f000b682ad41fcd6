"""Where weights named by a registry may come from: a project's ./plughub.toml (a cloned
repository's, auto-loaded) may name files inside the project only — an absolute path, a
'..' or a symlink out of it is refused before the file is opened, unless
--trust-project-registry; ``package:`` names files inside the installed package only (no
'..' out of it); the user's own files (--weights, --registry FILE) are not confined.
"""
from __future__ import annotations

import pytest

from tests.robustness.helpers import run_hub

PRESET = '[presets."proj/tiny"]\nbackbone = "nlp/hf"\nconfig = {{ model_type = "bert", hidden_size = 32, ' \
         'num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 64 }}\nweights = "{weights}"\n'


@pytest.fixture
def project(workdir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.pth"
    outside.write_bytes(b"not weights at all")
    (workdir / "t.csv").write_text("text,label\nsome words,a\nother words,b\n")
    (workdir / "weights").mkdir()
    (workdir / "weights" / "link.pth").symlink_to(outside)
    return workdir, outside


def finetune(*extra):
    return ("finetune", "proj/tiny", "-t", "classification", "-d", "t.csv", "-o", "out", "--epochs", "1", *extra)


@pytest.mark.parametrize("weights", ["{outside}", "../{outside_name}", "weights/link.pth"],
                         ids=["absolute", "dot-dot", "symlink"])
def test_a_project_registry_cannot_name_weights_outside_the_project(project, weights):
    root, outside = project
    named = weights.format(outside=outside, outside_name=f"{outside.parent.name}/{outside.name}")  # both under tmp
    (root / "plughub.toml").write_text(PRESET.format(weights=named))
    code, _, err = run_hub(*finetune())
    assert code == 2 and err.count("\n") == 1, err
    assert "outside this project" in err and "--trust-project-registry" in err, err
    assert not (root / "out").exists()
    trusted = run_hub("--trust-project-registry", *finetune())  # read now, and refused for what it is
    assert trusted[0] == 1 and "outside this project" not in trusted[2], trusted[2]


def test_weights_inside_the_project_and_the_users_own_files_are_not_confined(project):
    root, outside = project
    (root / "weights" / "mine.pth").write_bytes(b"junk")
    (root / "plughub.toml").write_text(PRESET.format(weights="weights/mine.pth"))
    code, _, err = run_hub(*finetune())
    assert code == 1 and "outside this project" not in err, err  # confinement passed; the file is judged
    (root / "plughub.toml").unlink()
    (root / "mine.toml").write_text(PRESET.format(weights=outside))
    code, _, err = run_hub("--registry", "mine.toml", *finetune())
    assert code == 1 and "outside this project" not in err, err


def test_package_weights_cannot_leave_their_package(workdir):
    (workdir / "t.csv").write_text("text,label\nsome words,a\nother words,b\n")
    code, _, err = run_hub("finetune", "nlp/bert-tiny", "-t", "classification", "-d", "t.csv", "-o", "out",
                           "--weights", "package:hub_nlp/../../../../etc")
    assert code == 1 and err.count("\n") == 1, err
    assert "the path leaves package 'hub_nlp'" in err, err
