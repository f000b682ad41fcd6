"""``hub finetune``, ``hub pretrain``, ``hub evaluate``, ``hub predict``: thin wrappers over hub_core.train.loop."""
from __future__ import annotations

import os
from pathlib import Path

import click

from hub_core.cli.catalogue import complete_model
from hub_core.cli.data_options import data_options, read_options
from hub_core.train.config import FREEZE_HELP, parse_pairs


TRAIN_FLAGS = [
    ("--epochs", int, "Passes over the training data [3]."),
    ("--batch-size", int, "Examples per batch [32]."),
    ("--lr", float, "Learning rate of the backbone [5e-4]."),
    ("--head-lr", float, "Learning rate of the head [same as --lr]."),
    ("--layer-decay", float, "Layer-wise lr decay: each backbone layer down trains at this factor of the one above "
                             "(0.65-0.9 for pretrained encoders and ViTs) [1: off]."),
    ("--weight-decay", float, "AdamW weight decay [0.01]."),
    ("--warmup", float, "Warm-up: a fraction of all steps (<1) or a number of steps [0]."),
    ("--schedule", click.Choice(["cosine", "linear", "constant"]), "Learning-rate schedule [cosine]."),
    ("--grad-accum", int, "Batches per optimizer step [1]."),
    ("--clip", float, "Clip the gradient norm to this value [1.0]."),
    ("--precision", click.Choice(["fp32", "bf16"]), "bf16 autocast or full fp32 [fp32]."),
    ("--seed", int, "Random seed for init, split, order and augmentation [0]."),
    ("--freeze", str, f"{FREEZE_HELP} [auto: the backbone's own defaults]."),
    ("--lora", int, "Train LoRA adapters of this rank (merged into the weights on save)."),
    ("--patience", int, "Stop after this many epochs without a gain on validation (0: off) "
                        "[the recipe's, else max(3, epochs / 4); off when --epochs is given]."),
    ("--monitor", str, "Validation metric for early stopping and the best checkpoint [the task's]."),
    ("--class-weight", click.Choice(["none", "balanced"]),
     "Weight the loss by inverse class frequency (imbalanced labels) [none]."),
    ("--val-split", float, "Fraction held out for validation when --val is not given [0.1]."),
    ("--checkpoint-every", int, "Also checkpoint every N optimizer steps [end of each epoch]."),
    ("--max-steps", int, "Stop after N optimizer steps (smoke runs)."),
    ("--device", str, "cpu, cuda, cuda:1 ... [cuda if available]."),
    ("--workers", int, "Processes that read and preprocess batches (0: this one) [min(4, cores - 1)]."),
    ("--head", str, "A head other than the task's default."),
]


# shown by --help-all only: the help a newcomer reads first stays a page (was ~100 lines, issue 39)
ADVANCED = {"--head-lr", "--layer-decay", "--weight-decay", "--warmup", "--schedule", "--grad-accum", "--clip",
            "--precision", "--monitor", "--class-weight", "--val-split", "--checkpoint-every", "--max-steps", "--workers",
            "--head", "--no-group-by-length", "--no-cache-features", "--compile", "--head-option", "--task-option",
            "--model", "--backbone-option"}


def show_every_option(ctx, param, value):
    """--help-all: the help with the advanced options too."""
    if not value or ctx.resilient_parsing:
        return
    for option in ctx.command.params:
        option.hidden = False
    click.echo(ctx.get_help())
    ctx.exit()


def hide_advanced(option):
    """``option`` hidden from --help when it is one of ADVANCED (it still parses, and --help-all shows it)."""
    def decorate(function):
        function = option(function)
        added = function.__click_params__[-1]  # click keeps a decorated function's options here, the newest last
        added.hidden = bool(set(added.opts) & ADVANCED)
        return function
    return decorate


