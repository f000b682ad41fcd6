"""``hub tune``: hyper-parameter search with Optuna over the one training engine.

    tune(catalogue, job, config, settings)
      1. the search space (the backbone family's recipe, or a TOML file) is checked and the
         task's metrics probed on a few validation examples: a bad space or metric fails
         before any trial runs
      2. the study lives in Optuna's RDB storage (default sqlite:///OUT/study.db); TPE
         (seeded) proposes, a median or Hyperband pruner stops trials on the engine's
         per-epoch validation metric (Job.on_epoch)
      3. J worker processes run trials until N are finished; a trial whose process was
         killed stops sending heartbeats, is marked failed and retried with its parameters
      4. OUT/trials/NNN per trial, OUT/best (the best model directory), OUT/results.csv,
         OUT/history.png and OUT/importances.png

Shared by the trials of one process: the data as read (Job.reader). Not shared: the
preprocessor's encoding and frozen-backbone features, which each trial's engine run
computes again (they depend on the trial's model, and the engine has no disk cache yet).
"""
from __future__ import annotations

import csv
import difflib
import io
import math
import os
import shutil
import socket
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from hub_core.common import atomic
from hub_core.common.errors import (
    ConfigError,
    DataError,
    Interrupted,
    ModelDirError,
    UsageError,
)
from hub_core.common.tomlfile import line_of, load_toml
from hub_core.train import study_file

# a trial's own failure (recorded, the search goes on); Ctrl-C (Interrupted) stops the search instead
TRIAL_ERRORS = (ConfigError, DataError, ModelDirError, UsageError)

# What a space may tune: TrainConfig fields, and two that map onto several flags.
NUMERIC = {"lr": float, "head_lr": float, "layer_decay": float, "weight_decay": float, "warmup": float, "clip": float,
           "label_smoothing": float, "lora_alpha": float, "head_dropout": float, "epochs": int, "batch_size": int,
           "grad_accum": int, "lora": int, "patience": int}
CATEGORICAL = ("freeze", "schedule", "class_weight", "trainable")
TRAINABLE_HELP = "auto | all | head | last-N | lora-R"
# The families' learning-rate recipes (the namespace of the backbone name); others get GENERIC_LR.
FAMILY_LR = {"nlp": (1e-5, 3e-4), "vision": (1e-4, 3e-3), "speech": (1e-5, 1e-3), "recsys": (1e-4, 3e-2)}
GENERIC_LR = (1e-4, 3e-2)
STUDY_NAME = "hub-tune"


@dataclass(frozen=True)
class Param:
    """One dimension of the space: a numeric range (``log`` for log-uniform) or choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def suggest(self, trial):
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if NUMERIC[self.name] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        if self.choices:
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        return f"{self.name} {self.low:g}..{self.high:g}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Settings:
    """How to search (the tune command's own options)."""

    trials: int
    out: str
    space_file: str | None = None
    timeout: float | None = None
    jobs: int = 1
    storage: str | None = None
    study_name: str = STUDY_NAME
    pruner: str = "median"
    keep_all: bool = False
    heartbeat: int = 10
    quiet: bool = False
    registries: tuple = ()
    seed: int = 0


# ----------------------------------------------------------------------------- the space
def check_param(param: Param, where: str) -> Param:
    """A parameter that can be sampled, or a one-line ConfigError naming it."""
    if param.name not in NUMERIC and param.name not in CATEGORICAL:
        hint = difflib.get_close_matches(param.name, [*NUMERIC, *CATEGORICAL], n=1)
        raise ConfigError(f"{where}unknown parameter {param.name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else
                          f"; tunable: {', '.join([*NUMERIC, *CATEGORICAL])}"))
    if param.name in CATEGORICAL or param.choices:
        if not param.choices:
            raise ConfigError(f"{where}{param.name}: empty choices (give choices = [...])")
        for choice in param.choices:
            check_choice(param.name, choice, where)
        return param
    if param.low is None or param.high is None:
        raise ConfigError(f"{where}{param.name}: give low and high (or choices)")
    for bound in (param.low, param.high):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise ConfigError(f"{where}{param.name}: bounds must be finite numbers, got {bound!r}")
    if param.low > param.high:
        raise ConfigError(f"{where}{param.name}: empty range, low {param.low:g} > high {param.high:g}")
    if param.log and param.low <= 0:
        raise ConfigError(f"{where}{param.name}: a log range needs low > 0, got {param.low:g}")
    if param.low < 0:
        raise ConfigError(f"{where}{param.name}: must be 0 or more, got low {param.low:g}")
    if NUMERIC[param.name] is int and not (float(param.low).is_integer() and float(param.high).is_integer()):
        raise ConfigError(f"{where}{param.name}: an integer parameter needs integer bounds")
    for side, bound in (("low", param.low), ("high", param.high)):
        check_value(param.name, bound, f"{where}{param.name}: {side} {bound:g}: ")
    return param


