"""The ``hub`` command line: thin click commands over the core's pieces.

Heavy libraries (torch, transformers, onnxruntime...) are imported inside the command
functions that need them, so ``hub --help``, ``hub list`` and ``hub plugins`` start fast.

Errors: a HubError or a click usage error prints one line on stderr and exits 2 (usage)
or 1 (failure); ``--debug`` (or PLUGHUB_DEBUG=1) shows tracebacks instead. In tests,
call ``main([...])`` (it raises SystemExit) or run ``hub`` in a subprocess.
"""
from __future__ import annotations

import importlib
import os
import sys

import click

from hub_core import __version__
from typing import TYPE_CHECKING

from hub_core.cli.lazy import LazyGroup
from hub_core.common.errors import HubError

if TYPE_CHECKING:
    from hub_core.plugin.manager import Hub



class HubContext:
    """What every command receives (``ctx.obj``): the loaded hub and the global flags."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.debug = False

    @property
    def catalogue(self):
        return self.hub.catalogue


def build_cli(hub: Hub | None, listed=()) -> LazyGroup:
    """A fresh ``hub`` group with the core's commands (each module imported when one of its
    commands is used) and every plugin's. Without a hub, a group for its help only: the
    plugins' commands are the cached rows ``listed`` (plugin/commandcache.py)."""

    @click.group("hub", cls=LazyGroup, on_load=_modality_options(hub) if hub else None, listed=listed,
                 context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
    @click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
                  help="Show the versions of hub, its plugins, torch and onnxruntime, and exit.")
    @click.option("--strict", is_flag=True, help="Fail if any plugin failed to load or register.")
    @click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
    @click.option("--registry", "registries", multiple=True, type=click.Path(exists=True, dir_okay=False),
                  help="An extra registry.toml of presets (repeatable; overrides the others).")
    @click.option("--trust-project-registry", is_flag=True,
                  help="Let ./plughub.toml name weights outside the current folder (by default it may not).")
    @click.option("--max-params", type=click.FloatRange(min=1), metavar="N",
                  help="Build models of up to N parameters (default 1e9; a larger config or hub.json is refused "
                       "before memory is taken). Also PLUGHUB_MAX_PARAMS.")
    @click.pass_context
    def cli(ctx, strict, debug, registries, trust_project_registry, max_params):
        """plughub: take a backbone (text, image, audio, recommender), put a head on it,
        fine-tune it on your data, and ship it as a validated ONNX model.

        \b
        Start with:  hub list            the catalogue of presets, backbones, heads, tasks
                     hub plugins         loaded plugins and their errors
                     hub finetune ...    fine-tune a model on your data
                     hub export DIR      export to ONNX, validated with onnxruntime
        """
        obj: HubContext = ctx.obj
        obj.debug = debug
        obj.hub.register()  # every command sees the plugins' registrations (and their failures)
        if max_params is not None:  # the environment: torchrun's ranks and hub tune's trials see it too
            if not max_params < float("inf"):  # click's range lets inf and nan through
                from hub_core.common.errors import UsageError

                raise UsageError(f"--max-params / PLUGHUB_MAX_PARAMS must be a whole number, got {max_params}")
            os.environ["PLUGHUB_MAX_PARAMS"] = str(int(max_params))
        if debug:
            for record in obj.hub.plugins.values():
                for trace in record.tracebacks:
                    sys.stderr.write(f"hub: plugin {record.name!r} failed:\n{trace}")
        obj.hub.load_registries(registries)
        obj.hub.catalogue.trust_project = trust_project_registry
        if strict or ctx.invoked_subcommand == "plugins":  # every command's modality options, to report refusals
            ctx.command.load_all()
        if strict:
            obj.hub.check_strict()
        if ctx.invoked_subcommand in LISTING_COMMANDS:
            _note_plugin_failures(obj.hub)

    if hub is not None:
        from hub_core.plugin.manager import add_plugin_commands

        add_plugin_commands(hub, cli, reserved=cli.reserved_names)
        cli.on_load(list(cli.commands.values()))  # the plugins' commands; the core's get theirs as they load
    return cli


