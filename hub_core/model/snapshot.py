"""A frozen backbone standing in for itself, from the disk cache: a second head-only run
never builds the backbone.

A head-only run on features already in the disk cache never runs its backbone. It needs what
hub.json says of it (config, feature size, inputs), its preprocessor's config, and its weights
for model.safetensors; building it again is mostly importing its library (transformers: 4.5 s
of a 9 s second run of all-MiniLM-L6-v2). So the first such run records that in the disk
cache (``record``), and the next builds a ``Snapshot`` from it (``find``): a module holding
the backbone's state (the same names, in the same order, the same bytes, frozen) and no
forward. ``real`` builds the backbone itself when something must run it after all (features
missing).

Keyed by the backbone's name and config, the weights source and the size and mtime of each of
its files, the mtime of the plugin's factory module and the versions of the libraries behind
it; only for weights read from local files. A build that draws random numbers (a module made
at random, then loaded) leaves torch's generator elsewhere than it found it: the record keeps
both states, and a snapshot stands in only from the state the build started from, moving
the generator on as the build did, so the head starts from the same numbers.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import json
from pathlib import Path

import torch
from torch import nn

from hub_core.common import diskcache
from hub_core.common.fasthash import file_digest
from hub_core.common.errors import HubError
from hub_core.model.modules import Backbone, Head
from hub_core.model.weights import locate
from hub_core.plugin.specs import InputSpec

KIND = "backbone"


def source_key(spec, config: dict, weights: str | None, catalogue) -> str | None:
    """The key of the backbone ``spec.create(config, weights)`` builds, or None when its
    source cannot be identified by local files (no weights, a scheme only the plugin reads)."""
    from hub_core.model.directory import package_versions

    if not weights or not diskcache.enabled():
        return None
    try:
        path = locate(weights)
    except HubError:
        return None
    h = hashlib.sha256(f"snapshot-v1 {spec.name} {json.dumps(config, sort_keys=True, default=str)} {weights}".encode())
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    code = _factory_file(spec.factory)
    for file in files + ([code] if code else []):
        h.update(f"{file.relative_to(path) if file.is_relative_to(path) else file} {file_digest(file)};".encode())
    h.update(json.dumps(package_versions(catalogue.distributions_of([("backbone", spec.name)]) if catalogue else ()),
                        sort_keys=True).encode())
    return h.hexdigest()[:40]


def _factory_file(factory) -> Path | None:
    try:
        if callable(factory):
            return Path(inspect.getsourcefile(factory))
        found = importlib.util.find_spec(factory.partition(":")[0])
        return Path(found.origin) if found and found.origin else None
    except (TypeError, ValueError, ImportError):
        return None


def record(key: str, backbone: nn.Module, modality, preprocessor_digest: str, weights_digest: str,
           generator: tuple | None = None) -> None:
    """Put what a Snapshot of ``backbone`` needs in the disk cache under ``key``;
    ``generator``: torch's generator state before and after the build."""
    from safetensors.torch import save_file

    if diskcache.lookup(key) is not None:
        return
    state = backbone.state_dict(keep_vars=True)
    kept, aliases, seen = {}, {}, {}
    for name, value in state.items():
        tie = (value.data_ptr(), value.dtype, tuple(value.shape)) if value.numel() else None
        if tie in seen:
            aliases[name] = seen[tie]  # tied (one tensor, two names): stored once
            continue
        seen[tie] = name
        kept[name] = value.detach().cpu().clone()  # a view of another tensor's storage is saved alone
    buffers = {name for name, _ in backbone.named_buffers()} & set(state)
    meta = {"names": list(state), "buffers": sorted(buffers), "aliases": aliases, "feature_dim": backbone.feature_dim,
            "hub_config": backbone.hub_config(), "preprocessor_config": backbone.preprocessor_config(),
            "inputs": [dataclasses.asdict(i) for i in backbone.input_specs(modality)],
            "registered_parts": [list(p) for p in backbone.registered_parts()],
            "preprocessor": preprocessor_digest, "digest": weights_digest,
            "class": f"{type(backbone).__module__}.{type(backbone).__qualname__}"}
    with diskcache.building(key, KIND, f"{type(backbone).__name__} weights ({len(kept)} tensors)") as folder:
        save_file(kept, str(folder / "weights.safetensors"))
        if generator is not None:
            save_file({"before": generator[0], "after": generator[1]}, str(folder / "generator.safetensors"))
        (folder / "backbone.json").write_text(json.dumps(meta, default=str))


