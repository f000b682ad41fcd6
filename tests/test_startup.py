"""Fast start: the catalogue commands import none of the heavy libraries, and the
entry-point cache is correct (it notices installs, uninstalls and edits by itself)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub_core.plugin import entrypoints
from tests.fixtures.inject import HUB, fake_site, hub_env, one_plugin, run_hub

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "transformers", "timm", "torchaudio", "torchvision", "onnxruntime", "onnx", "tokenizers"}


def imported_modules(args, env) -> set[str]:
    """Top-level packages the real ``hub`` script imports (python -X importtime's list)."""
    result = subprocess.run([sys.executable, "-X", "importtime", str(HUB), *args], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert len(lines) > 50, "no -X importtime output"
    return {name.split(".")[0] for name in lines}


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "--json"], ["plugins"], ["plugins", "--json"],
                                  ["info", "vision/resnet18"], ["finetune", "--help"]])
def test_catalogue_commands_import_no_heavy_library(tmp_path, args):
    heavy = imported_modules(args, hub_env(tmp_path)) & HEAVY
    assert not heavy, f"hub {' '.join(args)} imported {sorted(heavy)}"


def test_the_cache_spares_importlib_metadata(tmp_path):
    """On a warm cache `hub list` does not even import importlib.metadata (~20 ms)."""
    env = hub_env(tmp_path)
    subprocess.run([str(HUB), "list", "--json"], capture_output=True, env=env, check=True)  # fill the cache
    assert "importlib.metadata" not in imported_full(["list", "--json"], env)
    assert "importlib.metadata" in imported_full(["list", "--json"], {**env, "PLUGHUB_NO_CACHE": "1"})


def imported_full(args, env) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", str(HUB), *args], capture_output=True, text=True,
                            env=env, check=True)
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PLUGHUB_NO_CACHE", raising=False)
    return tmp_path / "cache"


def scanned(monkeypatch) -> list:
    """Count real scans (cache misses) from here on."""
    calls = []
    real = entrypoints._scan
    monkeypatch.setattr(entrypoints, "_scan", lambda: calls.append(1) or real())
    return calls


def test_entry_point_cache_hits_and_invalidates(cache, tmp_path, monkeypatch):
    site = fake_site(tmp_path / "a", {"first-plugin": {"first": "first_module"}})
    monkeypatch.syspath_prepend(str(site))
    scans = scanned(monkeypatch)
    before = entrypoints.plugin_entries()
    assert ("first", "first_module", "first-plugin", "1.0") in [tuple(vars(e).values()) for e in before]
    assert entrypoints.plugin_entries() == before and len(scans) == 1  # hit

    fake_site(tmp_path / "a", {"second-plugin": {"second": "second_module"}})  # "pip install" into the same folder
    assert "second" in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 2

    info = next(site.glob("first_plugin-*.dist-info"))
    entry_points = info / "entry_points.txt"
    entry_points.write_text("[plughub]\nrenamed = first_module\n")  # edited in place
    os.utime(entry_points, ns=(entry_points.stat().st_atime_ns, entry_points.stat().st_mtime_ns + 10**9))
    assert "renamed" in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 3

    for child in info.iterdir():  # "pip uninstall"
        child.unlink()
    info.rmdir()
    assert "renamed" not in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 4

    monkeypatch.syspath_prepend(str(fake_site(tmp_path / "b", {"third": {"third": "third_module"}})))  # a new path
    assert "third" in {e.name for e in entrypoints.plugin_entries()} and len(scans) == 5
    assert entrypoints.plugin_entries() == entrypoints._scan()  # the cache never differs from a scan


def test_entry_point_cache_survives_corruption_and_read_only_homes(cache, monkeypatch):
    scans = scanned(monkeypatch)
    first = entrypoints.plugin_entries()
    cache_file = next(cache.iterdir())
    cache_file.write_bytes(b"\x00garbage")
    assert entrypoints.plugin_entries() == first and len(scans) == 2
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", "/proc/no-such-place")  # cannot be written
    assert entrypoints.plugin_entries() == first
    monkeypatch.setenv("PLUGHUB_NO_CACHE", "1")
    assert entrypoints.plugin_entries() == first