def check_value(name: str, value, where: str) -> None:
    """A numeric value the engine's own checks accept (layer_decay <= 1, label_smoothing < 1...),
    so a range that reaches past them fails before any trial, not as failed trials."""
    from dataclasses import fields

    from hub_core.train.config import TrainConfig, check

    if name not in {f.name for f in fields(TrainConfig)}:
        return
    try:
        check(replace(TrainConfig(), **{name: NUMERIC[name](value)}))
    except ConfigError as err:
        raise ConfigError(f"{where}{err}") from None


def check_choice(name: str, choice, where: str) -> None:
    """A choice the engine accepts (so a trial never fails on a typo)."""
    if name == "trainable":
        ok = choice in ("auto", "all", "head") or (isinstance(choice, str) and choice.partition("-")[0] in ("last", "lora")
                                           and choice.partition("-")[2].isdigit())
        if not ok:
            raise ConfigError(f"{where}trainable: {choice!r} is not one of {TRAINABLE_HELP}")
        return
    if name in NUMERIC:
        if isinstance(choice, bool) or not isinstance(choice, (int, float)):
            raise ConfigError(f"{where}{name}: choice {choice!r} is not a number")
        check_value(name, choice, f"{where}{name}: choice {choice!r}: ")
        return
    from hub_core.train.config import TrainConfig

    try:
        TrainConfig(**{name: choice})
    except (ConfigError, TypeError) as err:
        raise ConfigError(f"{where}{name}: choice {choice!r}: {err}") from None


def load_space(path: str) -> list[Param]:
    """A TOML file of tables, one a parameter: ``[lr] low = 1e-4  high = 1e-1  log = true``,
    ``[freeze] choices = ["none", "backbone"]``."""
    data = load_toml(path)
    data = data.get("space", data)
    if not data:
        raise ConfigError(f"{path}: the space is empty (one table a parameter, e.g. [lr] low = 1e-4 high = 1e-2)")
    space = []
    for name, table in data.items():
        where = f"{path}:{line_of(path, name) or 1}: "
        if not isinstance(table, dict):
            raise ConfigError(f"{where}{name} must be a table ([{name}] low = ... high = ..., or choices = [...])")
        unknown = set(table) - {"low", "high", "log", "step", "choices"}
        if unknown:
            raise ConfigError(f"{where}{name}: unknown key {sorted(unknown)[0]!r} (low, high, log, step, choices)")
        if "choices" in table and not isinstance(table["choices"], list):
            raise ConfigError(f"{where}{name}: choices must be a list")
        space.append(check_param(Param(name, table.get("low"), table.get("high"), bool(table.get("log", False)),
                                       table.get("step"), tuple(table.get("choices", ()))), where))
    return space


