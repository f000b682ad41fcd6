"""The plugin manager: built-in plugins and the ``plughub`` entry-point group, loaded alike.

Hooks are called through pluggy, one plugin at a time (a subset hook caller holding only
that plugin), so a plugin that fails to import, declares an incompatible ``PLUGHUB_API``,
raises in a hook, registers a malformed spec or clashes with an existing name is
recorded with its cause while every other plugin keeps working. ``strict=True`` turns
any such failure into a PluginError.

Order: plugins load built-ins first, then external ones sorted by distribution name.
Hooks run in pluggy's order (``@hookimpl(tryfirst=True)`` first, ``trylast=True`` last);
a name belongs to the plugin loaded first, whatever the call order, so no plugin can
take over a built-in name. Wrappers (``wrapper=True``, ``hookwrapper=True``) are refused
at load: a register hook's result is the plugin's own specs, not something to wrap.

``PLUGHUB_PLUGINS=a,b`` limits external plugins to those distributions (or plugin
names); an empty value loads none.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass, field

import pluggy

from hub_core import __version__
from hub_core.plugin.hookspecs import API_VERSION
from hub_core.plugin import hookspecs
from hub_core.plugin.catalogue import Catalogue, did_you_mean, registry_files
from hub_core.plugin.entrypoints import PluginEntry, normalize, plugin_entries
from hub_core.common.errors import PluginError
from hub_core.plugin.specs import SPEC_KINDS, resolve

__all__ = ["Hub", "PluginRecord", "add_plugin_commands", "load_hub", "normalize"]

BUILTINS = {"core": "hub_core.tasks.plugin"}
REGISTER_HOOKS = {
    "register_modalities": "modality",
    "register_backbones": "backbone",
    "register_heads": "head",
    "register_tasks": "task",
    "register_presets": "preset",
    "register_demos": "demo",
}
UNSUPPORTED_OPTIONS = ("wrapper", "hookwrapper")


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
    tracebacks: list[str] = field(default_factory=list)  # shown with --debug, not in JSON

    def fail(self, message: str, err: BaseException | None = None) -> None:
        """Record a failure as one line (an exception's text may span several)."""
        self.errors.append(" ".join(message.split()))
        if err is not None:
            import traceback

            self.tracebacks.append("".join(traceback.format_exception(err)))

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


SLOW_IMPORT_S = 2.0  # a plugin whose import takes longer is named on stderr: it slows every command


class PluginTimeout(BaseException):
    """A plugin's import or hook ran past PLUGHUB_PLUGIN_TIMEOUT (raised in it by a timer)."""


class PluginExit(BaseException):
    """A plugin called ``os._exit`` in its import or a hook (which would end the hub silently)."""


def plugin_timeout() -> float:
    """Seconds a plugin's import or one hook may take (PLUGHUB_PLUGIN_TIMEOUT, default 60; 0: no bound)."""
    try:
        seconds = float(os.environ.get("PLUGHUB_PLUGIN_TIMEOUT", "60"))
    except ValueError:
        seconds = 60.0
    return seconds if seconds == seconds and seconds >= 0 else 60.0


class PluginCode:
    """Runs a plugin's code (its import, a hook) isolated from the hub: ``print`` goes to stderr
    (so ``--json`` stays clean); SystemExit, KeyboardInterrupt and any BaseException it raises
    are caught as its failure; a real Ctrl-C (SIGINT arriving meanwhile) still stops the hub.
    A watchdog (a timer signal, in the main thread) stops code that runs past
    ``plugin_timeout()``: a plugin whose import or hook hangs is reported and left out, and
    ``hub --help``, ``hub list`` and ``hub plugins uninstall`` still answer."""

    def __init__(self, record: "PluginRecord", what: str):
        self.record, self.what, self.sigint, self.previous = record, what, False, None
        self.alarm = None

    def __enter__(self):
        import contextlib
        import signal
        import sys
        import threading
        import time

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._interrupted)
            self.limit = plugin_timeout()
            if self.limit and hasattr(signal, "setitimer"):
                self.alarm = signal.signal(signal.SIGALRM, self._overdue)
                signal.setitimer(signal.ITIMER_REAL, self.limit)
        self.redirect = contextlib.redirect_stdout(sys.stderr)
        self.redirect.__enter__()
        self.real_exit, os._exit = os._exit, self._exit  # a plugin may not end the hub behind its back
        self.started = time.perf_counter()
        return self

    @staticmethod
    def _exit(code=0):
        raise PluginExit(f"os._exit({code})")

    def _interrupted(self, signum, frame):
        self.sigint = True
        raise KeyboardInterrupt

    def _overdue(self, signum, frame):
        raise PluginTimeout

    def __exit__(self, kind, err, trace) -> bool:
        import signal
        import time

        self.seconds = time.perf_counter() - self.started
        os._exit = self.real_exit
        if self.alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.alarm)
        self.redirect.__exit__(None, None, None)
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if isinstance(err, PluginTimeout):
            self.record.fail(f"{self.what} did not finish in {self.limit:g} s (PLUGHUB_PLUGIN_TIMEOUT); stopped"
                             + ", not loaded" * (self.what.startswith("import")))
            self.failed = True
            return True
        if err is None or isinstance(err, Exception) or self.sigint:
            return False  # ordinary exceptions are the caller's to record; a real Ctrl-C stops the hub
        self.record.fail(f"{self.what} raised {type(err).__name__}" + (f": {err}" if str(err) else "")
                         + "; not loaded" * (self.what.startswith("import")), err)
        self.failed = True
        return True