def test_entry_point_cache_keeps_a_few_fingerprints(cache, tmp_path, monkeypatch):
    """`hub` and `python -m hub_core` see different sys.paths; both stay cached."""
    scans = scanned(monkeypatch)
    entrypoints.plugin_entries()
    monkeypatch.syspath_prepend(str(tmp_path))
    entrypoints.plugin_entries()
    monkeypatch.undo()
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(cache))
    scans = scanned(monkeypatch)
    entrypoints.plugin_entries()
    assert scans == []


@pytest.mark.slow
def test_startup_benchmark_prints_its_figures():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--runs", "1"],
                            capture_output=True, text=True, check=True, timeout=300)
    figures = json.loads(result.stdout)
    for key in ("median_s", "median_s_no_bytecode_cache", "best_s", "median_cpu_s"):
        assert set(figures[key]) >= {"python -c pass", "hub --help", "hub list"}
        assert all(0 < t < 30 for t in figures[key].values())
    assert figures["budget_s"] == {"hub --help": 0.10, "hub list": 0.25}
    assert isinstance(figures["within_budget"], bool)
    assert set(figures["ratio_to_python"]) == {"hub --help", "hub list"}
    assert all(r > 0 for r in figures["ratio_to_python"].values())
    assert figures["machine"]["cpus"] >= 1 and "load_after" in figures["machine"]


# ----------------------------------------------------------------------------- lazy commands, cached listing
def test_the_lazy_command_table_is_what_the_modules_define():
    """CORE_COMMANDS names each core command, its module and the sentence its short help
    comes from: the listing of a lazy group equals an eager one's at any width."""
    import click

    from hub_core.cli.lazy import CORE_COMMANDS, NEEDS

    real = {}
    for module in sorted({m for m, _ in CORE_COMMANDS.values()}):
        group = click.Group("hub")
        for needed in filter(None, [NEEDS.get(module)]):
            __import__(needed, fromlist=["_"]).add_commands(group)
        before = set(group.commands)
        __import__(module, fromlist=["_"]).add_commands(group)
        real.update({name: (module, group.commands[name]) for name in set(group.commands) - before})
    assert set(real) == set(CORE_COMMANDS)
    for name, (module, sentence) in CORE_COMMANDS.items():
        assert real[name][0] == module, name
        for limit in (20, 45, 60, 86, 120, 400):
            assert click.Command(name, help=sentence).get_short_help_str(limit) == real[name][1].get_short_help_str(limit)


def run_fresh(args, env) -> tuple[str, set[str]]:
    """``hub ARGS`` as the console script runs it, in a process of its own: (stdout, modules imported)."""
    code = ("import atexit, sys\nsys.argv = ['hub', *sys.argv[1:]]\nfrom hub_core.cli.main import main\n"
            "atexit.register(lambda: sys.stderr.write(' '.join(sys.modules)))\nmain()\n")  # main() ends the process
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    return result.stdout, set(result.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["list"], ["list", "--json"]])
def test_help_and_list_import_no_torch_numpy_or_rich(tmp_path, args):
    env = hub_env(tmp_path)
    for _ in range(2):  # the first fills the caches, the second uses them
        out, modules = run_fresh(args, env)
        assert out and not {m.split(".")[0] for m in modules} & (HEAVY | {"numpy", "rich"}), sorted(modules)


