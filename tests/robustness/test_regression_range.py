"""Regression targets a float32 model cannot answer (±1e308: its standard deviation overflows,
its outputs would be inf) are one line naming the file and the value, not an internal error."""
from __future__ import annotations

import numpy as np
import pytest

from hub_core.tasks.regression import to_number


def test_a_target_beyond_float32_is_refused_by_value():
    assert to_number("3.4e30") == 3.4e30
    for raw in ("1e308", "-1e308", "4e38"):
        with pytest.raises(ValueError, match="beyond the range a float32 model can answer"):
            to_number(raw)


def test_finetune_on_targets_of_1e308_is_one_line(hub_cli, tmp_path):
    rng = np.random.default_rng(0)
    rows = ["x0,x1,x2,x3,x4,x5,x6,x7,label"] + [
        ",".join(f"{v:.3f}" for v in rng.normal(size=8)) + (",1e308" if i % 2 else ",-1e308") for i in range(60)]
    (tmp_path / "big.csv").write_text("\n".join(rows) + "\n")
    code, _, stderr = hub_cli("finetune", "tiny/mlp", "--task", "regression", "--data", tmp_path / "big.csv",
                              "--out", tmp_path / "run", "--epochs", "1")
    assert code != 0 and stderr.count("\n") == 1 and "internal error" not in stderr, stderr
    assert "big.csv" in stderr and "1e308" in stderr and "rescale the column" in stderr