def train_options(function=None, *, new_model: bool = True):
    """The training flags (``@train_options(new_model=False)``: without --head and --model
    PART=MODEL, which pre-training does not take); the advanced ones are hidden from --help
    and listed by --help-all."""
    if function is None:
        return lambda f: train_options(f, new_model=new_model)
    function = click.option("--help-all", is_flag=True, expose_value=False, is_eager=True, callback=show_every_option,
                            help="Show every option, the advanced ones too.")(function)
    for flag, kind, help_text in reversed(TRAIN_FLAGS):
        if new_model or flag != "--head":
            function = hide_advanced(click.option(flag, type=kind, default=None, help=help_text))(function)
    extra = [
        click.option("--no-group-by-length", "group_by_length", flag_value=False, default=None,
                     help="Do not batch examples of similar length together."),
        click.option("--no-cache-features", "cache_features", flag_value=False, default=None,
                     help="With --freeze backbone, recompute backbone features every epoch."),
        click.option("--compile", "compile", flag_value=True, default=None,
                     help="torch.compile the model for training: pays on long runs of a fixed-shape model "
                          "(a GPU, large batches); costs seconds to minutes of compilation first."),
        click.option("-p", "--preprocess", multiple=True, metavar="KEY=VALUE", help="A preprocessor option."),
        click.option("--head-option", multiple=True, metavar="KEY=VALUE", help="An option of the head (dropout=0.1)."),
        click.option("--task-option", multiple=True, metavar="KEY=VALUE", help="An option of the task."),
        parts_option := click.option("--model", "parts", multiple=True, metavar="PART=MODEL", help="A part of a "
                                     "fusion model (MODEL 'fusion'): --model text=nlp/bert-tiny --model image=vision/resnet18."),
        click.option("--backbone-option", multiple=True, metavar="KEY=VALUE",
                     help="A config key of a new backbone (fusion: fusion=attention, image.freeze=backbone, text.lr=1e-4)."),
        click.option("--download", "download", is_flag=True, default=None,
                     help="Fetch pretrained weights the local caches lack (a timm tag, an hf: repository) [never]."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False),
                     help="A TOML file of these options (its [train] table); flags override it."),
    ]
    for decorator in reversed(extra):
        if new_model or decorator is not parts_option:  # pre-training takes no --model PART=MODEL
            function = hide_advanced(decorator)(function)
    return function


class ModalityFlag(click.Option):
    """A shortcut a modality declared (``ModalitySpec.options``): ``--max-length N`` = ``-p max_length=N``."""

    def __init__(self, option, modality: str):
        super().__init__([option.flag], type=option.type, default=None,
                         help=f"{option.help.rstrip('.')} (= -p {option.key}=VALUE; the {modality} modality's).")
        self.key = option.key


def add_modality_options(commands, hub, refused: set) -> None:
    """Give each of ``commands`` that takes ``-p`` (finetune, pretrain, tune...) the modalities'
    shortcut options, after its ``-p``; a flag a command already has is refused, against the
    plugin, once (``refused`` holds what was, across the commands loaded so far)."""
    catalogue = hub.catalogue
    options = [(option, name) for name in catalogue.names("modality") for option in catalogue.modality(name).options]
    for command in commands:
        names = [p.name for p in command.params]
        if "preprocess" not in names:
            continue
        flags = {opt for p in command.params for opt in p.opts}
        at = names.index("preprocess") + 1
        for option, modality in options:
            if option.flag not in flags:
                flags.add(option.flag)
                command.params.insert(at, ModalityFlag(option, modality))
                at += 1
            elif (modality, option.flag) not in refused:  # once, not once per command
                refused.add((modality, option.flag))
                hub.plugins[catalogue.plugin_of("modality", modality)].fail(
                    f"modality {modality!r}: {option.flag} is already an option of 'hub {command.name}'; not added")


def modality_flags(flags: dict) -> dict:
    """Take the modality shortcut options' values out of ``flags``: {preprocessor key: value}."""
    context = click.get_current_context(silent=True)
    params = [p for p in (context.command.params if context else ()) if isinstance(p, ModalityFlag)]
    values = {p.key: flags.pop(p.name, None) for p in params}
    return {key: value for key, value in values.items() if value is not None}


