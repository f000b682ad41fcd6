"""The catalogue: everything plugins registered plus the presets of registry.toml files.

Lookup is by full name (``vision/resnet18``) or, when unambiguous, by the short name
after the slash (``resnet18``). Unknown names get "did you mean" suggestions.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from hub_core.common.errors import ConfigError, UsageError
from hub_core.plugin.specs import NAME_RE, BackboneSpec, HeadSpec, ModalitySpec, Preset, TaskSpec
from hub_core.common.tomlfile import load_toml, locate

KINDS = ("modality", "backbone", "head", "task", "preset", "demo")
LIST_COMMAND = {"modality": "hub list modalities", "backbone": "hub list backbones", "head": "hub list heads",
                "task": "hub list tasks", "preset": "hub list presets", "demo": "hub demo --list"}
PROJECT_REGISTRY = "plughub.toml"  # the current folder's registry, loaded by itself: confined (check_weights_source)
PRESET_KEYS = ("backbone", "config", "weights", "head", "task", "description", "train", "base_model")


def did_you_mean(name: str, candidates) -> str:
    """' (did you mean 'a', 'b'?)' for the close matches of ``name``, or ''."""
    import difflib  # only when something went wrong

    hints = dict.fromkeys(difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5))
    return f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else ""


@dataclass
class Entry:
    """A registered spec and the plugin it came from."""

    spec: object
    plugin: str


class ModelSource(NamedTuple):
    """What a model name resolves to: the backbone, its config (preset and variant applied),
    the preset's weights source and the preset itself (None for a bare backbone)."""

    spec: BackboneSpec
    config: dict
    weights: str | None
    preset: Preset | None


@dataclass
class Catalogue:
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    known_plugins: dict[str, dict] = field(default_factory=dict)
    distributions: dict[str, str] = field(default_factory=dict)  # plugin name -> its distribution
    trust_project: bool = False  # --trust-project-registry: ./plughub.toml may name weights anywhere
    resolved: dict[str, ModelSource] = field(default_factory=dict, repr=False)  # each name resolved once

    # -- registration -------------------------------------------------------------
    def add(self, kind: str, spec, plugin: str) -> None:
        self.resolved.clear()
        table = self.entries[kind]
        if spec.name in table:
            raise ValueError(f"{kind} {spec.name!r} is already registered by {table[spec.name].plugin!r}")
        table[spec.name] = Entry(spec, plugin)

    def add_presets_file(self, path: Path) -> None:
        """Merge the presets of one registry file; later files override earlier ones (and
        the presets plugins registered)."""
        presets, plugins = read_registry(path)
        self.resolved.clear()
        for name, preset in presets.items():
            self.entries["preset"][name] = Entry(preset, "registry")
        for name, table in plugins.items():
            self.known_plugins[name] = dict(table, source=str(path))

    # -- lookup -------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def find(self, kind: str, name: str):
        """The spec called ``name`` (full or unambiguous short name), or None."""
        table = self.entries[kind]
        if name in table:
            return table[name].spec
        short = [full for full in table if full.split("/")[-1] == name]
        if len(short) == 1:
            return table[short[0]].spec
        return None

    def get(self, kind: str, name: str):
        """Like find, but an unknown name is a UsageError with suggestions."""
        spec = self.find(kind, name)
        if spec is not None:
            return spec
        short = [full for full in self.entries[kind] if full.split("/")[-1] == name]
        if len(short) > 1:
            raise UsageError(f"{kind} {name!r} is ambiguous: {', '.join(sorted(short))}")
        hint = self.suggest(name, kind)
        raise UsageError(f"unknown {kind} {name!r}{hint or f'; see {LIST_COMMAND[kind]!r}'}")

    def suggest(self, name: str, *kinds: str) -> str:
        """' (did you mean 'a', 'b'?)' from the names of ``kinds`` (full and short), or ''."""
        pool = [full for kind in kinds for full in self.entries[kind]]
        return did_you_mean(name, pool + [full.split("/")[-1] for full in pool])

    def plugin_of(self, kind: str, name: str) -> str | None:
        entry = self.entries[kind].get(name)
        return entry.plugin if entry else None

    def distributions_of(self, uses) -> list[str]:
        """The distributions of the plugins that registered ``uses`` ((kind, name) pairs), sorted."""
        plugins = {self.plugin_of(kind, name) for kind, name in uses}
        return sorted({self.distributions[p] for p in plugins if p in self.distributions})

    def resolve_model(self, name: str) -> ModelSource:
        """``preset`` | ``backbone`` | ``backbone:variant`` → (spec, config, weights, preset),
        resolved once per catalogue (every later call gets a copy of the config to change)."""
        if name not in self.resolved:
            self.resolved[name] = self._resolve_model(name)
        source = self.resolved[name]
        return source._replace(config=dict(source.config))

    def _resolve_model(self, name: str) -> ModelSource:
        base, _, variant = name.partition(":")
        preset = self.find("preset", base)
        if preset is not None:
            self.check_weights_source(preset)
            backbone = self.get("backbone", preset.backbone)
            config = {**backbone.default_config, **preset.config}
            if variant:
                config["variant"] = variant
            return ModelSource(backbone, config, preset.weights, preset)
        backbone = self.find("backbone", base)
        if backbone is None:
            hint = self.suggest(base, "preset", "backbone") or "; see 'hub list'"
            raise UsageError(f"unknown model {name!r}: not a preset, a backbone or a model directory{hint}")
        config = dict(backbone.default_config)
        if variant:
            config["variant"] = variant
        return ModelSource(backbone, config, None, None)

    def check_weights_source(self, preset: Preset) -> None:
        """A project's ./plughub.toml (a cloned repository's, perhaps) names weights inside the
        project only: not an absolute path, a '..' or a symlink out of it, unless the user says
        --trust-project-registry. Packages (``package:``) and other schemes are confined where
        they are read; the built-in, the user's and --registry files are the user's own."""
        weights = preset.weights
        if not weights or not preset.source or ":" in weights.split("/")[0]:
            return
        project = Path.cwd().resolve()
        if self.trust_project or Path(preset.source).resolve() != project / PROJECT_REGISTRY:
            return
        if not Path(weights).expanduser().resolve().is_relative_to(project):
            raise UsageError(f"{preset.source}: preset {preset.name!r} names weights {weights!r} outside this project "
                             f"({project}); a project's {PROJECT_REGISTRY} may only name files inside it (pass "
                             "--trust-project-registry if you trust it)")

    def check_compatible(self, backbone: BackboneSpec, head: HeadSpec) -> None:
        if head.consumes not in backbone.features:
            raise UsageError(
                f"head {head.name!r} consumes {head.consumes} features but backbone {backbone.name!r} "
                f"yields only {', '.join(backbone.features)}"
            )

    def task_for(self, task_name: str, backbone: BackboneSpec) -> tuple[TaskSpec, HeadSpec]:
        task = self.get("task", task_name)
        if task.modalities is not None and backbone.modality not in task.modalities:
            raise UsageError(
                f"task {task.name!r} works on {', '.join(task.modalities)} data, "
                f"not on {backbone.modality!r} (backbone {backbone.name!r})"
            )
        head = self.get("head", task.head)
        self.check_compatible(backbone, head)
        return task, head

    def modality(self, name: str) -> ModalitySpec:
        return self.get("modality", name)

    def head(self, name: str) -> HeadSpec:
        return self.get("head", name)

    def task(self, name: str) -> TaskSpec:
        return self.get("task", name)