def _api_ok(declared) -> bool:
    """Does ``PLUGHUB_API`` (int, or a specifier such as ">=1,<2") admit API_VERSION?"""
    if declared is None:
        return True
    if isinstance(declared, int) and not isinstance(declared, bool):
        return declared == API_VERSION
    ops = {">=": int.__ge__, "<=": int.__le__, "==": int.__eq__, "!=": int.__ne__, ">": int.__gt__, "<": int.__lt__}
    for clause in str(declared).split(","):
        found = re.match(r"^\s*(>=|<=|==|!=|>|<)?\s*(\d+)(?:\.\d+)*\s*$", clause)
        if not found or not ops[found[1] or "=="](API_VERSION, int(found[2])):
            return False
    return True


class Hub:
    """The loaded plugins and the catalogue they fill. From ``load_hub(lazy=True)`` the
    register hooks run when the catalogue (or the list of failures) is first asked for:
    ``hub --help`` needs the plugins' commands only, and reads none of their presets files."""

    def __init__(self, plugins: dict[str, PluginRecord], manager: pluggy.PluginManager):
        self.plugins, self.manager = plugins, manager
        self._catalogue: Catalogue | None = None

    @property
    def catalogue(self) -> Catalogue:
        return self.register()

    def register(self) -> Catalogue:
        """The catalogue, running the register hooks the first time."""
        if self._catalogue is None:
            self._catalogue = _fill_catalogue(self.manager, self.plugins)
        return self._catalogue

    @property
    def failures(self) -> list[str]:
        self.register()  # the register hooks' failures count too
        return [f"plugin {r.name!r}: {e}" for r in self.plugins.values() for e in r.errors]

    def load_registries(self, extra: tuple[str, ...] = ()) -> None:
        """Merge presets: built-in ⊕ user ⊕ project ⊕ ``extra`` registry files."""
        for path in registry_files(extra):
            self.catalogue.add_presets_file(path)

    def check_factories(self) -> int:
        """Import every lazy factory the plugins registered (readers, preprocessors, backbones,
        heads, tasks...), so that one failing only when used is recorded against its plugin
        now. Imports the plugins' heavy libraries: for ``hub plugins --check``, not start-up."""
        failed = 0
        for kind, table in self.catalogue.entries.items():
            for name, entry in table.items():
                for attribute in ("factory", "reader", "preprocessor", "make_data"):
                    factory = getattr(entry.spec, attribute, None)
                    if not isinstance(factory, str):
                        continue
                    try:
                        resolve(factory)
                    except PluginError as err:
                        self.plugins[entry.plugin].fail(f"{kind} {name!r}: {err}")
                        failed += 1
        return failed

    def check_strict(self) -> None:
        failures = self.failures
        if failures:
            more = f" (and {len(failures) - 1} more; see 'hub plugins')" if len(failures) > 1 else ""
            raise PluginError(failures[0] + more)


def _selected(entry: PluginEntry, wanted: set[str] | None) -> bool:
    if wanted is None:
        return True
    return normalize(entry.name) in wanted or (entry.dist is not None and normalize(entry.dist) in wanted)


