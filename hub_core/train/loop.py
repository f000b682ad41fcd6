"""The fine-tuning and pre-training engine: one loop, read top to bottom.

    run(catalogue, job, config)
      1. read the data with the modality's reader; split off validation
      2. build the model (preset, backbone or model directory) and fit preprocessor + task
      3. freeze / LoRA; optimizer with separate backbone and head learning rates; schedule
      4. train epochs of planned batches; evaluate; keep last (and best) checkpoints
      5. write the model directory: hub.json, model.safetensors, preprocessor/, records

Several processes: ``torchrun --nproc-per-node N -m hub_core finetune ...`` trains with
DDP (gloo on CPU, nccl on GPU); rank 0 alone writes.

Interruptions: checkpoints are written atomically, so after a kill at any moment
``--resume`` continues exactly (bit-identical weights); Ctrl-C (SIGINT) finishes the
optimizer step, saves a checkpoint and exits with code 130.
"""
from __future__ import annotations

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

import numpy as np
import torch

from hub_core.common import atomic
from hub_core.train import recipe, records, selection
from hub_core.train.checkpoint import discard_partial_writes, find_checkpoint, load_checkpoint, save_checkpoint
from hub_core.train.config import TrainConfig
from hub_core.model.contracts import ReadOptions
from hub_core.train.data import ExampleSet, plan_batches, read_examples, to_tensors
from hub_core.common.errors import DataError, Interrupted, UsageError
from hub_core.model.directory import (HubModel, count_parameters, device_for, is_model_dir, load_model,
                            make_manifest, read_manifest, save_model)
from hub_core.plugin.specs import call, call_with_options, resolve


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


def check_out_dir(job: Job) -> Path:
    out = Path(job.out)
    if job.resume and job.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: --resume continues the run in --out, "
                         "--overwrite replaces it")
    if job.resume:
        if find_checkpoint(out / "checkpoints" / "last") is None:
            raise UsageError(f"--resume: {out} has no checkpoint to resume from")
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not job.overwrite:
            raise UsageError(f"--out {out} is not empty (use --overwrite to replace it, or --resume to continue)")
    return out


def backbone_spec_for(catalogue, model: str):
    if is_model_dir(model):
        return catalogue.get("backbone", read_manifest(Path(model))["backbone"]["name"])
    return catalogue.resolve_model(model)[0]


def accepts(factory, option: str) -> bool:
    import inspect

    return option in inspect.signature(resolve(factory)).parameters


def build_model(catalogue, job: Job, config: TrainConfig, train_examples) -> HubModel:
    """A model for this job: fresh from a preset/backbone, or continued from a model directory."""
    base = load_model(catalogue, job.model) if is_model_dir(job.model) else None
    if base is not None:
        if config.backbone_options:
            raise UsageError(f"--backbone-option / --model configure a new model, not the model directory {job.model}")
        backbone, preprocessor = base.backbone, base.preprocessor
        if config.preprocess:  # e.g. a new --max-length on top of the saved, fitted preprocessor
            preprocessor = call(resolve(catalogue.modality(base.manifest["modality"]).preprocessor).load,
                                Path(job.model) / "preprocessor", {**preprocessor.config, **config.preprocess},
                                catalogue=catalogue)
        backbone_spec = catalogue.get("backbone", base.manifest["backbone"]["name"])
        task_name = job.task or base.manifest["task"]["name"]
    else:
        backbone_spec, backbone_config, preset_weights, preset = catalogue.resolve_model(job.model)
        backbone_config = {**backbone_config, **config.backbone_options}
        backbone = call(backbone_spec.factory, backbone_config, job.weights or preset_weights, catalogue=catalogue)
        task_name = job.task or (preset.task if preset else None)
        if task_name is None:
            raise UsageError("--task is required (see 'hub list tasks')")
        modality = catalogue.modality(backbone_spec.modality)
        preprocessor = call(modality.preprocessor, {**backbone.preprocessor_config(), **config.preprocess},
                            catalogue=catalogue)
        preprocessor.fit(train_examples)
        if hasattr(backbone, "fit_to"):
            backbone.fit_to(preprocessor)
    task_spec, head_spec = catalogue.task_for(task_name, backbone_spec)
    if config.head:
        head_spec = catalogue.head(config.head)
        catalogue.check_compatible(backbone_spec, head_spec)
    weighting = {"class_weight": config.class_weight} if config.class_weight != "none" else {}
    if config.label_smoothing and accepts(task_spec.factory, "label_smoothing"):  # a recipe's: for the tasks that have it
        weighting["label_smoothing"] = config.label_smoothing
    task = call_with_options(task_spec.factory, f"task {task_spec.name!r}", "--task-option",
                             **{**config.task_options, **weighting})
    try:
        task.fit(train_examples)
        task.fit_to(preprocessor)
    except ValueError as err:
        raise DataError(f"{job.data}: {err}") from None
    head = call_with_options(head_spec.factory, f"head {head_spec.name!r}", "--head-option", backbone.feature_dim,
                             task.num_outputs, **config.head_options)
    if base is not None and base.manifest["task"]["name"] == task_spec.name and same_state(base.task, task) \
            and base.manifest["head"]["name"] == head_spec.name:
        head.load_state_dict(base.head.state_dict())  # same task and labels: continue with the trained head
    elif hasattr(head, "init_from"):  # e.g. an MLM decoder started from the input embeddings
        head.init_from(backbone)
    modality = catalogue.modality(backbone_spec.modality)
    manifest = make_manifest(backbone_spec, backbone, head_spec.name, config.head_options, task_spec, task,
                             preprocessor, modality, catalogue)
    return HubModel(backbone, head, task, preprocessor, manifest)