def find(key: str | None, build) -> "Snapshot | None":
    """The Snapshot recorded under ``key``; ``build()`` makes the real backbone (``Snapshot.real``)."""
    from safetensors.torch import load_file

    entry = diskcache.lookup(key) if key else None
    if entry is None:
        return None
    try:
        generator = load_file(str(entry / "generator.safetensors")) if (entry / "generator.safetensors").is_file() \
            else None
        if generator is not None and not torch.equal(generator["before"], torch.random.get_rng_state()):
            return None  # another seed: the build would draw other numbers than the recorded one did
        meta = json.loads((entry / "backbone.json").read_text())
        found = Snapshot(meta, load_file(str(entry / "weights.safetensors")), build)
    except (OSError, ValueError, KeyError, RuntimeError):  # damaged or from another layout: build the backbone
        return None
    if generator is not None:
        torch.random.set_rng_state(generator["after"])  # where the build would have left it
    return found


def serves(head, task) -> bool:
    """A Snapshot can stand in under this head and task: the head reads pooled features, takes
    nothing from the backbone, and the task runs no model of its own before training."""
    from hub_core.model.contracts import Task

    return head.consumes == "pooled" and type(head).init_from is Head.init_from and \
        task.evaluate_model is None and type(task).prepare_run is Task.prepare_run


class Snapshot(Backbone):
    """A recorded frozen backbone: its state as modules, parameters and buffers under the same
    names, its description, and no forward."""

    def __init__(self, meta: dict, tensors: dict, build):
        super().__init__()
        self.feature_dim = meta["feature_dim"]
        self._snapshot, self._build = meta, build
        self.recorded_digest = meta["digest"]
        buffers, made = set(meta["buffers"]), {}
        for name in meta["names"]:
            source = meta["aliases"].get(name, name)
            *path, leaf = name.split(".")
            module = self
            for part in path:
                if part not in module._modules:
                    module.add_module(part, nn.Module())
                module = module._modules[part]
            if source not in made:
                value = tensors[source]
                made[source] = value if source in buffers else nn.Parameter(value, requires_grad=False)
            if name in buffers:
                module.register_buffer(leaf, made[source])
            else:
                module.register_parameter(leaf, made[source])
        self._order = list(meta["names"])

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """In the recorded order (a checkpoint's digest of the frozen weights hashes in that order)."""
        values = dict(super().state_dict(prefix="", keep_vars=True))
        destination = {} if destination is None else destination
        for name in self._order:
            value = values[name]
            destination[prefix + name] = value if keep_vars else value.detach()
        return destination

    def forward(self, **inputs):
        raise HubError("internal: a recorded backbone (hub_core.model.snapshot) was asked to run")

    def hub_config(self) -> dict:
        return dict(self._snapshot["hub_config"])

    def preprocessor_config(self) -> dict:
        return dict(self._snapshot["preprocessor_config"])

    def input_specs(self, modality) -> tuple:
        return tuple(InputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
                     for spec in self._snapshot["inputs"])

    def registered_parts(self) -> list[tuple[str, str]]:
        return [tuple(p) for p in self._snapshot["registered_parts"]]

    def preprocessor_digest(self) -> str:
        return self._snapshot["preprocessor"]

    def real(self, preprocessor) -> Backbone:
        """The backbone itself, built as the recorded one was, adapted to ``preprocessor``;
        torch's generator is left where it was (``find`` moved it on as the build would)."""
        state = torch.random.get_rng_state()
        backbone = self._build()
        torch.random.set_rng_state(state)
        backbone.fit_to(preprocessor)
        return backbone
