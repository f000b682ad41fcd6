"""``hub list`` and ``hub info``: the catalogue, without building anything."""
from __future__ import annotations

import dataclasses

import click

from hub_core.common.console import print_json, print_table
from hub_core.common.errors import UsageError

INFO_KINDS = ("preset", "backbone", "head", "task", "modality")
KIND_NAMES = {"modalities": "modality", "backbones": "backbone", "heads": "head", "tasks": "task", "presets": "preset"}


def _modality_of(catalogue, kind, spec) -> str | None:
    if kind == "backbone":
        return spec.modality
    if kind == "preset":
        backbone = catalogue.find("backbone", spec.backbone)
        return backbone.modality if backbone else None
    if kind == "modality":
        return spec.name
    if kind == "task":
        return ",".join(spec.modalities) if spec.modalities else "any"
    return "any"


def _describe(catalogue, kind, spec) -> dict:
    row = {"kind": kind, "name": spec.name, "modality": _modality_of(catalogue, kind, spec),
           "plugin": catalogue.plugin_of(kind, spec.name), "description": spec.description}
    if kind == "backbone":
        row["features"] = list(spec.features)
    elif kind == "head":
        row["consumes"] = spec.consumes
    elif kind == "task":
        row["head"] = spec.head
        row["pretraining"] = spec.pretraining
    elif kind == "preset":
        row.update(backbone=spec.backbone, config=spec.config, weights=spec.weights, source=spec.source,
                   available=catalogue.find("backbone", spec.backbone) is not None)
    elif kind == "modality":
        row["inputs"] = [dataclasses.asdict(i) for i in spec.inputs]
        row["file_types"] = list(spec.file_types)
    return row


def _matches(row, modality):
    if modality is None:
        return True
    return row["modality"] in (modality, "any") or modality in str(row["modality"]).split(",")


def complete_model(ctx: click.Context, param, incomplete: str) -> list:
    """Shell completion of a MODEL argument: preset and backbone names, then folders (a
    model directory to continue from). Registries are read here: completion runs no callback."""
    from click.shell_completion import CompletionItem

    obj = ctx.find_root().obj
    names: list[str] = []
    if obj is not None:
        try:
            obj.hub.load_registries(())
        except Exception:  # noqa: BLE001 - a broken registry must not break the user's shell
            pass
        catalogue = obj.catalogue
        names = [n for kind in ("preset", "backbone") for n in catalogue.names(kind) if n.startswith(incomplete)]
    return [CompletionItem(n) for n in names] + [CompletionItem(incomplete, type="dir")]


def add_commands(cli: click.Group) -> None:
    @cli.command("list")
    @click.argument("kind", required=False, type=click.Choice(sorted(KIND_NAMES)))
    @click.option("--modality", "-m", help="Only entries for this modality (text, image, audio, interactions...).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.pass_obj
    def list_(obj, kind, modality, as_json):
        """List the catalogue: presets, backbones, heads, tasks and modalities.

        \b
        hub list                       everything
        hub list presets -m image      image presets only
        hub list backbones --json      for scripts
        """
        catalogue = obj.catalogue
        if modality is not None and modality not in catalogue.entries["modality"]:
            catalogue.get("modality", modality)  # raises with "did you mean"
        kinds = [KIND_NAMES[kind]] if kind else ["preset", "backbone", "head", "task", "modality"]
        rows = [
            _describe(catalogue, k, catalogue.entries[k][name].spec)
            for k in kinds for name in catalogue.names(k)
        ]
        rows = [r for r in rows if _matches(r, modality)]
        if as_json:
            print_json(rows)
            return
        for k in kinds:
            subset = [r for r in rows if r["kind"] == k]
            if not subset:
                continue
            extra = {"preset": "backbone", "backbone": "features", "head": "consumes", "task": "head"}.get(k)
            columns = ["name", "modality", "plugin"] + ([extra] if extra else []) + ["description"]
            table_rows = [[r["name"] + ("" if r.get("available", True) else " (plugin missing)"), r["modality"],
                           r["plugin"], *([r[extra] if not isinstance(r[extra], list) else ",".join(r[extra])]
                                          if extra else []), r["description"]] for r in subset]
            print_table(f"{k}s" if k != "modality" else "modalities", columns, table_rows)

    @cli.command("info")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.pass_obj
    def info(obj, name, as_json):
        """Show everything known about one preset, backbone, head, task or modality."""
        catalogue = obj.catalogue
        found = [(k, catalogue.find(k, name)) for k in INFO_KINDS]
        found = [(k, s) for k, s in found if s is not None]
        variant_config = None
        if not found and ":" in name and catalogue.find("backbone", name.partition(":")[0]) is not None:
            backbone, variant_config, _, _ = catalogue.resolve_model(name)  # "vision/timm:convnext_atto"
            found = [("backbone", backbone)]
        if not found:
            hint = catalogue.suggest(name.partition(":")[0], *INFO_KINDS) or "; see 'hub list'"
            raise UsageError(f"unknown name {name!r}: not a preset, backbone, head, task or modality{hint}")
        rows = [_describe(catalogue, k, s) for k, s in found]
        if variant_config is not None:
            rows[0].update(name=name, config=variant_config)
        for row, (kind, spec) in zip(rows, found):
            if kind in ("task", "preset", "backbone"):
                row["compatible"] = _compatible(catalogue, kind, spec)
            factory = getattr(spec, "factory", None)
            if isinstance(factory, str):
                row["factory"] = factory
        if as_json:
            print_json(rows if len(rows) > 1 else rows[0])
            return
        for row in rows:
            print_table(f"{row['kind']} {row['name']}", ["field", "value"],
                        [[k, v] for k, v in row.items() if k not in ("kind",)])


def _compatible(catalogue, kind, spec) -> list[str]:
    """Tasks usable with a preset or backbone; backbones usable with a task."""
    if kind == "task":
        head = catalogue.find("head", spec.head)
        return [b for b in catalogue.names("backbone")
                if head and head.consumes in catalogue.find("backbone", b).features
                and (spec.modalities is None or catalogue.find("backbone", b).modality in spec.modalities)]
    backbone = spec if kind == "backbone" else catalogue.find("backbone", spec.backbone)
    if backbone is None:
        return []
    out = []
    for t in catalogue.names("task"):
        task = catalogue.find("task", t)
        head = catalogue.find("head", task.head)
        if head and head.consumes in backbone.features and (task.modalities is None or backbone.modality in task.modalities):
            out.append(t)
    return out

