"""``export.json`` records the SHA-256 of the graphs it wrote; ``predict --onnx``,
``evaluate --onnx`` and ``serve`` refuse a graph swapped for another afterwards, with one
line, before running it."""
from __future__ import annotations

import json
import shutil

import pytest

from hub_core.common.errors import ExportError
from tests.robustness.helpers import run_hub
from tests.tinyplug import make_blobs


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graphs")
    data = make_blobs(folder / "t.csv", n=60, seed=3)
    made = []
    for name, classes in (("one", "3"), ("other", "2")):
        blobs = make_blobs(folder / f"{name}.csv", n=60, seed=3, classes=int(classes))
        code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", blobs, "-o", folder / name,
                               "--epochs", "1", "--quiet")
        assert code == 0, err
        code, _, err = run_hub("export", folder / name, "--no-validate")
        assert code == 0, err
        made.append(folder / name)
    return data, *made


def test_export_records_the_digest_and_an_intact_graph_runs(exported):
    data, one, _ = exported
    report = json.loads((one / "export.json").read_text())
    assert len(report["sha256"]["model.onnx"]) == 64
    code, _, err = run_hub("predict", one, "--data", data, "--onnx")
    assert code == 0, err


def test_a_swapped_graph_is_refused_by_every_command(exported, tmp_path):
    data, one, other = exported
    swapped = tmp_path / "swapped"
    shutil.copytree(one, swapped)
    shutil.copy(other / "model.onnx", swapped / "model.onnx")
    for command in (("predict", swapped, "--data", data, "--onnx"), ("evaluate", swapped, "--data", data, "--onnx")):
        code, out, err = run_hub(*command)
        assert code == 1 and err.count("\n") == 1 and "export.json validated" in err and not out, (command, err)
    from hub_core.deploy.serve.models import load_models
    from hub_core.plugin.manager import load_hub

    with pytest.raises(ExportError, match="run 'hub export' again"):
        load_models(load_hub().catalogue, [swapped])
