"""The fine-tuning and pre-training engine: one loop, read top to bottom.

    train(catalogue, job, config, stop)
      read      the data with the modality's reader; split off validation
      build     the model (hub_core.model.build): preset, backbone or model directory,
                with preprocessor and task fitted on the training data
      prepare   what trains (freeze / LoRA), the batches it sees (examples, or cached
                backbone features), the optimizer and its schedule; resume the position
      epochs    planned batches; evaluate; keep last (and best) checkpoints
      write     the model directory: hub.json, model.safetensors, preprocessor/, records

Several processes: ``torchrun --nproc-per-node N -m hub_core finetune ...`` trains with
DDP (gloo on CPU, nccl on GPU); rank 0 alone writes.

Interruptions: checkpoints are written atomically, so after a kill at any moment
``--resume`` continues exactly (bit-identical weights); Ctrl-C (SIGINT) finishes the
optimizer step, saves a checkpoint and exits with code 130; SIGTERM does the same. One
process at a time writes an --out (hub_core.common.lock).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from hub_core.common import atomic, lock
from hub_core.common.errors import Interrupted, UsageError
from hub_core.model.adapt import merge_lora
from hub_core.model.build import create_model
from hub_core.model.contracts import ReadOptions
from hub_core.model import metrics as task_metrics
from hub_core.model import snapshot
from hub_core.model.directory import HubModel, count_parameters, device_for, is_model_dir, read_manifest, save_model
from hub_core.model.snapshot import Snapshot
from hub_core.train import divergence, layer_decay, recipe, records, selection, share, staging
from hub_core.train.checkpoint import (Position, discard_partial_writes, find_checkpoint, load_checkpoint, retire,
                                       retired, save_checkpoint)
from hub_core.train.config import TrainConfig
from hub_core.data.arraycache import preprocessor_digest  # what keys the examples
from hub_core.data.cachebuild import weights_digest
from hub_core.data.passes import ExampleFeed, FeatureCache, evaluate, floats
from hub_core.data.sets import ExampleSet, read_examples
from hub_core.data.loader import feed_workers, resolve_workers


@dataclass
class Job:
    """What to train: the model to start from, the task, the data and where to write."""

    model: str
    task: str | None
    data: str
    out: str
    val: str | None = None
    weights: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    overwrite: bool = False
    resume: bool = False
    quiet: bool = False
    finish: bool = False  # with resume: train no further, write the model directory from the kept epoch
    # hub tune: called (epoch, validation metrics) after each epoch; what it raises (a pruned trial)
    # propagates. reader(modality, path, options) replaces read_examples (one read for all trials).
    on_epoch: Callable[[int, dict], None] | None = field(default=None, repr=False, compare=False)
    reader: Callable | None = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------- setup
def distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return int(os.environ.get("RANK", "0")), world


MIN_FREE = 16 * 2**20  # bytes free on --out's file system below which no run starts (records, a small model)


def check_out_dir(job: Job) -> Path:
    out = Path(job.out)
    if job.resume and job.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: --resume continues the run in --out, "
                         "--overwrite replaces it")
    if job.resume:
        if find_checkpoint(out / "checkpoints" / "last") is None:
            raise UsageError(f"--resume: {out} has no checkpoint to resume from")
        if retired(out):
            raise UsageError(f"--resume: {out} is a finished run (nothing left to train; its optimizer state went when "
                             f"it was written): to train it further, 'hub finetune {out} ... -o NEW_DIR'")
        return out
    if out.exists() and (not out.is_dir() or any(not lock.is_lock_file(p) for p in out.iterdir())):
        if not job.overwrite:
            raise UsageError(f"--out {out} is not empty (use --overwrite to replace it, or --resume to continue)")
    if out.is_dir():  # before the data and the model load: a full disk fails now, not after
        atomic.check_space(out, MIN_FREE, f"--out {out}")
    return out


def backbone_spec_for(catalogue, model: str):
    if is_model_dir(model):
        return catalogue.get("backbone", read_manifest(Path(model))["backbone"]["name"])
    return catalogue.resolve_model(model).spec


def accepts(factory, option: str) -> bool:
    import inspect

    from hub_core.plugin.specs import resolve

    return option in inspect.signature(resolve(factory)).parameters


def build_model(catalogue, job: Job, config: TrainConfig, train_examples) -> HubModel:
    """A model for this job: fresh from a preset/backbone, or continued from a model directory."""
    weighting = {"class_weight": config.class_weight} if config.class_weight != "none" else {}
    if config.label_smoothing and job.task and accepts(catalogue.task(job.task).factory, "label_smoothing"):
        weighting["label_smoothing"] = config.label_smoothing  # a recipe's: for the tasks that have it
    def create(stand_in: bool) -> HubModel:
        return create_model(catalogue, job.model, examples=train_examples, task=job.task, weights=job.weights,
                            backbone_options=config.backbone_options, preprocess=config.preprocess,
                            task_options={**config.task_options, **weighting}, head=config.head,
                            head_options=config.head_options, data=job.data, stand_in=stand_in)

    # a frozen backbone whose features may all be cached can be its recorded snapshot (a check
    # of --monitor runs the whole model, so does more than one process)
    generator = torch.random.get_rng_state()
    model = create(config.freeze == "backbone" and config.cache_features and not config.monitor
                   and int(os.environ.get("WORLD_SIZE", "1")) == 1)
    if isinstance(model.backbone, Snapshot) and model.backbone.preprocessor_digest() != \
            preprocessor_digest(model.preprocessor):
        torch.random.set_rng_state(generator)  # the model is made again from where the first try began
        model = create(False)  # recorded with another fitted preprocessor (a tokenizer learnt from other data)
    return model


def make_optimizer(model: HubModel, config: TrainConfig, total_steps: int):
    def trainable(parameters):
        return [p for p in parameters if p.requires_grad]

    # a composite backbone (fusion) gives each part its own learning rate
    groups = [{"params": trainable(g["params"]), "lr": g["lr"]} for g in model.backbone.param_groups(config.lr)]
    groups = layer_decay.decayed(groups, model.backbone, config.layer_decay)
    groups.append({"params": trainable(model.head.parameters()), "lr": config.head_lr or config.lr})
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise UsageError("nothing to train: every parameter is frozen")
    # fused: one kernel for every parameter (7x faster than the per-tensor loop on CPU, as transformers' Trainer uses)
    fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for g in groups for p in g["params"])
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay, fused=fused or None)
    warmup = int(config.warmup * total_steps) if config.warmup < 1 else int(config.warmup)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if config.schedule == "linear":
            return 1.0 - progress
        return 1.0

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def check_monitor(model: HubModel, val_examples, config: TrainConfig) -> None:
    """An unknown --monitor fails now, before anything is written: the task's metrics declare
    what may be monitored, and which way is better."""
    task_metrics.higher_is_better(model.task, config.monitor)


# ----------------------------------------------------------------------------- Ctrl-C
class StopRequest:
    """SIGINT (Ctrl-C) or SIGTERM (what docker stop, systemd and Slurm send) while the loop
    runs asks it to finish the optimizer step, save a resumable checkpoint and stop; outside
    the loop, or a second signal, stops at once. Single-process runs only: DDP ranks would
    not agree on the step to stop at."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.armed = self.requested = False
        self.previous = {}

    def __enter__(self):
        if int(os.environ.get("WORLD_SIZE", "1")) == 1 and threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if not self.armed or self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