def _listing_only(argv: list[str]) -> bool:
    """``hub``, ``hub --help``, ``hub -h``: the group's help and nothing else (not shell completion)."""
    return all(arg in ("-h", "--help") for arg in argv) and "_HUB_COMPLETE" not in os.environ


def _cli(argv: list[str], fresh: bool) -> tuple[Hub | None, LazyGroup]:
    """The hub and its group; for the group's help, from the cached listing when it is valid.
    Only in a ``fresh`` process (the ``hub`` script): one that ran other code (a test calling
    ``main([...])``, with plugins patched in perhaps) loads the plugins, and caches nothing."""
    from hub_core.plugin import commandcache

    cached = fresh and _listing_only(argv)
    listed = commandcache.load() if cached else None
    if listed is not None:
        return None, build_cli(None, listed)
    from hub_core.plugin.manager import load_hub

    # for the help alone, only register_commands runs; else the register hooks first, as always
    hub = load_hub(with_registries=False, lazy=_listing_only(argv))
    cli = build_cli(hub)
    if cached and not hub.failures:  # only a clean load is worth keeping
        loaded = [name for name in sys.modules if name.partition(".")[0] not in sys.stdlib_module_names]
        commandcache.save(commandcache.rows_of(cli.commands.values()), commandcache.module_files(loaded))
    return hub, cli


def _modality_options(hub: Hub):
    """What a lazy group runs on the commands it loads: the modalities' shortcut options on
    those that take ``-p`` (training's module is imported only for such commands)."""
    refused: set = set()

    def on_load(commands) -> None:
        takes = [command for command in commands if any(p.name == "preprocess" for p in command.params)]
        if takes:
            importlib.import_module("hub_core.cli.training").add_modality_options(takes, hub, refused)
    return on_load


def _print_version(ctx, param, value) -> None:
    """hub's version, then every plugin's and the engines' (from package metadata: no torch import)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    def installed(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    lines = [f"hub, version {__version__}"]
    if ctx.obj:
        ctx.obj.hub.register()  # a plugin that failed to register is FAILED too
    plugins = [r for r in ctx.obj.hub.plugins.values() if not r.builtin] if ctx.obj else []
    lines += [f"  plugin {r.name} {r.version or '?'} ({r.distribution or r.module})" + (" FAILED" if r.errors else "")
              for r in plugins]
    lines += [f"  {dist} {installed(dist)}" for dist in ("torch", "onnxruntime")]
    click.echo("\n".join(lines))
    ctx.exit()


LISTING_COMMANDS = ("list", "info")  # 'hub plugins' shows the failures in its table; 'hub demo' lists them itself


def _note_plugin_failures(hub: Hub) -> None:
    """A broken plugin is never silently missing from a listing: one line on stderr."""
    try:
        hub.check_strict()
    except HubError as err:
        sys.stderr.write(f"hub: {err}\n")


def _unknown_name_note(hub: Hub | None, err: HubError) -> str:
    """For 'unknown model ...': the plugin that may have registered it failed to load, and why."""
    from hub_core.common.errors import UsageError

    failed = [r for r in (hub.plugins.values() if hub else ()) if r.errors]
    if not failed or not isinstance(err, UsageError) or not str(err).startswith("unknown "):
        return ""
    named = str(err).split("'")[1] if "'" in str(err) else ""
    namespace = named.partition("/")[0] if "/" in named else None
    owner = next((r for r in failed if namespace and namespace in (r.name, r.distribution)), None)
    if owner is not None:
        return f"; plugin {owner.name!r} failed to load: {owner.errors[0]}"
    return f"; {len(failed)} plugin(s) failed to load: {', '.join(r.name for r in failed)} (see 'hub plugins')"


def _usage_line(err: click.UsageError) -> str:
    """click's three-line usage error, as one line that says where to look."""
    where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
    return f"hub: error: {' '.join(err.format_message().split())}{where}\n"


