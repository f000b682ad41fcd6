"""The model's size is checked before memory is taken, against a limit --max-params moves:
a config asking for 10^10 parameters is refused in seconds with one line and writes
nothing; --max-params (before or after the command name) lowers or raises the limit for
that command only. (Untrusted hub.json sizes: test_bad_input.py's manifest-a-million-* cases.)
"""
from __future__ import annotations

import os
import time

from tests.robustness.helpers import run_hub
from tests.tinyplug import make_blobs


def finetune(data, out, *extra):
    return ("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", out, "--epochs", "1", "--quiet", *extra)


def test_a_config_too_large_is_refused_before_allocation(workdir):
    data = make_blobs(workdir / "train.csv", n=60, seed=0)
    started = time.monotonic()
    code, _, err = run_hub(*finetune(data, workdir / "run", "--backbone-option", "width=100000"))  # 2 x 10^10 weights
    assert code == 1 and err.count("\n") == 1, err
    assert "model 'tiny/mlp': more than 1,000,000,000 parameters" in err and "--max-params" in err, err
    assert time.monotonic() - started < 60
    assert not (workdir / "run").exists()


def test_max_params_lowers_and_raises_the_limit_for_one_command(workdir):
    data = make_blobs(workdir / "train.csv", n=60, seed=0)
    code, _, err = run_hub(*finetune(data, workdir / "small", "--max-params", "1000"))  # ~2,500 parameters
    assert code == 1 and "more than 1,000 parameters" in err, err
    assert "PLUGHUB_MAX_PARAMS" not in os.environ  # for that command only
    code, _, err = run_hub("--max-params", "1e4", *finetune(data, workdir / "ok"))
    assert code == 0, err
    code, out, err = run_hub("predict", workdir / "ok", "1,2,3,4,5,6,7,8", "--max-params=1000")
    assert code == 1 and "hub.json: more than 1,000 parameters" in err, err
    code, out, err = run_hub("predict", workdir / "ok", "1,2,3,4,5,6,7,8", "--max-params", "5000")
    assert code == 0 and out, err
    code, _, err = run_hub("--max-params", "0", "list")
    assert code == 2 and "--max-params" in err, err