def overrides_of(preprocess, head_option, task_option, parts, backbone_option, **flags) -> dict:
    """The training flags as TrainConfig values (KEY=VALUE pairs parsed; None: not given)."""
    backbone = parse_pairs(backbone_option, "--backbone-option")
    if parts:
        backbone["parts"] = {**backbone.get("parts", {}), **parse_pairs(parts, "--model")}
    pre = {**parse_pairs(preprocess, "--preprocess"), **modality_flags(flags)}
    return dict(flags, preprocess=pre or None, head_options=parse_pairs(head_option, "--head-option") or None,
                task_options=parse_pairs(task_option, "--task-option") or None, backbone_options=backbone or None)


def plan(catalogue, model, task, data, val, out, weights, read, flags, resume: bool = False, **job_options):
    """(Job, TrainConfig) of a training command (``hub_core.train.planning.plan`` on its flags)."""
    from hub_core.train.planning import plan as plan_run

    flags = dict(flags)
    config_file = flags.pop("config_file", None)
    if flags.pop("download", None):  # for the plugins' weight lookups in this process (and its DDP ranks)
        from hub_core.model.weights import DOWNLOAD_ENV

        os.environ[DOWNLOAD_ENV] = "1"
    return plan_run(catalogue, model, task, data, out, val=val, weights=weights, read=read,
                    overrides=overrides_of(**flags), config_file=config_file, resume=resume, **job_options)


def run_training(obj, model, task, data, val, out, weights, overwrite, resume, quiet, read, flags):
    from hub_core.model.manifest import is_model_dir
    from hub_core.train.loop import run

    job, config = plan(obj.catalogue, model, task, data, val, out, weights, read, flags, resume=resume,
                       overwrite=overwrite, quiet=quiet)
    if is_model_dir(model):  # say what the starting point learnt before
        from hub_core.common.console import notice
        from hub_core.model.manifest import read_manifest

        inherited = inheritance(read_manifest(Path(model)))
        if inherited:
            notice(inherited)
    metrics = run(obj.catalogue, job, config)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 alone wrote the directory
        from hub_core.common.console import notice
        from hub_core.model.metrics import scalars

        shown = ", ".join(f"{k} {v:.4f}" for k, v in scalars(metrics).items())
        notice(f"wrote {out}" + (f" ({shown})" if shown else ""))
    return metrics, config


def print_result(out, metrics: dict, as_json: bool) -> None:
    """--json: the model directory and its final metrics, for scripts (progress stays on stderr)."""
    if as_json and os.environ.get("RANK", "0") == "0":
        from hub_core.common.console import print_json
        from hub_core.model.metrics import scalars

        print_json({"out": str(out), "metrics": scalars(metrics)})


def inheritance(manifest: dict) -> str | None:
    """One line on the pre-training a model directory's backbone carries, for 'hub finetune DIR'."""
    task, metrics, data = manifest.get("task", {}), manifest.get("metrics", {}), manifest.get("data", {})
    if task.get("name") != "mlm" and "perplexity" not in metrics:
        return None
    parts = [f"on {data['train']}" if data.get("train") else None,
             f"{int(metrics['tokens_seen']):,} tokens seen" if "tokens_seen" in metrics else None,
             f"held-out perplexity {metrics['perplexity_before']:.1f} -> {metrics['perplexity']:.1f}"
             if "perplexity_before" in metrics and "perplexity" in metrics else None,
             f"{manifest['backbone']['name']} {manifest['backbone']['config'].get('hidden_size', '')} wide".rstrip()]
    return f"inherits {task.get('name')} pre-training " + ", ".join(p for p in parts if p)