def _fail(line: str, code: int, debug: bool):
    """One line on stderr and the exit code; with --debug, the traceback first."""
    if debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(line)
    sys.exit(code)


def out_of_memory(err: BaseException) -> bool:
    """A MemoryError, or torch's allocator failing (on the CPU or a GPU): the machine's limit,
    not a bug, and the user can act on it."""
    if isinstance(err, MemoryError):
        return True
    text = str(err)
    return type(err).__name__ in ("OutOfMemoryError", "RuntimeError") and (
        "can't allocate memory" in text or "out of memory" in text.lower())


def _max_params_first(argv: list[str]) -> list[str]:
    """``hub finetune ... --max-params N`` as ``hub --max-params N finetune ...`` (a global option)."""
    for index, arg in enumerate(argv[1:], 1):
        if arg == "--max-params" and index + 1 < len(argv):
            return [arg, argv[index + 1]] + argv[:index] + argv[index + 2:]
        if arg.startswith("--max-params="):
            return [arg] + argv[:index] + argv[index + 1:]
    return argv


def _terminated(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (docker stop, systemd, Slurm) is Ctrl-C: clean-ups run, the loop checkpoints


def main(argv: list[str] | None = None) -> None:
    """``hub``: SIGTERM is handled as Ctrl-C while it runs (the main thread only: signals go there)."""
    import signal
    import threading

    limit = os.environ.get("PLUGHUB_MAX_PARAMS")  # --max-params sets it for this command only (tests call main())
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main_thread else None
    try:
        return _main(argv)
    except SystemExit as done:
        if argv is None and main_thread and isinstance(done.code, (int, type(None))):  # a process of its own
            from hub_core.common.quickexit import exit_now

            exit_now(done.code or 0)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if limit is None:
            os.environ.pop("PLUGHUB_MAX_PARAMS", None)
        else:
            os.environ["PLUGHUB_MAX_PARAMS"] = limit


def _main(argv: list[str] | None = None) -> None:
    fresh = argv is None  # the console script's call, in a process of its own
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("PLUGHUB_DEBUG") == "1"
    if "--debug" in argv[1:]:  # accepted after the command name too: hub finetune ... --debug
        argv.remove("--debug")
        argv.insert(0, "--debug")
    argv = _max_params_first(argv)
    hub = None
    try:
        hub, cli = _cli(argv, fresh)
        code = cli.main(args=argv, prog_name="hub", obj=HubContext(hub), standalone_mode=False)
        sys.stdout.flush()
    except click.exceptions.NoArgsIsHelpError as err:  # bare `hub`, `hub vision`: the help, not an error
        sys.stdout.write(err.ctx.get_help() + "\n")
        sys.exit(0)
    except click.UsageError as err:
        _fail(_usage_line(err), err.exit_code, debug)
    except click.ClickException as err:
        _fail(f"hub: error: {' '.join(err.format_message().split())}\n", err.exit_code, debug)
    except click.exceptions.Abort as err:
        interrupted = isinstance(err.__cause__, KeyboardInterrupt)
        _fail("hub: interrupted\n" if interrupted else "hub: aborted\n", 130 if interrupted else 1, debug)
    except KeyboardInterrupt:
        _fail("hub: interrupted\n", 130, debug)
    except BrokenPipeError:  # `hub list --json | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except HubError as err:
        _fail(f"hub: error: {err}{_unknown_name_note(hub, err)}\n", err.exit_code, debug)
    except Exception as err:  # noqa: BLE001 - the last line of defence; --debug shows it all
        if out_of_memory(err):
            _fail(f"hub: error: out of memory ({type(err).__name__}: {' '.join(str(err).split())[:160]}); "
                  "free memory, or ask for less: a smaller --batch-size, --max-length or model\n", 1, debug)
        hint = "" if debug else " (run with --debug for the traceback)"
        _fail(f"hub: internal error: {type(err).__name__}: {err}{hint}\n", 1, debug)
    # In non-standalone mode click returns ctx.exit()'s code (0 after --help/--version).
    sys.exit(code if isinstance(code, int) else 0)