def run(catalogue, job: Job, config: TrainConfig) -> dict:
    # one writer per --out: rank 0 of a run holds its lock (the other ranks write nothing)
    held = lock.hold(job.out) if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext()
    with StopRequest() as stop, held, staging.staged(job) as job:  # --overwrite swaps in only a finished run
        return train(catalogue, job, config, stop)


# ----------------------------------------------------------------------------- the loop
@dataclass
class Run:
    """Everything the epochs need, made once by ``prepare``."""

    job: Job
    config: TrainConfig
    model: HubModel
    wrapped: torch.nn.Module  # the model, or its DDP wrapper
    train_data: ExampleFeed | FeatureCache
    val_data: ExampleFeed | FeatureCache | None
    n_train: int
    n_val: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    autocast: Callable
    device: torch.device
    rank: int
    world: int
    out: Path
    monitor: str
    mode: str
    frozen: list[str]
    cached: bool
    writer: records.Records | None = None
    trainable: list | None = None  # the parameters that train, listed once (clipping)
    share: object = None  # this rank's shards (share.Share), when it reads only those
    data_note: str = ""  # how the training batches are fed (workers or not, and why), for the start line
    planned_epochs: int | None = None  # `hub finish`: the epochs the interrupted run had planned


def train(catalogue, job: Job, config: TrainConfig, stop: StopRequest) -> dict:
    rank, world = distributed()
    out = check_out_dir(job)
    if job.resume:  # a resumed run keeps the settings it started with
        config = TrainConfig(**json.loads((out / "run.json").read_text())["config"])
    torch.manual_seed(config.seed)
    device = device_for(config.device if world == 1 or config.device else
                        (f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"))

    # read: the training data (under torchrun, this rank's shards), and validation data given or held out
    mine = share.plan(job.data, rank=rank, world=world, val_given=bool(job.val), val_split=config.val_split) \
        if job.reader is None else None
    examples, train_examples, val_examples = read_data(catalogue, job, config, mine)
    # build: a tokenizer for unlabelled text learns from the whole corpus, the held-out slice included
    model = build_model(catalogue, job, config, train_examples if job.read.labelled else examples)
    if mine is not None:
        share.agree(mine, model)  # the same labels and preprocessor on every rank
    selection.check_held_out(model.task, val_examples, given=bool(job.val))
    train_examples, val_examples, config = model.task.prepare_run(model, train_examples, val_examples, config)
    # prepare: what trains, on which batches, with which optimizer; the records; where we resume
    run = prepare(catalogue, job, config, model, train_examples, val_examples, device, rank, world, mine)
    position = start(run)
    # epochs: stopped by their count, --max-steps, --patience or Ctrl-C
    stop.armed = True
    run_epochs(run, position, stop)
    stop.armed = False
    # write: the kept weights, final metrics and the model directory
    return write(catalogue, run, position, train_examples)


def read_data(catalogue, job: Job, config: TrainConfig, mine=None):
    """(all examples read, training examples, validation examples); ``mine``: this rank's
    shards and the held-out ones (``share.plan``)."""
    modality = catalogue.modality(backbone_spec_for(catalogue, job.model).modality)
    read = job.reader or read_examples
    if mine is not None:
        examples = read(modality, mine.train, job.read)
        held = mine.val or job.val
        return examples, examples, read(modality, held, job.read) if held else []
    examples = read(modality, job.data, job.read)
    if job.val:
        return examples, examples, read(modality, job.val, job.read)
    if config.val_split > 0:  # unlabelled too: pre-training reports held-out perplexity
        return (examples, *selection.holdout(examples, config.val_split, config.seed))
    return examples, examples, []


def prepare(catalogue, job, config, model, train_examples, val_examples, device, rank, world, mine=None) -> Run:
    """Freeze / adapt, choose the batches (cached features when only the head trains on
    pooled features), make the optimizer and schedule; the order keeps runs bit-identical."""
    skip_bad, workers = job.read.skip_bad, resolve_workers(config.workers)
    train_set = ExampleSet(train_examples, model.preprocessor, model.task, train=True, seed=config.seed,
                           skip_bad=skip_bad).cached(workers)  # deterministic: preprocessed once, on disk
    val_set = ExampleSet(val_examples, model.preprocessor, model.task, train=False,
                         skip_bad=skip_bad).cached(workers) if val_examples else None
    if config.monitor and val_set is not None:
        check_monitor(model, val_examples, config)
    frozen = model.backbone.prepare_training(config.freeze, config.lora, config.lora_alpha,
                                             name=model.manifest["backbone"]["name"])
    model.to(device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if config.precision == "bf16" else \
        (lambda: torch.autocast(device.type, enabled=False))
    cached = (config.freeze == "backbone" and config.cache_features and not train_set.augments and world == 1
              and model.head.consumes == "pooled" and "pooled" in backbone_spec_for(catalogue, job.model).features
              and model.task.evaluate_model is None and model.task.program is None  # a program runs the whole model
              and not any(p.requires_grad for p in model.backbone.parameters()))
    # the backbone's digest keys the features in the disk cache: once for the train and validation sets
    digest, frozen = settle_backbone(model, config, cached, (train_set, val_set), device, frozen)
    feed = (lambda data: FeatureCache(model, data, config.batch_size, device, autocast, workers,
                                      config.precision, digest)) if cached else \
        (lambda data: ExampleFeed(data, feed_workers(data, config.workers)[0], device))
    train_data, val_data = feed(train_set), feed(val_set) if val_set is not None else None
    data_note = "backbone features cached" if cached else feed_workers(train_set, config.workers)[1]
    if digest and getattr(model, "snapshot_key", None) and not isinstance(model.backbone, Snapshot):
        key, *generator = model.snapshot_key
        snapshot.record(key, model.backbone, catalogue.modality(model.manifest["modality"]),
                        preprocessor_digest(model.preprocessor), digest, generator)  # the next run builds none
    if mine is not None:
        share.count(mine, len(train_data), config.batch_size, config.seed)  # the fewest batches of any rank
    steps_per_epoch = math.ceil(len(share.batches(mine, len(train_data), config.batch_size, seed=config.seed, epoch=0,
                                                  lengths=None, rank=rank, world=world)) / config.grad_accum)
    config = recipe.resolve_epochs(config, steps_per_epoch)  # epochs from the data size, when the recipe says so
    config = recipe.resolve_patience(config)  # early stopping on unless asked off
    optimizer, scheduler = make_optimizer(model, config, steps_per_epoch * config.epochs)
    wrapped = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model
    monitor = config.monitor or (model.task.monitor if val_set else "loss")
    return Run(job, config, model, wrapped, train_data, val_data, len(train_examples), len(val_examples), optimizer,
               scheduler, autocast, device, rank, world, Path(job.out), monitor, task_metrics.mode(model.task, monitor),
               frozen, cached, share=mine, data_note=data_note)


def settle_backbone(model: HubModel, config: TrainConfig, cached: bool, sets, device, frozen: list[str]):
    """(the backbone's weights digest when its features go to the disk cache, what is frozen).
    A recorded snapshot stands in for the backbone only while every feature it would give is
    in the disk cache; otherwise the backbone itself is built now and takes its place."""
    recorded = isinstance(model.backbone, Snapshot)
    digest = weights_digest(model.backbone) if cached and sets[0].store is not None else None
    if recorded and not (digest and all(FeatureCache.stored(s, digest, device, config.precision)
                                        for s in sets if s is not None)):
        model.backbone = model.backbone.real(model.preprocessor)
        frozen = model.backbone.prepare_training(config.freeze, config.lora, config.lora_alpha,
                                                 name=model.manifest["backbone"]["name"])
        model.to(device)
        digest = weights_digest(model.backbone) if digest else None
    return digest, frozen


def start(run: Run) -> Position:
    """Open the records (rank 0) and return where the epochs start: the beginning, or the checkpoint."""
    job, out = run.job, run.out
    if run.rank == 0:
        if job.overwrite and out.exists() and not job.resume:
            for path in out.iterdir():  # all but the lock this run holds
                if not lock.is_lock_file(path):
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        out.mkdir(parents=True, exist_ok=True)
        atomic.check_space(out, space_needed(run.model), f"--out {out}")
        if job.resume:
            discard_partial_writes(out)
        else:
            atomic.write_json(out / "run.json", {"config": run.config.to_json(), "job": {
                **{k: v for k, v in asdict(job).items() if not callable(v)}, "read": asdict(job.read)}})
            (out / "metrics.jsonl").unlink(missing_ok=True)
        run.writer = records.Records(out, quiet=job.quiet)
    position = Position()
    if job.resume:
        position = load_checkpoint(out / "checkpoints" / "last", run.model, run.optimizer, run.scheduler)
        if job.finish:  # `hub finish`: the epochs done so far are the run, credited to the interruption, not the recipe
            run.planned_epochs = run.config.epochs
            run.config = replace(run.config, epochs=position.epoch, recipe={
                **run.config.recipe, "epochs": f"hub finish: interrupted after {position.epoch} of {run.config.epochs}"})
    if run.rank == 0 and not job.quiet:
        records.say(describe_start(run, position))
        records.say(recipe.describe(run.config))
    return position


def space_needed(model: HubModel) -> int:
    """Bytes a run writes at most at once: two checkpoints while one replaces the other (weights,
    and AdamW's two moments of what trains), the best epoch's weights, the final model."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    moments = 2 * sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 2 * (weights + moments) + 2 * weights + MIN_FREE


def describe_start(run: Run, position: Position) -> str:
    model, frozen = run.model, run.frozen
    return (f"{model.manifest['backbone']['name']} + {model.manifest['head']['name']} for "
            f"{model.manifest['task']['name']}: {count_parameters(model):,} parameters, "
            f"{count_parameters(model, True):,} trainable" + (f"; frozen: {', '.join(frozen)}" if frozen else "")
            + ("; backbone features cached" + (" (reused from the disk cache)" if getattr(run.train_data, "reused", 0)
                                                else "") if run.cached else f"; data: {run.data_note}")
            + f"; {run.n_train} train / {run.n_val} val examples"
            + (f"; resuming at epoch {position.epoch + 1}" if run.job.resume else ""))


def compile_model(run: Run) -> None:
    """--compile: torch.compile the backbone and the head in place (``Module.compile``: the
    state dict keeps its keys, so checkpoints, resume and the saved model are unchanged);
    shapes that vary (text lengths) are compiled dynamic after the first recompilation."""
    if run.config.compile:
        if not run.cached:  # cached features: the backbone never runs while training
            run.model.backbone.compile()
        run.model.head.compile()


def run_epochs(run: Run, position: Position, stop: StopRequest) -> None:
    config = run.config
    compile_model(run)
    generator = torch.Generator().manual_seed(config.seed)
    run.model.train()
    if config.freeze == "backbone":
        run.model.backbone.eval()  # a frozen backbone keeps its statistics and skips dropout
    with head_threads(run):
        while position.epoch < config.epochs:
            reached_max_steps = train_epoch(run, position, stop, generator)
            end_epoch(run, position, stop)  # a partial epoch too: --max-steps ends with an evaluation
            if stops_early(run, position):
                if run.writer and not run.job.quiet:
                    records.say(f"stopped at epoch {position.epoch} of {config.epochs}: no gain in validation "
                                f"{run.monitor} in {config.patience} epochs (--patience {config.patience}; 0: off)")
                return
            if reached_max_steps:
                return


def stops_early(run: Run, position: Position) -> bool:
    """--patience: this many epochs without a gain, on a validation set large enough to rank
    epochs (a smaller one cannot say that training stopped helping), past --min-epochs."""
    config = run.config
    return bool(config.patience and position.bad_epochs >= config.patience and selection.decisive(run.n_val)
                and config.min_epochs <= position.epoch < config.epochs)


SMALL_HEAD_WORK = 2**24  # trainable head parameters x batch size below which a step runs on one thread


@contextlib.contextmanager
def head_threads(run: Run):
    """Epochs on cached features run only a small head on the CPU: one intra-op thread. Its
    ops are too small to split, and splitting costs a barrier per op (a 384x6 linear head at
    batch 16: 0.22 ms a step on one thread, 0.83 ms on two of an idle 2-core machine, 3.1 ms
    when busy; a 256-wide MLP head at batch 32: 0.73 against 4.3 ms)."""
    small = run.cached and run.device.type == "cpu" and \
        count_parameters(run.model.head, True) * run.config.batch_size < SMALL_HEAD_WORK
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


def train_epoch(run: Run, position: Position, stop: StopRequest, generator) -> bool:
    """The batches of one epoch from ``position.batch`` on; True when --max-steps is reached."""
    config, model, epoch = run.config, run.model, position.epoch
    batches = share.batches(run.share, len(run.train_data), config.batch_size, seed=config.seed, epoch=epoch,
                            lengths=run.train_data.lengths() if config.group_by_length else None,
                            rank=run.rank, world=run.world)
    progress = run.writer.progress(len(batches), f"epoch {epoch + 1}/{config.epochs}") if run.writer else None
    if progress and position.batch:
        progress.update(position.batch)
    started, seen, meter = time.perf_counter(), 0, LossMeter()
    feed = run.train_data.batches(batches, epoch, run.device, start=position.batch)  # prepared by the workers
    try:
        for index in range(position.batch, len(batches)):
            # forward and backward; the generator is seeded per batch, so a resumed epoch draws alike
            batch = next(feed)
            generator.manual_seed((config.seed * 1_000_003 + epoch) * 1_000_003 + index)
            batch = model.task.prepare(batch, train=True, generator=generator)
            with run.autocast():
                outputs = floats(run.train_data.forward(run.wrapped, batch.inputs))
                loss = model.task.loss(outputs, batch) / config.grad_accum
            loss.backward()
            seen += len(batches[index])
            # an optimizer step every --grad-accum batches and at the end of the epoch
            boundary = (index + 1) % config.grad_accum == 0 or index + 1 == len(batches)
            if boundary:
                step(run, position)
            position.batch = index + 1
            reached_max_steps = bool(config.max_steps and position.step >= config.max_steps)
            # the loss stays on the device; read (a host sync) only when recorded or shown
            meter.add(loss.detach(), config.grad_accum)
            if run.writer and (index + 1 == len(batches) or boundary and (
                    stop.requested or reached_max_steps or position.step % records.LOG_EVERY == 0 or meter.due())):
                record_losses(run, position, meter, progress, seen / (time.perf_counter() - started))
            every = config.checkpoint_every
            if boundary and (stop.requested or every and position.step % every == 0):
                checkpoint(run, position)
            if boundary and stop.requested:
                stop_now(run, position)
            if reached_max_steps:
                return True
    finally:
        feed.close()
        if progress:
            progress.close()
    return False


class LossMeter:
    """The training loss summed on the device between readings: ``float(loss)`` every step
    would wait for the device (a CUDA sync) each step; read every LOG_EVERY steps or, for the
    progress display, at most every READ_EVERY_S."""

    READ_EVERY_S = 1.0

    def __init__(self):
        self.total, self.batches, self.read_at = None, 0, time.perf_counter()

    def add(self, loss: torch.Tensor, scale: int) -> None:
        loss = loss * scale
        self.total = loss if self.total is None else self.total + loss
        self.batches += 1

    def due(self) -> bool:
        return time.perf_counter() - self.read_at >= self.READ_EVERY_S

    def read(self) -> tuple[float, int]:
        """(the mean loss of the batches since the last reading, their count); resets."""
        mean, batches = float(self.total) / self.batches, self.batches
        self.total, self.batches, self.read_at = None, 0, time.perf_counter()
        return mean, batches


def record_losses(run: Run, position: Position, meter: LossMeter, progress, samples_per_s: float) -> None:
    if not meter.batches:
        return
    loss, batches = meter.read()
    run.writer.step(position.step, loss, run.scheduler.get_last_lr()[0], samples_per_s, batches)
    progress.update(batches, loss=loss)


def trainable(run: Run) -> list[torch.nn.Parameter]:
    if run.trainable is None:
        run.trainable = [p for p in run.model.parameters() if p.requires_grad]
    return run.trainable


def step(run: Run, position: Position) -> None:
    if run.config.clip:
        torch.nn.utils.clip_grad_norm_(trainable(run), run.config.clip)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    position.step += 1


def end_epoch(run: Run, position: Position, stop: StopRequest) -> None:
    """Evaluate, keep the best weights, record, checkpoint the finished epoch."""
    config, epoch = run.config, position.epoch
    metrics = evaluate(run.model, run.val_data, config.batch_size, run.device, run.autocast) \
        if run.val_data is not None else {}
    if config.freeze == "backbone":
        run.model.backbone.eval()
    value = metrics.get(run.monitor)
    if run.val_data is not None and value is None:  # declared (checked before the run) but not given on this data
        raise UsageError(f"--monitor {run.monitor!r}: the task's metrics gave no value on this validation data "
                         f"(roc_auc needs both classes, for one); they gave {', '.join(sorted(metrics))}")
    if value is not None:  # patience counts epochs without a gain; a tie won on loss is kept, but is no gain
        position.bad_epochs = 0 if selection.gains(value, position, run.mode) else position.bad_epochs + 1
    if value is not None and selection.improves(value, metrics.get("loss"), position, run.mode):
        selection.record_best(position, epoch + 1, value, metrics.get("loss"))
        if run.rank == 0 and selection.decisive(run.n_val):
            from hub_core.train.trained import save_trained

            save_trained(run.model, best_weights(run))  # what trains; the frozen part stays as built
    position.history.append({"epoch": epoch + 1, **records.scalars(metrics)})
    if run.writer:
        run.writer.epoch(epoch + 1, metrics)
    if run.job.on_epoch is not None:
        run.job.on_epoch(epoch + 1, metrics)
    position.epoch, position.batch = epoch + 1, 0
    checkpoint(run, position)
    if stop.requested:
        stop_now(run, position)


def best_weights(run: Run) -> Path:
    return run.out / "checkpoints" / "best" / "model.safetensors"


def checkpoint(run: Run, position: Position) -> None:
    divergence.check(trainable(run), position.step, run.out, run.config.lr)  # NaN weights are never kept
    if run.rank == 0:
        if run.writer:
            run.writer.flush()  # the records up to this checkpoint, where a resumed run appends
        save_checkpoint(run.out / "checkpoints" / "last", run.model, run.optimizer, run.scheduler, position)


def stop_now(run: Run, position: Position):
    """Ctrl-C was pressed: the checkpoint just saved is where --resume continues."""
    raise Interrupted(f"interrupted after optimizer step {position.step}: a resumable checkpoint is saved "
                      f"in {run.out}; continue with the same command and --resume, or keep the best epoch so far with "
                      f"'hub finish {run.out}'")


def write(catalogue, run: Run, position: Position, train_examples) -> dict:
    """Load the kept epoch's weights, fold LoRA in, evaluate once more and write the model directory."""
    config, model = run.config, run.model
    if run.world > 1:
        torch.distributed.barrier()  # rank 0 may still be writing the best weights
    kept = selection.kept(position, monitor=run.monitor, mode=run.mode, n_val=run.n_val,
                          has_val=run.val_data is not None)
    decides = selection.decisive(run.n_val)  # too few validation examples rank no epoch and tune no threshold
    if best_weights(run).is_file() and position.best is not None and decides:
        from hub_core.train.trained import load_trained

        load_trained(model, best_weights(run))
    merge_lora(model.backbone)
    final = evaluate(model, run.val_data, config.batch_size, run.device, run.autocast,
                     tune=run.monitor if decides else None, intervals=True) if run.val_data is not None else {}
    if run.rank == 0:
        model.to("cpu")
        with atomic.writing(f"the model directory {run.out}", "; the checkpoint is kept: free some space and run the "
                            "same command with --resume"):
            write_model_dir(catalogue, run, position, train_examples, final, kept)
        retire(run.out / "checkpoints" / "last")  # written: nothing is left to resume
    if run.world > 1:
        torch.distributed.barrier()
    return final


def write_model_dir(catalogue, run: Run, position: Position, train_examples, final: dict, kept: dict) -> None:
    """hub.json, the weights, the preprocessor and the records (rank 0)."""
    job, config, model = run.job, run.config, run.model
    save_model(model, run.out, metrics=records.stored_metrics(run.out, final, model.task), training=config.to_json(),
               data={"train": str(Path(job.data).resolve()), "val": str(Path(job.val).resolve()) if job.val else None,
                     "val_split": None if job.val else config.val_split, "seed": config.seed, "read": asdict(job.read),
                     "train_examples": len(train_examples), "val_examples": run.n_val},
               monitor=kept, source=records.started_from(catalogue, job.model, job.weights, model.backbone),
               **({"interrupted": {"completed_epochs": position.epoch, "planned_epochs": run.planned_epochs}}
                  if job.finish else {}))
    if not job.quiet:
        records.say(selection.describe(kept, model.task))
    run.writer.finish(model, final, position.history)
