"""The one public surface for plugins: import from here (or from ``hub_core``), nothing else.

Everything else in hub_core is private and may change between releases; what is named
here follows ``API_VERSION``. Names resolve lazily (module ``__getattr__``), so
``import hub_core.api`` imports neither torch nor numpy; ``Backbone``, ``Head`` and the
export helpers import torch only when a plugin asks for them. This module sits on top
of the stages (like the CLI): it may name any of them, and none of them imports it.

The plugin contract
  hookimpl            the marker of hook implementations: ``@hookimpl def register_backbones(register)``
  API_VERSION         the version of this surface; declare ``PLUGHUB_API = ">=2,<3"`` in your plugin
  ModalitySpec        a kind of input: tensors, reader, preprocessor
  InputSpec           one input tensor of a modality (name, dtype, axes)
  CliOption           a command-line shortcut a modality adds to training commands (--max-length)
  BackboneSpec        a backbone factory and the features it yields
  HeadSpec            a head factory and the feature kind it consumes
  TaskSpec            a task factory and its head
  DemoSpec            a row of ``hub demo``
  Preset              a named starting point (backbone + config + weights), for ``register_presets``
  resolve             import a lazy factory given as ``"module:attr"``
  read_presets        the presets of a TOML file of ``[presets."NAME"]`` tables, for ``register_presets``

Contracts (see hub_core.model.contracts)
  Example             one raw example: input, label, source
  ExampleColumns      many examples held as Arrow columns (hub_core.model.examples), no object per row
  ColumnsBuilder      rows added one at a time -> ExampleColumns
  labels_of           every example's label, in order (one pass over the label column of ExampleColumns)
  ReadOptions         how the user asked to read data (columns, skip-bad, data root, extras)
  Preprocessor        raw input -> numpy arrays; fitted, saved and loaded with the model
  Task                targets, loss, metrics and the numpy decoder of a task, over named outputs
  Batch               what loss, metrics and decode see: inputs, targets (ragged allowed), indices, raw examples
  Metric              update(outputs, batch) / compute(), with each value's direction (higher is better?)
  Gathered            a Metric computed once from every batch's (named output, targets) pairs
  Declared            the directions of values a task's own evaluation (evaluate_model) computes
  Program             several graphs and the numpy loop that runs them (generation): Task.program names one
  Graph               one graph of a Program: a torch module, its inputs (name, dtype, axes) and outputs
  LabelMapTask        a Task with a label map fitted on the training data (say which labels: found_labels)
  Backbone            (torch) inputs -> features; its blocks, LoRA targets, example inputs
  Head                (torch) features -> task outputs

Errors (one line for the user, non-zero exit)
  HubError            the base of every error hub reports without a traceback
  UsageError          a wrong command line or option
  DataError           unreadable or malformed data (name the file and line)
  ConfigError         a malformed config or registry file
  PluginError         a broken plugin
  ModelDirError       a missing or malformed model directory
  ExportError         an ONNX export that failed or did not validate

Data files and messages
  TABLE_SUFFIXES      the table formats iter_rows reads (.csv .tsv .jsonl .json .parquet .pq)
  is_table            a path iter_rows reads: a table file, or a datasets folder (save_to_disk)
  iter_rows           (line, row dict) of a CSV/TSV/JSONL/Parquet file or a datasets folder, columns checked
  read_columns        a plain CSV/TSV/Parquet table's columns read whole by Arrow, or None (read rows instead)
  resolve_path        a path named in a table, relative to it, kept inside --data-root
  Cell                a file stored as bytes in a row of a Parquet file or datasets folder
  table_columns       the column names of a Parquet file or datasets folder (None for other files)
  is_bytes_column     whether a table's column holds files as bytes (datasets' Image/Audio)
  scan_cells          (line, row, bytes) of such a column, one record batch at a time
  read_cell           a Cell's bytes, read again by row (in a DataLoader worker)
  check_limit         check a decoded size a header declares against a named input limit, before decoding
  notice              a progress or warning line on stderr
  print_json          JSON on stdout, for scripts
  print_table         an aligned table on stdout
  did_you_mean        " (did you mean 'a'?)" for a misspelt name, or ""

Weights
  locate              a weights source (path or ``package:MODULE/path``) as a local path
  load_torch_file     a torch checkpoint loaded with ``weights_only=True``
  unpickling_refused  the error to raise when a checkpoint would need unpickling
  downloads_allowed   whether the user asked (--download) for missing weights to be fetched; else never

Training
  FREEZE_HELP         the accepted values of --freeze, for messages
  apply_freeze        freeze a backbone as --freeze says; returns what was frozen
  apply_lora          put LoRA adapters of a rank on a backbone's targets; returns the backbone
  plan_batches        the batches (index arrays) of an epoch, for a task's own evaluation loop
  to_tensors          numpy arrays -> torch tensors on a device
  to_number           a raw regression target as a finite float (a ValueError otherwise)

Model directories
  HubModel            backbone + head + task + preprocessor + manifest
  make_manifest       the hub.json of a model built by a plugin command
  save_model          write a model directory (weights, hub.json, preprocessor)
  load_model          read a model directory back into a HubModel (torch)
  read_manifest       hub.json of a directory, checked
  load_preprocessor_and_task  the preprocessor and task of a directory, without torch
  package_versions    the versions hub.json records
  atomic_write_bytes  write a file atomically (temporary sibling, fsync, rename; mode 0644 under umask 022)
  atomic_write_text   the same, for text (UTF-8)
  atomic_write_json   the same, for JSON
  atomic_path         a temporary sibling of a target file (``atomic_path(target, ".onnx")``) ...
  atomic_publish      ... renamed over the target when it is valid: ``atomic_publish(tmp, target)``

ONNX (for a plugin's own exporter)
  ATOL, RTOL          the tolerances ``hub export`` validates with
  export_graph        torch module -> ONNX file (dynamo, dynamic axes, weights inside)
  annotate            name a graph's axes and add metadata to it
  compare             torch outputs vs onnxruntime outputs within tolerances
  worst               the worst failing case of a validation, in words
  OnnxGraph           an onnxruntime session over one graph (no torch)
  OnnxModel           an exported model directory run by onnxruntime (no torch)

Commands (``register_commands``)
  data_options        the click options of every data-reading command (--input-column ...)
  read_options        those options' values -> ReadOptions
"""
from __future__ import annotations

