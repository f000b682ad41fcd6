"""``hub demo``: a failing row keeps its error while the others run, and the command fails
at the end; (slow) a real row runs every stage and fills every column."""
import json
import subprocess
from pathlib import Path

import pytest

from hub_core.cli.demo_stages import DemoRow, run_demos, select, table_rows
from hub_core.common.errors import UsageError
from hub_core.plugin.manager import load_hub
from hub_core.plugin.specs import DemoSpec
from tests.fixtures.inject import HUB, hub_env


def broken_data(folder: Path, seed: int) -> dict:
    raise OSError("disk full")


def test_every_installed_modality_has_a_demo_row():
    catalogue = load_hub().catalogue
    assert {s.modality for s in select(catalogue)} >= {"text", "image", "audio", "interactions"}
    assert [s.name for s in select(catalogue, ("image",))] == ["image"]
    with pytest.raises(UsageError, match="--only 'vidio'.*installed: .*image"):
        select(catalogue, ("vidio",))


def test_a_failing_row_shows_its_error_and_the_others_still_run(tmp_path):
    catalogue = load_hub().catalogue
    bad = DemoSpec("broken", "image", "vision/tiny", "classification", broken_data)
    worse = DemoSpec("missing", "image", "vision/tiny", "classification", lambda folder, seed: {"train": folder})
    said = []
    rows = run_demos(catalogue, [bad, worse], tmp_path, said.append)
    disk_full = "data: plugin module 'test_demo': factory test_demo:broken_data failed: OSError: disk full"
    assert [r.error for r in rows] == [disk_full, "data: demo 'missing': make_data returned no val, inputs"]
    assert any("[2/2] missing" in line for line in said)
    assert table_rows(rows)[0][5] == disk_full


def test_table_rows_format_a_full_row():
    row = DemoRow("text", "text", "nlp/minilm-l6", "classification", "out/text/model", metric="accuracy", value=0.975,
                  export_max_diff=2.4e-6, torch_ms=8.123, onnx_ms=3.2, prediction="a sentence -> food", seconds=41.2)
    assert table_rows([row])[0] == ["text", "nlp/minilm-l6", "accuracy 0.975", "2.4e-06",
                                    "8.12 / 3.20", "a sentence -> food", "41"]


@pytest.mark.slow
def test_the_audio_row_end_to_end(tmp_path):
    env = hub_env(tmp_path)
    shown = subprocess.run([str(HUB), "demo", "--only", "audio", "--out", str(tmp_path / "out"), "--json"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)  # a loaded CI machine
    assert shown.returncode == 0, shown.stderr[-2000:]
    (row,) = json.loads(shown.stdout)
    assert row["error"] is None and row["metric"] == "accuracy" and row["value"] >= 0.7
    assert row["export_max_diff"] < 1e-3 and row["torch_ms"] > 0 and row["onnx_ms"] > 0 and " -> " in row["prediction"]
    assert (tmp_path / "out" / "audio" / "model" / "model.onnx").is_file()
    assert "[1/1] audio" in shown.stderr and "export ..." in shown.stderr
