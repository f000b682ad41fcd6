"""The ``hub`` group imports a command's module only when that command is used.

Importing every command module (training's options, train.config's dataclasses, the
deploy commands...) cost ~15 ms at each start, for commands most runs never touch.
``hub --help`` lists the core commands from ``CORE_COMMANDS`` (name -> module, and the
first sentence of its help, which is all the listing shows); tests/test_startup.py
keeps that table equal to what the modules define. Plugins' commands are added eagerly
(by their ``register_commands`` hook) and may not take a core command's name.
"""
from __future__ import annotations

import importlib

import click

CORE_COMMANDS = {
    "list": ("hub_core.cli.catalogue", "List the catalogue: presets, backbones, heads, tasks and modalities."),
    "info": ("hub_core.cli.catalogue", "Show everything known about one preset, backbone, head, task or modality."),
    "plugins": ("hub_core.cli.plugins", "List loaded plugins (name, version, hooks, what they registered, errors)."),
    "finetune": ("hub_core.cli.training", "Fine-tune MODEL (a preset, NAMESPACE/BACKBONE[:VARIANT], or a model directory) "
                                          "on your data and write a model directory to --out."),
    "finish": ("hub_core.cli.training", "Turn an interrupted training run into a model directory, without training "
                                        "further: the best epoch's checkpoint (or the last completed epoch's) is "
                                        "evaluated and written as hub.json + model.safetensors + the model card, in "
                                        "RUN_DIR itself."),
    "pretrain": ("hub_core.cli.training", "Pre-train MODEL on unlabelled data with a self-supervised objective; the "
                                          "model directory it writes is a starting point for 'hub finetune DIR' (the "
                                          "transfer step)."),
    "evaluate": ("hub_core.cli.training", "Evaluate a model directory on labelled data; print the task's metrics."),
    "predict": ("hub_core.cli.training", "Predict with a model directory."),
    "tune": ("hub_core.cli.tune", "Search MODEL's training hyper-parameters with Optuna (TPE, seeded by --seed), "
                                  "pruning clearly worse trials; every other 'hub finetune' option sets the base "
                                  "configuration."),
    "export": ("hub_core.cli.deploy", "Export a model directory to ONNX (backbone + head + the task's outputs) and "
                                      "validate it with onnxruntime at several input shapes against torch, on the "
                                      "stored validation data when present and on generated inputs."),
    "bench": ("hub_core.cli.deploy", "Latency and throughput of torch eager, onnxruntime fp32 and onnxruntime int8 "
                                     "(when model.int8.onnx exists), side by side: medians after warm-up, on the "
                                     "stored validation examples when present."),
    "demo": ("hub_core.cli.demo", "Run the main job for every installed modality, offline: generate sample data, "
                                  "fine-tune a small model (real shipped weights where installed), evaluate, export "
                                  "to ONNX with validation, predict with onnxruntime alone, time torch against "
                                  "onnxruntime, and print one summary table."),
    "serve": ("hub_core.cli.serve", "Serve exported models (MODEL_DIR/model.onnx, or an .onnx file beside its "
                                    "hub.json) over HTTP with onnxruntime alone (no torch), batching concurrent "
                                    "requests."),
    "cache": ("hub_core.cli.cache", "The disk cache: preprocessed data sets and frozen-backbone features, reused by "
                                    "later runs of the same data (under $PLUGHUB_HOME/cache, or $PLUGHUB_CACHE; size "
                                    "limit $PLUGHUB_CACHE_LIMIT, default 20G, least recently used entries go first; 0 "
                                    "turns it off)."),
    "push": ("hub_core.cli.share", "Publish MODEL_DIR as a revision of the repository TARGET: a folder, a file:// "
                                   "s3:// gs:// URL, or hf://OWNER/NAME (the Hugging Face Hub); prints the "
                                   "revision's id."),
    "pull": ("hub_core.cli.share", "Bring a revision of the repository SOURCE (URL or folder; URL@REV for a "
                                   "revision, else the newest) into DIRECTORY, verified first: every file's digest, "
                                   "no pickles, the manifest."),
}
NEEDS = {"hub_core.cli.tune": "hub_core.cli.training"}  # tune reuses finetune's registered options


class LazyGroup(click.Group):
    """A click group whose core commands are imported on first use. ``on_load(commands)``
    runs once for each batch of commands that becomes available (the modality options).
    ``listed``: rows of the plugins' commands (plugin/commandcache.py) for a group built
    only to print its help, without the plugins."""

    def __init__(self, *args, on_load=None, listed=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(CORE_COMMANDS)
        self.loaded: set[str] = set()
        self.on_load = on_load
        self.listed = {row[0]: click.Command(row[0], help=row[1], short_help=row[2], hidden=row[3], deprecated=row[4])
                       for row in listed}

    @property
    def reserved_names(self) -> set[str]:
        return set(self.lazy)

    def list_commands(self, ctx) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy) | set(self.listed))

    def get_command(self, ctx, name: str):
        if name in self.lazy and name not in self.commands:
            self.load_module(self.lazy[name][0])
        return self.commands.get(name)

    def load_module(self, module: str) -> None:
        if module in self.loaded:
            return
        if module in NEEDS:
            self.load_module(NEEDS[module])
        self.loaded.add(module)
        before = set(self.commands)
        importlib.import_module(module).add_commands(self)
        if self.on_load is not None:
            self.on_load([self.commands[name] for name in self.commands if name not in before])

    def load_all(self) -> None:
        """Every command, as an eager group would have them (``hub plugins``, ``--strict``)."""
        for module, _ in self.lazy.values():
            self.load_module(module)

    def format_commands(self, ctx, formatter) -> None:
        """click's listing, with the short help of a command not yet imported from the table
        (shortened by click itself, through a stand-in command that holds that sentence)."""
        shown = {name: self._listing(name) for name in self.list_commands(ctx)}
        shown = {name: command for name, command in shown.items() if not command.hidden}
        if not shown:
            return
        limit = formatter.width - 6 - max(map(len, shown))
        rows = [(name, command.get_short_help_str(limit)) for name, command in shown.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _listing(self, name: str) -> click.Command:
        """The command itself when loaded, else a stand-in that holds its help."""
        if name in self.commands:
            return self.commands[name]
        if name in self.listed:
            return self.listed[name]
        return click.Command(name, help=self.lazy[name][1])
