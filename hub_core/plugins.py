"""The plugin manager: built-in plugins and the ``plughub`` entry-point group, loaded alike.

Each plugin's hooks are called one plugin at a time, so a plugin that fails to import,
raises in a hook, registers a malformed spec or clashes with an existing name is
recorded with its cause while every other plugin keeps working. ``strict=True``
turns any such failure into a PluginError.

``PLUGHUB_PLUGINS=a,b`` limits external plugins to those distributions; an empty
value loads none.
"""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from hub_core import API_VERSION, __version__, hookspecs
from hub_core.catalogue import Catalogue, registry_files
from hub_core.errors import PluginError
from hub_core.specs import SPEC_KINDS

BUILTINS = {"core": "hub_core.builtin"}
REGISTER_HOOKS = {
    "register_modalities": "modality",
    "register_backbones": "backbone",
    "register_heads": "head",
    "register_tasks": "task",
}


@dataclass
class PluginRecord:
    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "builtin": self.builtin,
            "hooks": self.hooks,
            "registered": self.registered,
            "errors": self.errors,
        }


def normalize(dist_name: str) -> str:
    return re.sub(r"[-_.]+", "-", dist_name).lower()


def _api_ok(declared) -> bool:
    """Does ``PLUGHUB_API`` (int, or a specifier such as ">=1,<2") admit API_VERSION?"""
    if declared is None:
        return True
    if isinstance(declared, int):
        return declared == API_VERSION
    ops = {">=": int.__ge__, "<=": int.__le__, "==": int.__eq__, "!=": int.__ne__, ">": int.__gt__, "<": int.__lt__}
    for clause in str(declared).split(","):
        found = re.match(r"^\s*(>=|<=|==|!=|>|<)?\s*(\d+)(?:\.\d+)*\s*$", clause)
        if not found:
            return False
        if not ops[found[1] or "=="](API_VERSION, int(found[2])):
            return False
    return True


@dataclass
class Hub:
    """The loaded plugins and the catalogue they fill."""

    catalogue: Catalogue
    plugins: dict[str, PluginRecord]
    manager: pluggy.PluginManager

    @property
    def failures(self) -> list[str]:
        return [f"plugin {r.name!r}: {e}" for r in self.plugins.values() for e in r.errors]

    def load_registries(self, extra: tuple[str, ...] = ()) -> None:
        """Merge presets: built-in ⊕ user ⊕ project ⊕ ``extra`` registry files."""
        for path in registry_files(extra):
            self.catalogue.add_presets_file(path)

    def check_strict(self) -> None:
        if self.failures:
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            raise PluginError(self.failures[0] + more)


def _entry_points(selected: set[str] | None):
    for ep in metadata.entry_points(group="plughub"):
        dist = ep.dist.name if ep.dist else None
        if selected is not None and (dist is None or normalize(dist) not in selected):
            continue
        yield ep, dist, (ep.dist.version if ep.dist else None)


def load_hub(strict: bool = False, registries: tuple[str, ...] = (), with_registries: bool = True) -> Hub:
    manager = pluggy.PluginManager("plughub")
    manager.add_hookspecs(hookspecs)
    records: dict[str, PluginRecord] = {}

    def add(name, module_name, loader, **info):
        record = records[name] = PluginRecord(name=name, module=module_name, **info)
        try:
            module = loader()
        except Exception as err:  # noqa: BLE001 - any import failure is the plugin's, not ours
            record.errors.append(f"failed to import {module_name}: {type(err).__name__}: {err}")
            return
        if not _api_ok(getattr(module, "PLUGHUB_API", None)):
            record.errors.append(
                f"needs plughub API {getattr(module, 'PLUGHUB_API')!r}, this core provides {API_VERSION}; not loaded"
            )
            return
        try:
            manager.register(module, name=name)
        except Exception as err:  # noqa: BLE001 - pluggy rejects malformed hookimpls
            record.errors.append(f"rejected by the plugin manager: {err}")
            return
        record.hooks = sorted(h.name for h in manager.get_hookcallers(module) or [])

    for name, module_name in BUILTINS.items():
        add(name, module_name, lambda m=module_name: importlib.import_module(m), builtin=True, version=__version__,
            distribution="plughub")
    env = os.environ.get("PLUGHUB_PLUGINS")
    selected = None if env is None else {normalize(s) for s in env.split(",") if s.strip()}
    for ep, dist, version in _entry_points(selected):
        if ep.name in records:
            records[ep.name + f" ({dist})"] = PluginRecord(
                name=ep.name, module=ep.value, distribution=dist, version=version,
                errors=[f"plugin name {ep.name!r} is already taken by {records[ep.name].distribution!r}; not loaded"],
            )
            continue
        add(ep.name, ep.value, ep.load, distribution=dist, version=version)

    catalogue = Catalogue()
    for hook_name, kind in REGISTER_HOOKS.items():
        caller = getattr(manager.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # registration order
            record = records[impl.plugin_name]
            record.registered.setdefault(kind, [])

            def register(spec, _kind=kind, _record=record):
                expected = SPEC_KINDS[_kind]
                if not isinstance(spec, expected):
                    raise TypeError(f"{hook_name} must register {expected.__name__} records, got {type(spec).__name__}")
                catalogue.add(_kind, spec, _record.name)
                _record.registered[_kind].append(spec.name)

            try:
                impl.function(register=register)
            except Exception as err:  # noqa: BLE001 - isolate the plugin, record why
                record.errors.append(f"{hook_name} raised {type(err).__name__}: {err}")

    hub = Hub(catalogue=catalogue, plugins=records, manager=manager)
    if with_registries:
        hub.load_registries(registries)
    if strict:
        hub.check_strict()
    return hub


def add_plugin_commands(hub: Hub, cli) -> None:
    """Let each plugin add click commands; a failure is recorded against that plugin."""
    for impl in reversed(hub.manager.hook.register_commands.get_hookimpls()):
        try:
            impl.function(cli=cli)
        except Exception as err:  # noqa: BLE001
            hub.plugins[impl.plugin_name].errors.append(f"register_commands raised {type(err).__name__}: {err}")