def default_space(backbone_name: str, config, blocks: int, lora_targets: bool) -> list[Param]:
    """The family's recipe: lr log-uniform around what the family trains at, weight decay,
    warm-up, epochs, batch size, head dropout, and what trains (all, head, last-N, LoRA);
    widened to hold the base configuration, which trial 0 measures."""
    low, high = FAMILY_LR.get(backbone_name.partition("/")[0], GENERIC_LR)
    trainable = ["auto", "all", "head"] + [f"last-{n}" for n in (1, 2) if n < blocks] + \
        (["lora-4", "lora-8"] if lora_targets else [])
    base = trainable_of(config)
    decay = config.weight_decay or 1e-4
    return [Param("lr", min(low, config.lr), max(high, config.lr), log=True),
            Param("weight_decay", min(1e-4, decay), max(0.1, decay), log=True),
            Param("warmup", 0.0, max(0.2, config.warmup)), Param("epochs", max(1, config.epochs), max(2, 3 * config.epochs)),
            Param("batch_size", choices=tuple(sorted({16, 32, 64, config.batch_size}))),
            Param("head_dropout", 0.0, max(0.5, config.head_options.get("dropout", 0.0))),
            Param("trainable", choices=tuple(trainable + ([base] if base not in trainable else [])))]


def trainable_of(config) -> str:
    """The base configuration's freeze / LoRA as a ``trainable`` value."""
    if config.lora:
        return f"lora-{config.lora}"
    return {"none": "all", "backbone": "head"}.get(config.freeze, config.freeze)


def apply(config, params: dict):
    """The trial's TrainConfig: the base configuration with the sampled values."""
    values = {k: v for k, v in params.items() if k not in ("head_dropout", "trainable")}
    if "epochs" in values:  # sampled epochs are the epochs (not a recipe's target_steps from the data size)
        values["target_steps"] = 0
    if "head_dropout" in params:
        values["head_options"] = {**config.head_options, "dropout": params["head_dropout"]}
    kind, _, n = params.get("trainable", "").partition("-")
    if kind in ("auto", "all", "head", "last"):
        values.update(freeze={"all": "none", "head": "backbone", "auto": "auto"}.get(kind, f"last-{n}"), lora=0)
    elif kind == "lora":
        values.update(freeze="auto", lora=int(n))
    return replace(config, **values)


def default_params(space: list[Param], config) -> dict:
    """The base configuration's values for the space, where it lies inside it (trial 0)."""
    params = {}
    for param in space:
        if param.name == "trainable":
            value = trainable_of(config)
        elif param.name == "head_dropout":
            value = config.head_options.get("dropout", 0.0)
        else:
            value = getattr(config, param.name)
        inside = value in param.choices if param.choices else \
            isinstance(value, (int, float)) and param.low <= value <= param.high
        if not inside:
            return {}
        params[param.name] = value
    return params


# ----------------------------------------------------------------------------- before any trial
def probe(catalogue, job, config) -> dict:
    """Build the base model on the data (the engine's own build_model and check_monitor): the
    monitor, its direction, and what the backbone offers (blocks, LoRA targets)."""
    from hub_core.model import metrics as task_metrics
    from hub_core.train import loop, selection

    modality = catalogue.modality(loop.backbone_spec_for(catalogue, job.model).modality)
    examples = job.reader(modality, job.data, job.read)
    if job.val:
        train, val = examples, job.reader(modality, job.val, job.read)
    else:
        train, val = selection.holdout(examples, config.val_split, config.seed) if config.val_split > 0 else (examples, [])
    if not val:
        raise UsageError("hub tune needs validation data to compare trials: give --val FILE or a --val-split above 0")
    model = loop.build_model(catalogue, job, config, train)
    monitor = config.monitor or model.task.monitor
    higher = task_metrics.higher_is_better(model.task, monitor)  # declared by the task's metrics, never guessed
    return {"monitor": monitor, "direction": "maximize" if higher else "minimize",
            "backbone": model.manifest["backbone"]["name"], "blocks": len(model.backbone.blocks() or []),
            "lora_targets": bool(getattr(model.backbone, "lora_targets", ()))}


