"""The catalogue: everything plugins registered plus the presets of registry.toml files.

Lookup is by full name (``vision/resnet18``) or, when unambiguous, by the short name
after the slash (``resnet18``). Unknown names get "did you mean" suggestions.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from hub_core.errors import ConfigError, UsageError
from hub_core.specs import BackboneSpec, HeadSpec, ModalitySpec, Preset, TaskSpec
from hub_core.tomlfile import line_of, load_toml

KINDS = ("modality", "backbone", "head", "task", "preset")
PRESET_KEYS = {"backbone", "config", "weights", "head", "task", "description"}


@dataclass
class Entry:
    """A registered spec and the plugin it came from."""

    spec: object
    plugin: str


@dataclass
class Catalogue:
    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    known_plugins: dict[str, dict] = field(default_factory=dict)

    # -- registration -------------------------------------------------------------
    def add(self, kind: str, spec, plugin: str) -> None:
        table = self.entries[kind]
        if spec.name in table:
            raise ValueError(f"{kind} {spec.name!r} is already registered by {table[spec.name].plugin!r}")
        table[spec.name] = Entry(spec, plugin)

    def add_presets_file(self, path: Path) -> None:
        """Merge the presets of one registry file; later files override earlier ones."""
        data = load_toml(path)
        unknown = set(data) - {"presets", "plugins"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{path}:{line_of(path, key) or 1}: unknown table {key!r} (expected 'presets' or 'plugins')")
        for name, table in data.get("presets", {}).items():
            where = f"{path}:{line_of(path, name) or 1}"
            if not isinstance(table, dict):
                raise ConfigError(f"{where}: preset {name!r} must be a table")
            bad = set(table) - PRESET_KEYS
            if bad:
                key = sorted(bad)[0]
                hint = difflib.get_close_matches(key, PRESET_KEYS, n=1)
                raise ConfigError(f"{where}: preset {name!r}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            if not isinstance(table.get("backbone"), str):
                raise ConfigError(f"{where}: preset {name!r} needs backbone = \"namespace/name\"")
            if not isinstance(table.get("config", {}), dict):
                raise ConfigError(f"{where}: preset {name!r}: config must be a table")
            self.entries["preset"][name] = Entry(
                Preset(name=name, source=str(path), **{k: table[k] for k in table if k in PRESET_KEYS}), "registry"
            )
        for name, table in data.get("plugins", {}).items():
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
        table = self.entries[kind]
        short = [full for full in table if full.split("/")[-1] == name]
        if len(short) > 1:
            raise UsageError(f"{kind} {name!r} is ambiguous: {', '.join(sorted(short))}")
        candidates = list(table) + [full.split("/")[-1] for full in table]
        hints = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(repr(h) for h in dict.fromkeys(hints))}?)" if hints else ""
        known = "" if hints else f"; see 'hub list {kind if kind != 'modality' else 'modalities'}s'".replace("ss'", "s'")
        raise UsageError(f"unknown {kind} {name!r}{hint}{known}")

    def plugin_of(self, kind: str, name: str) -> str | None:
        entry = self.entries[kind].get(name)
        return entry.plugin if entry else None

    def resolve_model(self, name: str) -> tuple[BackboneSpec, dict, str | None, Preset | None]:
        """``preset`` | ``backbone`` | ``backbone:variant`` → (spec, config, weights, preset)."""
        base, _, variant = name.partition(":")
        preset = self.find("preset", base)
        if preset is not None:
            backbone = self.get("backbone", preset.backbone)
            config = {**backbone.default_config, **preset.config}
            if variant:
                config["variant"] = variant
            return backbone, config, preset.weights, preset
        backbone = self.find("backbone", base)
        if backbone is None:
            try:
                self.get("preset", base)
            except UsageError:
                pool = self.names("preset") + self.names("backbone")
                pool += [p.split("/")[-1] for p in pool]
                hints = difflib.get_close_matches(base, pool, n=3, cutoff=0.5)
                hint = f" (did you mean {', '.join(repr(h) for h in dict.fromkeys(hints))}?)" if hints else "; see 'hub list'"
                raise UsageError(f"unknown model {name!r}: not a preset, a backbone or a model directory{hint}") from None
        config = dict(backbone.default_config)
        if variant:
            config["variant"] = variant
        return backbone, config, None, None

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


def registry_files(extra: tuple[str, ...] = ()) -> list[Path]:
    """Built-in ⊕ user ⊕ project ⊕ ``--registry`` files, in override order."""
    here = Path(__file__).resolve().parent
    files = [(here / "registry.toml").resolve()]
    home = Path(os.environ.get("PLUGHUB_HOME") or Path.home() / ".config" / "plughub")
    files.append(home / "registry.toml")
    files.append(Path.cwd() / "plughub.toml")
    found = [f for f in files if f.is_file()]
    for f in extra:
        if not Path(f).is_file():
            raise ConfigError(f"{f}: no such registry file")
        found.append(Path(f))
    return found