def apply_freeze(model: HubModel, freeze: str) -> list[str]:
    """Set requires_grad; return what was frozen (for the log)."""
    backbone = model.backbone
    frozen = []
    if freeze == "backbone":
        backbone.requires_grad_(False)
        frozen.append("backbone")
    elif freeze.startswith("last-"):
        n = int(freeze[5:])
        blocks = backbone.blocks()
        if not blocks:
            raise UsageError(f"--freeze {freeze}: backbone {model.manifest['backbone']['name']!r} does not expose blocks")
        backbone.requires_grad_(False)
        for block in blocks[len(blocks) - n:] if n else []:
            block.requires_grad_(True)
        frozen.append(f"backbone except its last {min(n, len(blocks))} of {len(blocks)} blocks")
    elif freeze == "auto":
        for module in backbone.frozen_by_default():
            module.requires_grad_(False)
            frozen.append(type(module).__name__)
    return frozen


def apply_lora(model: HubModel, rank: int, alpha: float | None) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    targets = list(model.backbone.lora_targets)
    if not targets:
        raise UsageError(f"--lora: backbone {model.manifest['backbone']['name']!r} names no LoRA target modules")
    model.backbone.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, target_modules=targets, lora_dropout=0.0)
    model.backbone = inject_adapter_in_model(config, model.backbone)
    for name, param in model.backbone.named_parameters():
        param.requires_grad = "lora_" in name