def memo_reader():
    """read_examples, once per (file, options) in this process: every trial reads the same data."""
    from hub_core.data.sets import read_examples

    memo = {}

    def read(modality, path, options):
        key = (modality.name, str(Path(path).resolve()), repr(options))
        if key not in memo:
            memo[key] = read_examples(modality, path, options)
        return memo[key]
    return read


# ----------------------------------------------------------------------------- the study
def open_storage(settings: Settings):
    """Optuna's RDB storage with heartbeats (a killed trial is failed, then retried)."""
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import IntegrityError, SQLAlchemyError

    from hub_core.common.redact import hide, redact_url

    url = settings.storage or f"sqlite:///{Path(settings.out).resolve() / 'study.db'}"
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else None
    study_file.create_whole(url)
    for attempt in range(5):  # several processes initialising one fresh database (PostgreSQL) may race on its tables
        try:
            return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=settings.heartbeat,
                              grace_period=2 * settings.heartbeat,
                              heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2))
        except (SQLAlchemyError, ImportError, ValueError) as err:  # a bad URL, a missing driver, a locked file
            racing = isinstance(err, IntegrityError) or "locked" in str(err) or "already exists" in str(err)
            if attempt == 4 or not racing:
                reason = (str(err).splitlines() or [type(err).__name__])[0]
                raise UsageError(f"--storage {redact_url(url)}: {hide(reason, url)}") from None
            time.sleep(1 + attempt)