def add_commands(cli: click.Group) -> None:
    @cli.command("finetune")
    @click.argument("model", shell_complete=complete_model)
    @click.option("--task", "-t", help="classification, multilabel, regression, ... (see 'hub list tasks').")
    @click.option("--data", "-d", required=True, type=click.Path(), help="Training data: a file or a folder.")
    @click.option("--val", type=click.Path(), help="Validation data (default: hold out --val-split).")
    @click.option("--out", "-o", required=True, type=click.Path(), help="The model directory to write.")
    @click.option("--weights", help="Weights to start from: a local file/folder or package:MODULE/path.")
    @click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
    @click.option("--resume", is_flag=True, help="Continue an interrupted run from --out/checkpoints/last.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress output.")
    @click.option("--json", "as_json", is_flag=True, help="Print the model directory and its metrics as JSON.")
    @data_options
    @train_options
    @click.pass_obj
    def finetune(obj, model, task, data, val, out, weights, overwrite, resume, quiet, as_json,
                 input_columns, label_column, skip_bad, data_root, read_extra, **flags):
        """Fine-tune MODEL (a preset, NAMESPACE/BACKBONE[:VARIANT], or a model directory)
        on your data and write a model directory to --out.

        \b
        hub finetune vision/resnet18 --task classification --data images/ --out runs/cls
        hub finetune nlp/bert-tiny -t classification -d train.csv --val val.csv -o runs/txt
        hub finetune runs/mlm --task classification -d train.csv -o runs/transfer
        torchrun --nproc-per-node 2 -m hub_core finetune ...   (DDP)
        """
        read = read_options(input_columns, label_column, skip_bad, data_root, read_extra)
        metrics, _ = run_training(obj, model, task, data, val, out, weights, overwrite, resume, quiet, read, flags)
        print_result(out, metrics, as_json)

    @cli.command("finish")
    @click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("--quiet", "-q", is_flag=True, help="No progress output.")
    @click.option("--json", "as_json", is_flag=True, help="Print the model directory and its metrics as JSON.")
    @click.pass_obj
    def finish(obj, run_dir, quiet, as_json):
        """Turn an interrupted training run into a model directory, without training further:
        the best epoch's checkpoint (or the last completed epoch's) is evaluated and written
        as hub.json + model.safetensors + the model card, in RUN_DIR itself. The data must
        still be where the run read it. To train the remaining epochs instead, repeat the
        command with --resume.

        \b
        hub finetune vision/tiny -t classification -d images/ -o runs/cls --epochs 30   # Ctrl-C
        hub finish runs/cls
        hub evaluate runs/cls --data test/
        """
        from hub_core.common.console import notice
        from hub_core.train.finish import finish_run

        metrics = finish_run(obj.catalogue, run_dir, quiet=quiet)
        notice(f"wrote {run_dir}")
        print_result(run_dir, metrics, as_json)

    add_pretrain_command(cli)
    add_use_commands(cli)


def add_pretrain_command(cli: click.Group) -> None:
    @cli.command("pretrain")
    @click.argument("model", shell_complete=complete_model)
    @click.option("--objective", default="mlm", show_default=True,
                  help="A self-supervised pre-training task (see 'hub list tasks'), e.g. mlm.")
    @click.option("--data", "-d", required=True, type=click.Path(),
                  help="Unlabelled data: e.g. a .txt corpus (one text per line) or a folder of .txt files.")
    @click.option("--val", type=click.Path(), help="Held-out unlabelled data, for the validation loss and best checkpoint.")
    @click.option("--out", "-o", required=True, type=click.Path(), help="The model directory to write.")
    @click.option("--weights", help="Weights to start from (continued pre-training).")
    @click.option("--overwrite", is_flag=True, help="Replace a non-empty --out.")
    @click.option("--resume", is_flag=True, help="Continue an interrupted run from --out/checkpoints/last.")
    @click.option("--quiet", "-q", is_flag=True, help="No progress output.")
    @data_options(labels=False)
    @train_options(new_model=False)
    @click.pass_obj
    def pretrain(obj, model, objective, data, val, out, weights, overwrite, resume, quiet,
                 input_columns, skip_bad, data_root, read_extra, **flags):
        """Pre-train MODEL on unlabelled data with a self-supervised objective; the model
        directory it writes is a starting point for 'hub finetune DIR' (the transfer step).

        \b
        hub pretrain nlp/bert-tiny --objective mlm --data corpus.txt --val held_out.txt -o runs/mlm
        hub finetune runs/mlm --task classification -d train.csv -o runs/cls
        """
        from hub_core.common.errors import UsageError

        spec = obj.catalogue.task(objective)
        if not spec.pretraining:
            known = ", ".join(n for n in obj.catalogue.names("task") if obj.catalogue.task(n).pretraining) or "none installed"
            raise UsageError(f"{objective!r} is not a pre-training objective (pre-training objectives: {known}); "
                             f"use 'hub finetune' for labelled tasks")
        read = read_options(input_columns, "label", skip_bad, data_root, read_extra, labelled=False)
        run_training(obj, model, spec.name, data, val, out, weights, overwrite, resume, quiet, read,
                     {**flags, "head": None, "parts": ()})