import importlib

# name -> "module:attribute"; resolved on first use and cached in the module's globals
EXPORTS = {
    "hookimpl": "hub_core.plugin.hookspecs:hookimpl",
    "API_VERSION": "hub_core.plugin.hookspecs:API_VERSION",
    **{name: f"hub_core.plugin.specs:{name}" for name in (
        "ModalitySpec", "InputSpec", "CliOption", "BackboneSpec", "HeadSpec", "TaskSpec", "DemoSpec", "Preset",
        "resolve")},
    **{name: f"hub_core.model.contracts:{name}" for name in ("Example", "ReadOptions", "Preprocessor", "Task", "Batch")},
    **{name: f"hub_core.model.metrics:{name}" for name in ("Metric", "Gathered", "Declared")},
    **{name: f"hub_core.model.program:{name}" for name in ("Program", "Graph")},
    **{name: f"hub_core.model.examples:{name}" for name in ("ColumnsBuilder", "ExampleColumns", "labels_of")},
    "read_columns": "hub_core.common.arrowread:read_columns",
    "Backbone": "hub_core.model.modules:Backbone",
    "LabelMapTask": "hub_core.tasks.labels:LabelMapTask",
    "Head": "hub_core.model.modules:Head",
    **{name: f"hub_core.common.errors:{name}" for name in (
        "HubError", "UsageError", "DataError", "ConfigError", "PluginError", "ModelDirError", "ExportError")},
    **{name: f"hub_core.common.table:{name}" for name in ("TABLE_SUFFIXES", "is_table", "iter_rows", "resolve_path")},
    "Cell": "hub_core.common.cells:Cell",
    "table_columns": "hub_core.common.cells:columns",
    "is_bytes_column": "hub_core.common.cells:is_bytes_column",
    "scan_cells": "hub_core.common.cells:scan",
    "read_cell": "hub_core.common.cells:read_cell",
    "check_limit": "hub_core.common.limits:check",
    **{name: f"hub_core.common.console:{name}" for name in ("notice", "print_json", "print_table")},
    "did_you_mean": "hub_core.plugin.catalogue:did_you_mean",
    "read_presets": "hub_core.plugin.catalogue:read_presets",
    **{name: f"hub_core.model.weights:{name}" for name in ("locate", "load_torch_file", "unpickling_refused",
                                                          "downloads_allowed")},
    "FREEZE_HELP": "hub_core.train.config:FREEZE_HELP",
    "apply_freeze": "hub_core.model.adapt:apply_freeze",
    "apply_lora": "hub_core.model.adapt:apply_lora",
    "plan_batches": "hub_core.data.sets:plan_batches",
    "to_tensors": "hub_core.data.sets:to_tensors",
    "to_number": "hub_core.tasks.regression:to_number",
    **{name: f"hub_core.model.directory:{name}" for name in (
        "HubModel", "make_manifest", "save_model", "package_versions")},
    "load_model": "hub_core.model.build:load_model",
    "atomic_write_bytes": "hub_core.common.atomic:write_bytes",
    "atomic_write_text": "hub_core.common.atomic:write_text",
    "atomic_write_json": "hub_core.common.atomic:write_json",
    "atomic_path": "hub_core.common.atomic:temporary_path",
    "atomic_publish": "hub_core.common.atomic:publish",
    "read_manifest": "hub_core.model.manifest:read_manifest",
    "load_preprocessor_and_task": "hub_core.model.manifest:load_preprocessor_and_task",
    **{name: f"hub_core.deploy.export:{name}" for name in ("ATOL", "RTOL")},
    **{name: f"hub_core.deploy.graphs:{name}" for name in ("export_graph", "annotate", "compare", "worst")},
    "OnnxGraph": "hub_core.deploy.runtime:OnnxGraph",
    "OnnxModel": "hub_core.deploy.runtime:OnnxModel",
    "data_options": "hub_core.cli.data_options:data_options",
    "read_options": "hub_core.cli.data_options:read_options",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str):
    target = EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'hub_core.api' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(EXPORTS))
