"""``hub plugins``: what is loaded, and pip install/uninstall/freeze in the hub's interpreter."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hub_core.plugin.catalogue import did_you_mean
from hub_core.common.console import notice, print_json, print_table
from hub_core.plugin.entrypoints import normalize
from hub_core.common.errors import HubError, PluginError, UsageError


def _pip(args: list[str]) -> None:
    import subprocess

    command = [sys.executable, "-m", "pip", *args]
    notice("running " + " ".join(command[2:]))
    result = subprocess.run(command)
    if result.returncode != 0:
        raise HubError(f"pip {args[0]} failed with exit code {result.returncode}")


def _install(catalogue, name: str, editable: bool, upgrade: bool) -> None:
    source = name if Path(name).exists() else (_known_source(catalogue, name) or name)
    if editable and not Path(source).exists():
        raise UsageError(f"--editable needs a local path; {name!r} is not one")
    _pip(["install", *(["-U"] if upgrade else []), *(["-e"] if editable else []), source])
    say_if_copied(source, name, editable)


def _known_source(catalogue, name: str) -> str | None:
    """A plugin listed in a registry's [plugins] table installs from its ``install`` path
    (relative to that registry file) or, failing that, its ``package`` requirement."""
    entry = catalogue.known_plugins.get(name) or catalogue.known_plugins.get(normalize(name))
    if not entry:
        return None
    if "install" in entry:
        source = Path(entry["install"]).expanduser()
        if not source.is_absolute():
            source = Path(entry["source"]).parent / source
        if source.exists():
            return str(source)
    if "package" in entry:
        return entry["package"]
    raise HubError(f"plugin {name!r} ({entry['source']}) installs from {entry.get('install')!r}, "
                   "which does not exist here, and names no 'package' to install instead")


def _plugin_distributions() -> dict:
    """Installed distributions with a ``plughub`` entry point, by normalized name and plugin name."""
    from importlib import metadata  # not at module level: `hub --help` imports this module

    found = {}
    for ep in metadata.entry_points(group="plughub"):
        if ep.dist is not None:
            found[normalize(ep.dist.name)] = ep.dist
            found.setdefault(normalize(ep.name), ep.dist)
    return found


FIRST_PARTY = ("hub-fusion", "hub-nlp", "hub-recsys", "hub-speech", "hub-vision")  # ship with plughub (plugins/)
CHECKOUT = Path(__file__).resolve().parents[2]  # the plughub source tree the core runs from


def _first_party(dist) -> bool:
    return normalize(dist.name) in FIRST_PARTY


def _requirement(dist) -> str:
    """How to reinstall ``dist``: its local path (``-e`` if editable), its VCS or archive
    URL (PEP 610 direct_url.json), or ``name==version`` from an index."""
    from urllib.parse import unquote, urlparse
    from urllib.request import url2pathname

    raw = dist.read_text("direct_url.json")
    if not raw:
        return f"{dist.name}=={dist.version}"
    info = json.loads(raw)
    url = info.get("url", "")
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        return f"{dist.name} @ {vcs['vcs']}+{url}@{vcs.get('commit_id') or vcs.get('requested_revision', '')}".rstrip("@")
    if url.startswith("file:"):
        path = url2pathname(unquote(urlparse(url).path))
        if _first_party(dist) and Path(path).is_relative_to(CHECKOUT):  # portable: relative to any checkout
            path = Path(path).relative_to(CHECKOUT).as_posix()
        return f"-e {path}" if info.get("dir_info", {}).get("editable") else path
    return f"{dist.name} @ {url}"


def show_plugins(records, as_json: bool) -> None:
    if as_json:
        print_json([r.to_json() for r in records])
        return
    rows = []
    for r in records:
        registered = ", ".join(f"{len(v)} {k}{'s' if len(v) != 1 else ''}" for k, v in r.registered.items() if v)
        rows.append([r.name, r.version, r.distribution, ", ".join(h.replace("register_", "") for h in r.hooks),
                     registered or "-", "; ".join(r.errors) or "ok"])
    print_table("plugins", ["name", "version", "distribution", "hooks", "registered", "status"], rows,
                wrap=("hooks", "registered", "status"))


def say_if_copied(source: str, name: str, editable: bool) -> None:
    """An author's folder installed without -e is a copy: their next edit does nothing until
    they install again (issue 39). Say so, and how to install it editable."""
    if not editable and Path(source).is_dir():
        notice(f"installed a copy of {source}: edits there take effect after the next install "
               f"('hub plugins install -e {name}' installs it editable)")


def add_commands(cli: click.Group) -> None:
    @cli.group("plugins", invoke_without_command=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
    @click.option("--check", is_flag=True,
                  help="Also import every factory the plugins registered (slower: imports their libraries); "
                       "fail if one cannot be imported.")
    @click.pass_context
    def plugins(ctx, as_json, check):
        """List loaded plugins (name, version, hooks, what they registered, errors).

        Subcommands install, uninstall and freeze external plugins with pip, in the
        interpreter that runs hub. Set PLUGHUB_PLUGINS=a,b to load only those
        distributions (empty: none but the core).
        """
        if ctx.invoked_subcommand is not None:
            return
        failed = ctx.obj.hub.check_factories() if check else 0
        show_plugins(ctx.obj.hub.plugins.values(), as_json)
        if failed:
            raise PluginError(f"{failed} registered factor{'y' if failed == 1 else 'ies'} cannot be imported "
                              "(see the plugins' errors above)")

    @plugins.command("install")
    @click.argument("name")
    @click.option("-e", "--editable", is_flag=True, help="Install a local path in editable mode.")
    @click.option("-U", "--upgrade", is_flag=True, help="Upgrade if already installed.")
    @click.pass_obj
    def install(obj, name, editable, upgrade):
        """Install a plugin: a PyPI name, a local path, or a name from a registry's [plugins]."""
        _install(obj.catalogue, name, editable, upgrade)

    @plugins.command("uninstall")
    @click.argument("name")
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--force", is_flag=True, help="Also uninstall a first-party plugin (one that ships with plughub).")
    def uninstall(name, yes, force):
        """Uninstall a plugin distribution, by distribution or plugin name.

        Only distributions that provide hub plugins are uninstalled, never their
        dependencies.
        """
        dists = _plugin_distributions()
        dist = dists.get(normalize(name))
        if dist is None:
            installed = sorted({d.name for d in dists.values()})
            raise UsageError(f"{name!r} is not an installed plugin distribution"
                             f"{did_you_mean(name, installed)} (installed: {', '.join(installed) or 'none'})")
        if _first_party(dist):
            if not force:
                raise UsageError(f"{dist.name} is a first-party plugin (it ships with plughub, and its modality, "
                                 "presets and demo go with it): add --force to uninstall it anyway")
            notice(f"uninstalling the first-party plugin {dist.name}; 'make venv' or 'hub plugins install "
                   f"{dist.name}' brings it back")
        if not yes:
            click.confirm(f"Uninstall {dist.name} {dist.version}?", abort=True)
        _pip(["uninstall", "-y", dist.name])

    @plugins.command("freeze")
    def freeze():
        """Print a requirements list that reinstalls every plugin: the first-party ones first
        (editable paths relative to the plughub checkout, where 'pip install -r' runs), then
        the external ones."""
        dists = {normalize(d.name): d for d in _plugin_distributions().values()}
        for first_party, header in ((True, "# first-party plugins (they ship with plughub; paths relative to its "
                                           "checkout)"), (False, "# external plugins")):
            group = [d for _, d in sorted(dists.items()) if _first_party(d) == first_party]
            click.echo("\n".join([header, *map(_requirement, group)]) if group else "", nl=bool(group))
