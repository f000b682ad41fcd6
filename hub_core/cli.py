"""The ``hub`` command line: thin click commands over the core's pieces.

Heavy libraries (torch, transformers, onnxruntime...) are imported inside the command
functions that need them, so ``hub --help``, ``hub list`` and ``hub plugins`` start fast.
"""
from __future__ import annotations

import os
import sys

import click

from hub_core import __version__
from hub_core.errors import HubError
from hub_core.plugins import Hub, add_plugin_commands, load_hub

# Each module adds its commands to the group; one module per family of commands.
COMMAND_MODULES = [
    "hub_core.commands.catalogue",
    "hub_core.commands.plugins",
    "hub_core.commands.training",
    "hub_core.commands.deploy",
]


class HubContext:
    """What every command receives (``ctx.obj``): the loaded hub and the global flags."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.debug = False

    @property
    def catalogue(self):
        return self.hub.catalogue


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="hub")
@click.option("--strict", is_flag=True, help="Fail if any plugin failed to load or register.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.option("--registry", "registries", multiple=True, type=click.Path(dir_okay=False),
              help="An extra registry.toml of presets (repeatable; overrides the others).")
@click.pass_context
def cli(ctx, strict, debug, registries):
    """plughub: take a backbone (text, image, audio, recommender), put a head on it,
    fine-tune it on your data, and ship it as a validated ONNX model.

    \b
    Start with:  hub list            the catalogue of presets, backbones, heads, tasks
                 hub finetune ...    fine-tune a model on your data
                 hub export DIR      export to ONNX, validated with onnxruntime
    """
    obj: HubContext = ctx.obj
    obj.debug = debug
    obj.hub.load_registries(registries)
    if strict:
        obj.hub.check_strict()


def build_cli(hub: Hub) -> click.Group:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.add_commands(cli)
    add_plugin_commands(hub, cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("PLUGHUB_DEBUG") == "1"
    try:
        hub = load_hub(with_registries=False)
        group = build_cli(hub)
        group.main(args=argv, prog_name="hub", obj=HubContext(hub), standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("hub: aborted\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("hub: interrupted\n")
        sys.exit(130)
    except HubError as err:
        if debug:
            raise
        sys.stderr.write(f"hub: error: {err}\n")
        sys.exit(err.exit_code)
    except Exception as err:  # noqa: BLE001 - the last line of defence; --debug shows it all
        if debug:
            raise
        sys.stderr.write(f"hub: internal error: {type(err).__name__}: {err} (run with --debug for the traceback)\n")
        sys.exit(1)