def _load_module(value: str):
    """An entry point's object: ``module`` or ``module:attribute`` (extras ignored)."""
    value = value.split("[")[0].strip()
    return resolve(value) if ":" in value else importlib.import_module(value)


def load_hub(strict: bool = False, registries: tuple[str, ...] = (), with_registries: bool = True,
             lazy: bool = False) -> Hub:
    """Import the plugins and run their register hooks (``lazy``: when the catalogue is first used)."""
    manager = pluggy.PluginManager("plughub")
    manager.add_hookspecs(hookspecs)
    records: dict[str, PluginRecord] = {}

    def add(record: PluginRecord, loader) -> None:
        records[record.name] = record
        guard = PluginCode(record, f"import of {record.module}")
        module = None
        with guard:
            try:
                module = loader()
            except Exception as err:  # noqa: BLE001 - any import failure is the plugin's, not ours
                record.fail(f"failed to import {record.module}: {type(err).__name__}: {err}", err)
        if guard.seconds > SLOW_IMPORT_S and not record.builtin:
            sys.stderr.write(f"hub: plugin {record.name!r} took {guard.seconds:.1f} s to import (every hub command "
                             "waits for it; see 'hub plugins', PLUGHUB_PLUGINS limits what loads)\n")
        if module is None:
            return
        declared = getattr(module, "PLUGHUB_API", None)
        if not _api_ok(declared):
            record.fail(f"needs plughub API {declared!r}, this core provides {API_VERSION}; not loaded")
            return
        try:
            manager.register(module, name=record.name)
        except Exception as err:  # noqa: BLE001 - pluggy rejects malformed hookimpls
            record.fail(f"rejected by the plugin manager: {err}", err)
            return
        refused = _unsupported_option(manager, module)
        if refused:
            manager.unregister(module)
            record.fail(f"{refused} is not supported (plughub calls each plugin's hook on its own, all or nothing); "
                        "not loaded")
            return
        record.hooks = sorted(h.name for h in manager.get_hookcallers(module) or [])

    for name, module_name in BUILTINS.items():
        record = PluginRecord(name, module_name, "plughub", __version__, builtin=True)
        add(record, lambda m=module_name: importlib.import_module(m))

    env = os.environ.get("PLUGHUB_PLUGINS")
    wanted = None if env is None else {normalize(s.strip()) for s in env.split(",") if s.strip()}
    entries = [e for e in plugin_entries() if _selected(e, wanted)]
    for entry in entries:
        record = PluginRecord(entry.name, entry.value, entry.dist, entry.version)
        if entry.name in records:
            taken = records[entry.name]
            record.name = f"{entry.name} ({entry.dist})"
            record.fail(f"plugin name {entry.name!r} is already taken by {taken.distribution!r}; not loaded")
            records[record.name] = record
            continue
        add(record, lambda v=entry.value: _load_module(v))
    for name in sorted((wanted or set()) - {normalize(e.name) for e in entries} - {normalize(e.dist or "") for e in entries}):
        message = f"PLUGHUB_PLUGINS names {name!r}, but no installed distribution provides a plughub entry point by that name"
        records[name] = PluginRecord(name, "", errors=[message])
        sys.stderr.write(f"hub: warning: {message}{did_you_mean(name, [normalize(e.name) for e in plugin_entries()])}\n")

    hub = Hub(plugins=records, manager=manager)
    if not lazy:
        hub.register()
    if with_registries:
        hub.load_registries(registries)
    if strict:
        hub.check_strict()
    return hub


def _fill_catalogue(manager: pluggy.PluginManager, records: dict[str, PluginRecord]) -> Catalogue:
    """Run every plugin's register hooks (each on its own, all or nothing) into a catalogue."""
    catalogue = Catalogue()
    for hook_name, kind in REGISTER_HOOKS.items():
        done = {impl.plugin_name: _call_register_hook(manager, impl, hook_name, kind, records[impl.plugin_name])
                for impl in call_order(manager, hook_name)}
        for name in records:  # names go to the plugin loaded first, whatever the call order
            if done.get(name):
                _add_specs(kind, done[name], records[name], catalogue)
    _check_references(catalogue, records)
    catalogue.distributions = {name: r.distribution for name, r in records.items() if r.distribution}
    return catalogue