def test_help_lists_the_plugins_commands_from_the_cache_without_loading_them(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_good"))
    first, loaded = run_fresh(["--help"], env)
    second, cached = run_fresh(["--help"], env)
    assert "fixture-hello" in first and "split-interactions" in first and second == first
    assert {"pluggy", "hub_recsys", "plughub_fixture_good"} <= loaded
    assert not {"pluggy", "hub_core.plugin.manager", "hub_core.plugin.specs", "plughub_fixture_good"} & cached
    assert run_hub("fixture-hello", env=env).stdout == "hello world\n"  # and the command itself runs


def test_the_help_cache_never_lists_a_changed_or_removed_plugin(tmp_path):
    site = one_plugin(tmp_path, "plughub_fixture_good")
    env = hub_env(tmp_path, site)
    run_fresh(["--help"], env)
    assert "fixture-hello" in run_fresh(["--help"], env)[0]
    source = site / "plughub_fixture_good.py"
    source.write_text(source.read_text().replace('"fixture-hello"', '"fixture-hi-there"'))  # edited in place
    out = run_fresh(["--help"], env)[0]
    assert "fixture-hi-there" in out and "fixture-hello" not in out
    shutil.rmtree(next(site.glob("plughub_fixture_good-*.dist-info")))  # uninstalled
    out = run_fresh(["--help"], env)[0]
    assert "fixture-" not in out and "split-interactions" in out
    out = run_fresh(["--help"], {**env, "PLUGHUB_PLUGINS": ""})[0]  # the core's commands only
    assert "split-interactions" not in out and "finetune" in out


def test_a_failed_plugin_is_never_cached_and_the_help_still_works(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_syntax_error"))
    for _ in range(2):
        out, modules = run_fresh(["--help"], env)
        assert "finetune" in out and "pluggy" in modules  # loaded each time: the failure is not remembered
    assert not list((tmp_path / "cache").glob("commands-*"))


def test_plain_tables_off_a_terminal(capsys, monkeypatch):
    """To a pipe: aligned columns, no box drawing, names whole, the free text wrapped under itself."""
    from hub_core.common.console import print_table

    monkeypatch.setenv("COLUMNS", "60")
    print_table("things", ["name", "kind", "description"],
                [["a/very-long-name", "x", "word " * 20], ["b", "yy", "short"]])
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["things", "name              kind  description"]
    assert lines[2].startswith("a/very-long-name  x     word word") and lines[3].startswith(" " * 24 + "word")
    assert lines[-1] == "b                 yy    short"
    assert max(map(len, lines)) <= 60 and not set("│┃━─") & set("".join(lines))


def test_boxed_tables_on_a_terminal(capsys, monkeypatch):
    """On a terminal: the same layout in rich's heavy-head box, drawn without rich; wide
    characters count two cells."""
    from hub_core.common.console import print_table
    from hub_core.common.plaintable import cell_width

    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    print_table(None, ["name", "description"], [["名前", "word " * 10], ["b", "short"]])
    lines = capsys.readouterr().out.splitlines()
    assert [cell_width(line) for line in lines] == [40] * len(lines)  # the terminal's width, to the cell
    assert lines[0].startswith("┏━━━━━━┳━") and lines[2].startswith("┡━━━━━━╇━") and lines[-1].startswith("└──────┴─")
    assert lines[1] == "┃ name ┃ description" + " " * 19 + "┃"
    assert lines[3].startswith("│ 名前 │ word word") and lines[4].startswith("│      │ word") and len(lines) == 7


QUICK_EXIT = """
import atexit, sys, threading, time
from hub_core.cli.main import main
done = []
threading.Thread(target=lambda: (time.sleep(0.5), done.append(1))).start()  # not a daemon: waited for
atexit.register(lambda: print(f"atexit ran after {len(done)} thread"))
sys.stdout.write("x" * 100_000)  # buffered, not yet flushed
sys.argv = ["hub", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("args, code", [(["list", "--json"], 0), (["no-such-command"], 2),
                                        (["info", "no/such-model"], 2)])
def test_a_process_of_its_own_exits_quickly_and_completely(tmp_path, args, code):
    """`hub` in a process of its own skips the module teardown (1-2 s once torch is loaded) but
    keeps what a normal exit does: the exit code, other threads joined, atexit handlers, buffered output."""
    result = subprocess.run([sys.executable, "-c", QUICK_EXIT, *args], capture_output=True, text=True,
                            env=hub_env(tmp_path), timeout=120)
    assert result.returncode == code, result.stderr[-2000:]
    assert result.stdout.startswith("x" * 100_000)
    body, _, last = result.stdout[100_000:].rstrip("\n").rpartition("\n")
    assert last == "atexit ran after 1 thread"
    if code == 0:
        assert {"name", "modality"} <= set(json.loads(body)[0])
    else:
        assert result.stderr.startswith("hub: error:")