def open_study(settings: Settings, info: dict, space: list[Param], worker: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # heartbeats and the matplotlib plots are "experimental" in Optuna: say it once, in the docs
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = open_storage(settings)
    setup = {"monitor": info["monitor"], "direction": info["direction"], "space": [p.describe() for p in space]}
    from hub_core.common.redact import redact_url

    study = optuna.create_study(storage=storage, study_name=settings.study_name, direction=info["direction"],
                                load_if_exists=True, sampler=make_sampler(settings, worker, 0),
                                pruner=make_pruner(settings, space))
    known = study.user_attrs.get("setup")
    if known is None:
        study.set_user_attr("setup", setup)
    elif known != setup:
        raise UsageError(f"study {settings.study_name!r} in {redact_url(str(getattr(storage, 'url', settings.storage)))}"
                         f" was started with another monitor or space ({'; '.join(known['space'])}); use another --out, "
                         "--storage or --study-name")
    study.sampler = make_sampler(settings, worker, len(study.trials))  # a resumed study draws fresh numbers
    return study


def make_sampler(settings: Settings, worker: int, done: int):
    import optuna

    startup = max(3, min(10, settings.trials // 3))
    return optuna.samplers.TPESampler(seed=settings.seed + 7919 * worker + done, n_startup_trials=startup)


def make_pruner(settings: Settings, space: list[Param]):
    import optuna

    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    if settings.pruner == "hyperband":
        epochs = next((p for p in space if p.name == "epochs"), None)
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=int(epochs.high) if epochs else "auto",
                                              reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def counts(study) -> tuple[int, int]:
    """(finished, running): finished counts kept results and real failures, not killed trials."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    finished = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or
                   (t.state == TrialState.FAIL and "error" in t.user_attrs) for t in trials)
    return finished, sum(t.state == TrialState.RUNNING for t in trials)


# ----------------------------------------------------------------------------- trials
def trial_dir(out: str, number: int) -> Path:
    return Path(out) / "trials" / f"{number:03d}"


def objective(catalogue, job, config, space: list[Param], info: dict, settings: Settings):
    """One trial: the engine on the sampled configuration, reporting each epoch to the pruner."""
    import optuna

    from hub_core.train.loop import run

    monitor = info["monitor"]

    def run_trial(trial):
        params = {p.name: p.suggest(trial) for p in space}
        trial.set_user_attr("host", f"{socket.gethostname()}:{os.getpid()}")
        out = trial_dir(settings.out, trial.number)
        trial.set_user_attr("dir", str(out.resolve()))
        try:
            trial_config = apply(config, params)
        except ConfigError as err:  # a combination the engine refuses (recorded, not retried)
            trial.set_user_attr("error", str(err))
            raise

        def report(epoch: int, metrics: dict):
            value = metrics.get(monitor)
            if value is None or not math.isfinite(value):
                return
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"{monitor} {value:.4f} after epoch {epoch}")

        started = time.perf_counter()
        try:
            final = run(catalogue, replace(job, out=str(out), overwrite=True, quiet=True, on_epoch=report), trial_config)
        except TRIAL_ERRORS as err:
            trial.set_user_attr("error", str(err))
            raise
        finally:
            trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        return final[monitor]
    return run_trial


def say_trial(study, trial, settings: Settings, monitor: str) -> None:
    """One line a finished trial (Optuna's own log is silenced)."""
    from hub_core.common.console import notice

    if settings.quiet:
        return
    params = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial.params.items())
    state = trial.state.name.lower()
    if trial.value is not None:
        what = f"{monitor} {trial.value:.4f}"
    elif trial.state.name == "PRUNED":
        epochs = sorted(trial.intermediate_values)
        what = f"pruned after epoch {epochs[-1]}" if epochs else "pruned"
    else:
        what = f"{state}: {trial.user_attrs.get('error', 'its process stopped')}"
    notice(f"trial {trial.number}: {what} ({params})")


def work(catalogue, job, config, space: list[Param], info: dict, settings: Settings, worker: int) -> None:
    """Run trials in this process until the study holds ``settings.trials`` finished ones."""
    import optuna

    study = open_study(settings, info, space, worker)
    deadline = time.monotonic() + settings.timeout if settings.timeout else math.inf
    function = objective(catalogue, job, config, space, info, settings)

    def callback(s, t):
        return say_trial(s, t, settings, info["monitor"])

    if worker == 0 and not study.trials:
        defaults = default_params(space, config)
        if defaults:  # trial 0 measures the base configuration: what tuning is compared with
            study.enqueue_trial(defaults, user_attrs={"base": True})
    while time.monotonic() < deadline:
        optuna.storages.fail_stale_trials(study)
        finished, running = counts(study)
        if finished >= settings.trials:
            return
        if finished + running >= settings.trials:  # the rest are running elsewhere: wait for them (or their death)
            time.sleep(min(settings.heartbeat, 2))
            continue
        try:
            study.optimize(function, n_trials=1, catch=TRIAL_ERRORS, callbacks=[callback])
        except Interrupted:  # the engine saw Ctrl-C: this trial is failed (and rerun next time), the rest kept
            raise Interrupted(f"interrupted: the finished trials are kept in the study; run the same command to "
                              f"continue ({settings.trials} trials)") from None


def worker_main(builtins: dict, registries: tuple, job, config, space, info, settings, worker: int) -> None:
    """A --jobs process (spawned: fresh torch, no inherited thread pools): the same plugins."""
    import torch

    from hub_core.plugin import manager

    manager.BUILTINS.update(builtins)
    hub = manager.load_hub()
    hub.load_registries(registries)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.jobs))
    work(hub.catalogue, replace(job, reader=memo_reader()), config, space, info, settings, worker)


def run_workers(catalogue, job, config, space, info, settings: Settings) -> None:
    """This process is worker 0; --jobs J adds J - 1 spawned processes on the same study."""
    import multiprocessing

    from hub_core.plugin import manager

    context = multiprocessing.get_context("spawn")
    portable = replace(job, reader=None, on_epoch=None)
    others = [context.Process(target=worker_main, args=(dict(manager.BUILTINS), settings.registries, portable, config,
                                                       space, info, settings, w), daemon=True)
              for w in range(1, settings.jobs)]
    for process in others:
        process.start()
    try:
        if settings.jobs > 1:
            import torch

            torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.jobs))
        work(catalogue, job, config, space, info, settings, 0)
    finally:
        for process in others:
            process.join()
    failed = [p.exitcode for p in others if p.exitcode]
    if failed:
        raise UsageError(f"{len(failed)} of the {settings.jobs - 1} extra --jobs processes failed "
                         f"(exit codes {', '.join(map(str, failed))}); their trials are marked failed and retried")