def _unsupported_option(manager: pluggy.PluginManager, module) -> str | None:
    """'HOOK: hookimpl option OPTION=True' for the first option plughub does not support, or None."""
    for caller in manager.get_hookcallers(module) or []:
        for impl in caller.get_hookimpls():
            bad = [option for option in UNSUPPORTED_OPTIONS if impl.plugin is module and getattr(impl, option, False)]
            if bad:
                return f"{caller.name}: hookimpl option {bad[0]}=True"
    return None


def call_order(manager: pluggy.PluginManager, hook_name: str) -> list:
    """The hook's implementations in the order pluggy calls them (tryfirst first, trylast last)."""
    return list(reversed(getattr(manager.hook, hook_name).get_hookimpls()))


def call_one(manager: pluggy.PluginManager, impl, hook_name: str, **kwargs):
    """Call one plugin's implementation of ``hook_name`` through pluggy."""
    others = [plugin for plugin in manager.get_plugins() if plugin is not impl.plugin]
    return manager.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)


def _call_register_hook(manager, impl, hook_name: str, kind: str, record: PluginRecord) -> list | None:
    """Run one plugin's hook; its specs if it completes, None if it raised (all or nothing)."""
    expected = SPEC_KINDS[kind]
    pending = []

    def register(spec) -> None:
        if not isinstance(spec, expected):
            raise TypeError(f"{hook_name} must register {expected.__name__} records, got {type(spec).__name__}")
        pending.append(spec)

    guard = PluginCode(record, f"{hook_name} (none of its {kind}s registered)")
    with guard:
        try:
            call_one(manager, impl, hook_name, register=register)
        except Exception as err:  # noqa: BLE001 - isolate the plugin, record why
            record.fail(f"{hook_name} raised {type(err).__name__}: {err}; none of its {kind}s registered", err)
            return None
    if getattr(guard, "failed", False):
        return None
    record.registered.setdefault(kind, [])
    return pending


def _add_specs(kind: str, specs: list, record: PluginRecord, catalogue: Catalogue) -> None:
    done = record.registered.setdefault(kind, [])
    for spec in specs:
        owner = catalogue.plugin_of(kind, spec.name)
        if owner is not None:
            record.fail(f"{kind} {spec.name!r} is already registered by plugin {owner!r}; not registered")
            continue
        catalogue.add(kind, spec, record.name)
        done.append(spec.name)


def _check_references(catalogue: Catalogue, records: dict[str, PluginRecord]) -> None:
    """Drop backbones of unregistered modalities, tasks of unregistered heads and presets of
    unregistered backbones (a registry file's presets come later, and stay listed as
    unavailable: the user wrote them)."""
    for kind, ref_kind, attr in (("backbone", "modality", "modality"), ("task", "head", "head"),
                                 ("preset", "backbone", "backbone")):
        for name in list(catalogue.entries[kind]):
            entry = catalogue.entries[kind][name]
            target = getattr(entry.spec, attr)
            if catalogue.find(ref_kind, target) is None:
                record = records[entry.plugin]
                record.fail(f"{kind} {name!r} names {ref_kind} {target!r}, which no plugin registered; not registered")
                record.registered[kind].remove(name)
                del catalogue.entries[kind][name]


def add_plugin_commands(hub: Hub, cli, reserved=()) -> None:
    """Let each plugin add click commands (all or nothing, like the register hooks); a
    failure, or an attempt to replace an existing command or to take a ``reserved`` name
    (the core's commands that a lazy group has not imported yet), is recorded against that plugin."""
    for impl in call_order(hub.manager, "register_commands"):
        record = hub.plugins[impl.plugin_name]
        before = dict(cli.commands)
        guard = PluginCode(record, "register_commands (none of its commands added)")
        failed = False
        with guard:
            try:
                call_one(hub.manager, impl, "register_commands", cli=cli)
            except Exception as err:  # noqa: BLE001
                record.fail(f"register_commands raised {type(err).__name__}: {err}; none of its commands added", err)
                failed = True
        if failed or getattr(guard, "failed", False):
            cli.commands.clear()
            cli.commands.update(before)
            continue
        for name, command in before.items():
            if cli.commands.get(name) is not command:
                record.fail(f"command {name!r} already exists; not replaced")
                cli.commands[name] = command
        for name in [name for name in cli.commands if name in reserved and name not in before]:
            record.fail(f"command {name!r} already exists; not replaced")
            del cli.commands[name]
        added = [name for name in cli.commands if name not in before]
        if added:
            record.registered["command"] = added