def read_registry(path: Path) -> tuple[dict[str, Preset], dict[str, dict]]:
    """The presets and the known plugins of one registry file, all checked: a mistake is
    a ConfigError at file:line:col, so that only a fully valid file changes the catalogue."""
    data = load_toml(path)

    def fail(message: str, *keys: str) -> ConfigError:
        line, col = locate(path, *keys)
        return ConfigError(f"{path}:{line}:{col}: {message}")

    for key in data:
        if key not in ("presets", "plugins"):
            raise fail(f"unknown table {key!r}{did_you_mean(key, ['presets', 'plugins'])} "
                       "(a registry has [presets.\"NAME\"] and [plugins.NAME] tables)", key)
        if not isinstance(data[key], dict):
            raise fail(f"{key} must be a table of tables ([{key}.NAME]), got {data[key]!r}"[:200], key)
    presets = {}
    for name, table in data.get("presets", {}).items():
        if not isinstance(table, dict):
            raise fail(f"preset {name!r} must be a table", "presets", name)
        if not NAME_RE.match(name):
            raise fail(f"preset name {name!r} must be lower-case 'namespace/name' or 'name'", "presets", name)
        for key, value in table.items():
            if key not in PRESET_KEYS:
                raise fail(f"preset {name!r}: unknown key {key!r}{did_you_mean(key, PRESET_KEYS)}", "presets", name, key)
            wanted = dict if key in ("config", "train") else str
            if not isinstance(value, wanted):
                raise fail(f"preset {name!r}: {key} must be a {'table' if wanted is dict else 'string'}, "
                           f"got {value!r}", "presets", name, key)
        if "backbone" not in table:
            raise fail(f"preset {name!r} needs backbone = \"namespace/name\"", "presets", name)
        presets[name] = Preset(name=name, source=str(path), **table)
    for name, table in data.get("plugins", {}).items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise fail(f"plugin {name!r} must be a table of strings (install, package, description)", "plugins", name)
    return presets, data.get("plugins", {})


def read_presets(path: str | os.PathLike) -> list[Preset]:
    """The presets of a TOML file of ``[presets."NAME"]`` tables (a registry's format), for a
    plugin's ``register_presets`` hook: ``for p in read_presets(HERE / "presets.toml"): register(p)``."""
    presets, plugins = read_registry(Path(path))
    if plugins:
        raise ConfigError(f"{path}: a plugin's presets file has no [plugins] table")
    return list(presets.values())


def registry_files(extra: tuple[str, ...] = ()) -> list[Path]:
    """Built-in ⊕ user ⊕ project ⊕ ``--registry`` files, in override order."""
    here = Path(__file__).resolve().parent.parent  # hub_core/
    files = [(here / "registry.toml").resolve()]
    home = Path(os.environ.get("PLUGHUB_HOME") or Path.home() / ".config" / "plughub")
    files.append(home / "registry.toml")
    files.append(Path.cwd() / PROJECT_REGISTRY)
    found = [f for f in files if f.is_file()]
    for f in extra:
        if not Path(f).is_file():
            raise ConfigError(f"{f}: no such registry file")
        found.append(Path(f))
    return found