def add_use_commands(cli: click.Group) -> None:
    """``hub evaluate`` and ``hub predict``: a trained model directory at work."""
    @cli.command("evaluate")
    @click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
    @click.option("--data", "-d", required=True, type=click.Path(), help="Labelled data: a file or a folder.")
    @click.option("--batch-size", type=int, default=64, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.option("--onnx", "use_onnx", is_flag=True, help="Evaluate the exported graph with onnxruntime (no torch).")
    @click.option("--file", "file_name", help="With --onnx: the graph in MODEL_DIR to evaluate [model.onnx], "
                                              "e.g. model.int8.onnx.")
    @click.option("--workers", type=click.IntRange(min=0), help="Processes that read and preprocess batches "
                  "(0: this one) [min(4, cores - 1); 0 with --onnx].")
    @data_options
    @click.pass_obj
    def evaluate_cmd(obj, model_dir, data, batch_size, as_json, use_onnx, file_name, workers, input_columns,
                     label_column, skip_bad, data_root, read_extra):
        """Evaluate a model directory on labelled data; print the task's metrics. With --onnx,
        what ships: the exported graph through the torch-free runtime (the same metrics,
        without the loss).

        \b
        hub evaluate runs/cls --data test.csv
        hub evaluate runs/cls --data test.csv --onnx --file model.int8.onnx
        """
        from hub_core.common.errors import UsageError

        read = read_options(input_columns, label_column, skip_bad, data_root, read_extra)
        explicit = bool(input_columns) or label_column != "label"
        if file_name and not use_onnx:
            raise UsageError("--file names an exported graph: use it with --onnx")
        from hub_core.deploy.evaluation import evaluate_dir
        from hub_core.deploy.runtime import ONNX_FILE

        metrics = evaluate_dir(obj.catalogue, Path(model_dir), data, read, batch_size, explicit_columns=explicit,
                               onnx=use_onnx, file_name=file_name or ONNX_FILE, workers=workers)
        from hub_core.common.console import print_json, print_table
        from hub_core.model.metrics import scalars

        if as_json:
            print_json(metrics)
        else:
            print_table(f"{metrics.get('file', model_dir)} on {data}", ["metric", "value"],
                        [[k, f"{v:.4f}"] for k, v in scalars(metrics).items()])

    @cli.command("predict")
    @click.argument("model_dir", type=click.Path(exists=True))
    @click.argument("inputs", nargs=-1)
    @click.option("--data", "-d", type=click.Path(), help="Data to predict on instead of INPUTS: a table (CSV, "
                  "Parquet...), a folder, or tar shards ('shards/test-*.tar'); each answer names its row or sample.")
    @click.option("--top-k", "-k", type=click.IntRange(min=1), default=1, show_default=True, help="Answers per input.")
    @click.option("--onnx", "use_onnx", is_flag=True, help="Run the exported ONNX model with onnxruntime (no torch).")
    @click.option("--batch-size", type=int, default=32, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.option("--workers", type=click.IntRange(min=0), help="Processes that read and preprocess batches "
                  "(0: this one) [min(4, cores - 1); 0 with --onnx].")
    @data_options
    @click.pass_obj
    def predict(obj, model_dir, inputs, data, top_k, use_onnx, batch_size, as_json, workers, input_columns,
                label_column, skip_bad, data_root, read_extra):
        """Predict with a model directory. INPUTS are texts, image or audio paths, or one
        table, folder or glob of tar shards of them (or give that as --data)."""
        from hub_core.deploy.inputs import command_inputs, print_answers

        inputs = command_inputs(inputs, data)

        read = read_options(input_columns, label_column, skip_bad, data_root, read_extra, labelled=False)
        from hub_core.deploy.evaluation import predict_dir

        examples, answers = predict_dir(obj.catalogue, Path(model_dir), inputs, read, top_k=top_k, batch_size=batch_size,
                                        onnx=use_onnx, workers=workers)
        print_answers(examples, answers, as_json)