def merge_lora(model: HubModel) -> None:
    """Fold LoRA adapters into the base weights so the saved model loads without peft."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.backbone.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.backbone.get_submodule(parent_name) if parent_name else model.backbone
            setattr(parent, child, module.get_base_layer())


def make_optimizer(model: HubModel, config: TrainConfig, total_steps: int):
    def trainable(parameters):
        return [p for p in parameters if p.requires_grad]

    # a composite backbone (fusion) gives each part its own learning rate
    backbone = model.backbone.param_groups(config.lr) if hasattr(model.backbone, "param_groups") else \
        [{"params": model.backbone.parameters(), "lr": config.lr}]
    groups = [{"params": trainable(g["params"]), "lr": g["lr"]} for g in backbone]
    groups.append({"params": trainable(model.head.parameters()), "lr": config.head_lr or config.lr})
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise UsageError("nothing to train: every parameter is frozen")
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
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


# ----------------------------------------------------------------------------- feature cache
class FeatureCache:
    """Pooled backbone features computed once, for training a head on a frozen backbone."""

    def __init__(self, model: HubModel, data: ExampleSet, batch_size: int, device, autocast):
        chunks, self.targets = [], []
        model.backbone.eval()
        with torch.no_grad(), autocast():
            for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
                arrays, targets = data.collate(indices)
                chunks.append(model.backbone(**to_tensors(arrays, device))["pooled"].float().cpu())
                self.targets.extend(data.get(i).target for i in indices)
        self.features = torch.cat(chunks)
        self.task = data.task

    def __len__(self):
        return len(self.targets)

    def batch(self, indices, device):
        inputs = {"pooled": self.features[indices].to(device)}
        return inputs, torch.from_numpy(self.task.collate_targets([self.targets[i] for i in indices])).to(device)


# ----------------------------------------------------------------------------- evaluation
def same_state(a, b) -> bool:
    """The same task and labels (a tuned decision threshold aside): the trained head fits."""
    def learned(task):
        return {k: v for k, v in task.state().items() if k != "threshold"}
    return learned(a) == learned(b)


def evaluate(model: HubModel, data: ExampleSet | FeatureCache, batch_size: int, device, autocast=None,
             tune: str | None = None) -> dict:
    """Loss and the task's metrics over a whole data set, in eval mode; with ``tune``, the task
    first fits its decision (a binary threshold) to this data for that metric."""
    custom = getattr(model.task, "evaluate_model", None)
    if custom is not None and isinstance(data, ExampleSet):
        return custom(model, data, batch_size=batch_size, device=device)
    autocast = autocast or (lambda: torch.autocast(device.type, enabled=False))
    was_training = model.training
    model.eval()
    losses, batches, count = 0.0, [], 0
    with torch.no_grad(), autocast():
        for indices in plan_batches(len(data), batch_size, shuffle=False, seed=0, epoch=0):
            inputs, targets = batch_of(data, indices, 0, device)
            inputs, targets = model.task.prepare(inputs, targets, train=False, generator=None)
            outputs = model.head(inputs) if isinstance(data, FeatureCache) else model(**inputs)
            losses += float(model.task.loss(outputs.float(), targets)) * len(indices)
            count += len(indices)
            batches.append((outputs.float().cpu().numpy(), targets.cpu().numpy()))
    model.train(was_training)
    if tune and hasattr(model.task, "tune"):
        model.task.tune(batches, tune)
    return {"loss": losses / max(1, count), **model.task.metrics(batches)}


def check_monitor(model: HubModel, val_examples, config: TrainConfig) -> None:
    """An unknown --monitor fails now, on a few validation examples, before anything is written."""
    probe = ExampleSet(val_examples[:config.batch_size], model.preprocessor, model.task, train=False)
    metrics = evaluate(model, probe, config.batch_size, torch.device("cpu"))
    if config.monitor not in metrics:
        raise UsageError(f"--monitor {config.monitor!r} is not a metric of this task ({', '.join(sorted(metrics))})")


def batch_of(data, indices, epoch, device):
    if isinstance(data, FeatureCache):
        return data.batch(indices, device)
    arrays, targets = data.collate(indices, epoch)
    return to_tensors(arrays, device), torch.from_numpy(np.ascontiguousarray(targets)).to(device)


# ----------------------------------------------------------------------------- Ctrl-C
class StopRequest:
    """SIGINT (Ctrl-C) while the loop runs asks it to finish the optimizer step, save a
    resumable checkpoint and stop; outside the loop, or a second Ctrl-C, stops at once.
    Single-process runs only: DDP ranks would not agree on the step to stop at."""

    def __init__(self):
        self.armed = self.requested = False
        self.previous = None

    def __enter__(self):
        if int(os.environ.get("WORLD_SIZE", "1")) == 1 and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if not self.armed or self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def run(catalogue, job: Job, config: TrainConfig) -> dict:
    with StopRequest() as stop:
        return train(catalogue, job, config, stop)


# ----------------------------------------------------------------------------- the loop
def train(catalogue, job: Job, config: TrainConfig, stop: StopRequest) -> dict:
    rank, world = distributed()
    out = check_out_dir(job)
    if job.resume:
        saved = json.loads((out / "run.json").read_text())
        config = TrainConfig(**saved["config"])
    torch.manual_seed(config.seed)
    device = device_for(config.device if world == 1 or config.device else
                        (f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"))

    # 1. data
    modality = catalogue.modality(backbone_spec_for(catalogue, job.model).modality)
    read = job.reader or read_examples
    examples = read(modality, job.data, job.read)
    if job.val:
        train_examples, val_examples = examples, read(modality, job.val, job.read)
    elif config.val_split > 0:  # unlabelled too: pre-training reports held-out perplexity
        train_examples, val_examples = selection.holdout(examples, config.val_split, config.seed)
    else:
        train_examples, val_examples = examples, []

    # 2. model
    # a tokenizer for unlabelled text learns from the whole corpus, the held-out slice included
    model = build_model(catalogue, job, config, train_examples if job.read.labelled else examples)
    if hasattr(model.task, "prepare_run"):  # a task that shapes its own run (MLM: packing, its recipe)
        train_examples, val_examples, config = model.task.prepare_run(model, train_examples, val_examples, config)
    train_set = ExampleSet(train_examples, model.preprocessor, model.task, train=True, seed=config.seed)
    val_set = ExampleSet(val_examples, model.preprocessor, model.task, train=False) if val_examples else None
    if config.monitor and val_set is not None:
        check_monitor(model, val_examples, config)

    # 3. what trains
    if hasattr(model.backbone, "prepare_training"):  # a composite backbone (fusion) freezes / adapts each part
        frozen = model.backbone.prepare_training(config.freeze, config.lora, config.lora_alpha)
    else:
        if config.lora and config.freeze != "auto":  # (a fusion model may mix them: LoRA parts, frozen parts)
            raise UsageError(f"--lora and --freeze {config.freeze} contradict each other: with LoRA only the "
                             "adapters and the head train")
        frozen = apply_freeze(model, config.freeze)
        if config.lora:
            apply_lora(model, config.lora, config.lora_alpha)
    model.to(device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if config.precision == "bf16" else \
        (lambda: torch.autocast(device.type, enabled=False))
    use_cache = (config.freeze == "backbone" and config.cache_features and not train_set.augments and world == 1
                 and model.head.consumes == "pooled" and "pooled" in backbone_spec_for(catalogue, job.model).features
                 and getattr(model.task, "evaluate_model", None) is None
                 and not any(p.requires_grad for p in model.backbone.parameters()))
    train_data = FeatureCache(model, train_set, config.batch_size, device, autocast) if use_cache else train_set
    val_data = FeatureCache(model, val_set, config.batch_size, device, autocast) if use_cache and val_set else val_set
    lengths = train_set.lengths() if config.group_by_length and not use_cache else None
    steps_per_epoch = math.ceil(len(plan_batches(len(train_data), config.batch_size, shuffle=True, seed=config.seed,
                                                 epoch=0, rank=rank, world=world)) / config.grad_accum)
    config = recipe.resolve_epochs(config, steps_per_epoch)  # epochs from the data size, when the recipe says so
    total_steps = steps_per_epoch * config.epochs
    optimizer, scheduler = make_optimizer(model, config, total_steps)
    wrapped = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)

    monitor = config.monitor or (model.task.monitor if val_set else "loss")
    mode = model.task.monitor_mode if monitor == model.task.monitor else "min"
    position = {"epoch": 0, "batch": 0, "step": 0, "best": None, "bad_epochs": 0, "history": []}

    # 4. records and resume
    writer = None
    if rank == 0:
        if job.overwrite and out.exists() and not job.resume:
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        if job.resume:
            discard_partial_writes(out)
        else:
            atomic.write_json(out / "run.json", {"config": config.to_json(), "job": {
                **{k: v for k, v in asdict(job).items() if not callable(v)}, "read": asdict(job.read)}})
            (out / "metrics.jsonl").unlink(missing_ok=True)
        writer = records.Records(out, quiet=job.quiet)
    if job.resume:
        position = load_checkpoint(out / "checkpoints" / "last", model, optimizer, scheduler)
        if job.finish:  # `hub finish`: the epochs done so far are the run
            config = replace(config, epochs=position["epoch"])
    if rank == 0 and not job.quiet:
        records.say(f"{model.manifest['backbone']['name']} + {model.manifest['head']['name']} for "
                    f"{model.manifest['task']['name']}: {count_parameters(model):,} parameters, "
                    f"{count_parameters(model, True):,} trainable" + (f"; frozen: {', '.join(frozen)}" if frozen else "")
                    + ("; backbone features cached" if use_cache else "") + f"; {len(train_examples)} train / "
                    f"{len(val_examples)} val examples" + (f"; resuming at epoch {position['epoch'] + 1}" if job.resume else ""))
        records.say(recipe.describe(config))

    def checkpoint():
        if rank == 0:
            save_checkpoint(out / "checkpoints" / "last", model, optimizer, scheduler, position)

    def stop_now():
        """Ctrl-C was pressed: the checkpoint just saved is where --resume continues."""
        raise Interrupted(f"interrupted after optimizer step {position['step']}: a resumable checkpoint is saved "
                          f"in {out}; continue with the same command and --resume, or keep the best epoch so far with "
                          f"'hub finish {out}'")

    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    if config.freeze == "backbone":
        model.backbone.eval()  # a frozen backbone keeps its statistics and skips dropout
    stop.armed, finished = True, False
    while position["epoch"] < config.epochs and not finished:
        epoch = position["epoch"]
        batches = plan_batches(len(train_data), config.batch_size, shuffle=True, seed=config.seed, epoch=epoch,
                               lengths=lengths, rank=rank, world=world)
        progress = writer.progress(len(batches), f"epoch {epoch + 1}/{config.epochs}") if writer else None
        if progress and position["batch"]:
            progress.update(position["batch"])
        started, seen = time.perf_counter(), 0
        for index in range(position["batch"], len(batches)):
            indices = batches[index]
            inputs, targets = batch_of(train_data, indices, epoch, device)
            generator.manual_seed((config.seed * 1_000_003 + epoch) * 1_000_003 + index)  # resumable mid-epoch
            inputs, targets = model.task.prepare(inputs, targets, train=True, generator=generator)
            with autocast():
                outputs = model.head(inputs) if use_cache else wrapped(**inputs)
                loss = model.task.loss(outputs.float(), targets) / config.grad_accum
            loss.backward()
            seen += len(indices)
            boundary = (index + 1) % config.grad_accum == 0 or index + 1 == len(batches)
            if boundary:
                if config.clip:
                    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                position["step"] += 1
            position["batch"] = index + 1
            loss_value = float(loss.detach()) * config.grad_accum
            if writer:
                writer.step(position["step"], loss_value, scheduler.get_last_lr()[0], seen / (time.perf_counter() - started))
                progress.update(1, loss=loss_value)
            every = config.checkpoint_every
            if boundary and (stop.requested or every and position["step"] % every == 0):
                checkpoint()
            if boundary and stop.requested:
                stop_now()
            if config.max_steps and position["step"] >= config.max_steps:
                finished = True
                break
        if progress:
            progress.close()
        # evaluate, keep the best, stop early
        metrics = evaluate(model, val_data, config.batch_size, device, autocast) if val_data is not None else {}
        if config.freeze == "backbone":
            model.backbone.eval()
        value = metrics.get(monitor)
        if val_data is not None and value is None:
            raise UsageError(f"--monitor {monitor!r} is not a metric of this task ({', '.join(sorted(metrics))})")
        improved = value is not None and selection.improves(value, metrics.get("loss"), position, mode)
        if improved:
            selection.record_best(position, epoch + 1, value, metrics.get("loss"))
            if rank == 0 and selection.decisive(len(val_examples)):
                from hub_core.model.directory import save_weights

                save_weights(model, out / "checkpoints" / "best" / "model.safetensors")
        elif value is not None:
            position["bad_epochs"] += 1
        position["history"].append({"epoch": epoch + 1, **records.scalars(metrics)})
        if writer:
            writer.epoch(epoch + 1, metrics)
        if job.on_epoch is not None:
            job.on_epoch(epoch + 1, metrics)
        position["epoch"], position["batch"] = epoch + 1, 0
        checkpoint()
        if stop.requested:
            stop_now()
        if config.patience and position["bad_epochs"] >= config.patience:
            if writer and not job.quiet:
                records.say(f"early stop: {monitor} has not improved for {config.patience} epochs")
            break

    # 5. the model directory
    stop.armed = False
    best = out / "checkpoints" / "best" / "model.safetensors"
    if world > 1:
        torch.distributed.barrier()  # rank 0 may still be writing the best weights
    kept = selection.kept(position, monitor=monitor, mode=mode, n_val=len(val_examples), has_val=val_data is not None)
    if best.is_file() and position["best"] is not None and selection.decisive(len(val_examples)):
        from hub_core.model.directory import load_weights

        load_weights(model, best)
    if config.lora or any("lora_" in name for name, _ in model.backbone.named_parameters()):  # fusion: per-part LoRA
        merge_lora(model)
    decides = selection.decisive(len(val_examples))  # a threshold tuned on a handful of examples would be noise
    final = evaluate(model, val_data, config.batch_size, device, autocast, tune=monitor if decides else None) \
        if val_data is not None else {}
    if rank == 0:
        model.to("cpu")
        save_model(model, out, metrics=final, training=config.to_json(),
                   data={"train": str(Path(job.data).resolve()), "val": str(Path(job.val).resolve()) if job.val else None,
                         "val_split": None if job.val else config.val_split, "seed": config.seed, "read": asdict(job.read),
                         "train_examples": len(train_examples), "val_examples": len(val_examples)},
                   monitor=kept, source=records.started_from(catalogue, job.model, job.weights))
        if not job.quiet:
            records.say(selection.describe(kept, model.task))
        writer.finish(model, final, position["history"])
    if world > 1:
        torch.distributed.barrier()
    return final
