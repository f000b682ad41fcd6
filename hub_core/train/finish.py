"""``hub finish RUN_DIR``: an interrupted run becomes a model directory without more training.

The run's folder keeps ``run.json`` (the job and the config) and ``checkpoints/`` (the last
state and the best epoch's weights). Finishing resumes that run with no epochs left: the data
is read again (the preprocessor is fitted on it, as in training), the best checkpoint is
loaded, evaluated and written as hub.json + model.safetensors + the model card. The
interrupted epoch's partial progress is dropped; ``--resume`` is the way to use it.
"""
from __future__ import annotations

import json
from pathlib import Path

from hub_core.common.errors import UsageError
from hub_core.model.contracts import ReadOptions
from hub_core.model.manifest import is_model_dir
from hub_core.train.checkpoint import find_checkpoint, retired


def finish_run(catalogue, out: str | Path, quiet: bool = False) -> dict:
    """Write the model directory of the interrupted run in ``out``; returns its final metrics."""
    from hub_core.train.config import TrainConfig
    from hub_core.train.loop import Job, run

    out = Path(out)
    run_file = out / "run.json"
    if not run_file.is_file():
        what = "already a model directory" if is_model_dir(out) else "not a training run"
        raise UsageError(f"{out}: {what} (no run.json to finish from)")
    last = find_checkpoint(out / "checkpoints" / "last")
    if last is None:
        raise UsageError(f"{out}: nothing to finish: the run stopped before its first checkpoint (start it again)")
    if retired(out):
        raise UsageError(f"{out}: this run finished and wrote its model directory: nothing to finish")
    position = json.loads((last / "state.json").read_text())["position"]
    if position["epoch"] == 0:
        raise UsageError(f"{out}: nothing to finish: no epoch has completed yet (stopped at step {position['step']} "
                         "of epoch 1); continue it with the same command and --resume")
    saved = json.loads(run_file.read_text())
    job = dict(saved["job"])
    stored = job.pop("read")
    read = ReadOptions(**{**stored, "input_columns": tuple(stored.get("input_columns", ()))})
    job.update(out=str(out), resume=True, overwrite=False, finish=True, quiet=quiet)
    return run(catalogue, Job(**job, read=read), TrainConfig(**saved["config"]))