# ----------------------------------------------------------------------------- results
def tidy(study, settings: Settings) -> None:
    """Remove the model directories of failed trials, and of pruned ones unless --keep-all."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL, TrialState.PRUNED)):
        if trial.state == TrialState.FAIL or not settings.keep_all:
            shutil.rmtree(trial_dir(settings.out, trial.number), ignore_errors=True)


def publish_best(study, settings: Settings) -> Path | None:
    """OUT/best: a copy of the best trial's model directory, swapped in by renames."""
    try:
        best = study.best_trial
    except ValueError:  # no trial completed
        return None
    source = trial_dir(settings.out, best.number)
    if not (source / "hub.json").is_file():  # trained on another machine: its directory is there
        return None
    target = Path(settings.out) / "best"
    staging = atomic.temporary_path(target)
    staging.unlink()
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns("checkpoints"))
    old = target.with_name(f".{target.name}.old.{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def rows_of(study) -> list[dict]:
    names = sorted({k for t in study.trials for k in t.params})
    rows = []
    for trial in study.trials:
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), "value": trial.value,
                     "epochs": max(trial.intermediate_values, default=None), **{k: trial.params.get(k) for k in names},
                     "seconds": trial.user_attrs.get("seconds"), "host": trial.user_attrs.get("host"),
                     "base": bool(trial.user_attrs.get("base")), "error": trial.user_attrs.get("error")})
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["trial"])
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


def plot(study, out: Path) -> list[str]:
    """history.png and importances.png (Optuna's matplotlib plots); what could not be drawn and why."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as plots

    skipped = []
    for name, draw in (("history.png", plots.plot_optimization_history), ("importances.png", plots.plot_param_importances)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks these plots experimental
                axes = draw(study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            with atomic.replacing(out / name, suffix=".png") as tmp:
                figure.savefig(tmp, dpi=100, bbox_inches="tight")
            matplotlib.pyplot.close(figure)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. importances need 2+ completed trials
            skipped.append(f"{name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    return skipped


def summary(study, info: dict, best_dir: Path | None, skipped: list[str]) -> dict:
    rows = rows_of(study)
    states = [r["state"] for r in rows]
    base = next((r for r in rows if r["base"] and r["value"] is not None), None)
    best = None
    if any(s == "complete" for s in states):
        trial = study.best_trial
        best = {"trial": trial.number, "value": trial.value, "params": trial.params,
                "dir": str(best_dir) if best_dir else None, "host": trial.user_attrs.get("host")}
    return {"monitor": info["monitor"], "direction": info["direction"], "trials": len(rows),
            "complete": states.count("complete"), "pruned": states.count("pruned"), "failed": states.count("fail"),
            "base": {"trial": base["trial"], "value": base["value"]} if base else None, "best": best,
            "plots_skipped": skipped, "results": rows}


# ----------------------------------------------------------------------------- the whole search
def tune(catalogue, job, config, settings: Settings) -> dict:
    """Check, search, and write the results (see the module docstring)."""
    job = replace(job, reader=job.reader or memo_reader())
    space = load_space(settings.space_file) if settings.space_file else None
    info = probe(catalogue, job, config)
    if space is None:
        space = default_space(info["backbone"], config, info["blocks"], info["lora_targets"])
    for param in space:
        if param.name == "trainable" and any(c.startswith("lora") for c in param.choices) and not info["lora_targets"]:
            raise ConfigError(f"{settings.space_file or 'space'}: trainable lora-R: backbone {info['backbone']!r} "
                              "names no LoRA target modules")
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = replace(settings, seed=config.seed)
    run_workers(catalogue, job, config, space, info, settings)
    study = open_study(settings, info, space, 0)
    tidy(study, settings)
    best_dir = publish_best(study, settings)
    result = summary(study, info, best_dir, plot(study, out))
    write_csv(result["results"], out / "results.csv")
    result["space"] = [p.describe() for p in space]
    return result
