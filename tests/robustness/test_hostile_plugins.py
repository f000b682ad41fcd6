"""Hostile plugins (beyond test_broken_plugins.py's exceptions): a plugin that calls
sys.exit, raises KeyboardInterrupt or a bare BaseException at import or in a hook, prints,
or imports slowly breaks only itself. Every command, ``--help`` and ``hub plugins
uninstall --help`` included, keeps working; ``--json`` output stays clean (a plugin's print
goes to stderr); a slow import is named on stderr; a real Ctrl-C during a plugin's import
still stops the hub. Also: unknown names in PLUGHUB_PLUGINS are one warning line, and a
damaged entry-point cache file is rebuilt by itself.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.inject import HUB, fake_site, hub_env, run_hub

PLUGINS = Path(__file__).resolve().parent / "plugins"
HOSTILE = {"exits": "SystemExit: 3", "interrupts": "KeyboardInterrupt", "base": "BaseException: not even an Exception"}


def installed(tmp_path: Path, *names: str, **extra: str) -> dict:
    modules = [f"plughub_robust_{name}" for name in names]
    site = fake_site(tmp_path, {m.replace("_", "-"): {n: m} for n, m in zip(names, modules)})
    for module in modules:
        shutil.copy(PLUGINS / f"{module}.py", site)
    return hub_env(tmp_path, site, **extra)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_plugin_that_exits_or_interrupts_at_import_breaks_only_itself(tmp_path, name):
    env = installed(tmp_path, name)
    helped = run_hub("--help", env=env, cwd=tmp_path)
    assert helped.returncode == 0 and "finetune" in helped.stdout, helped.stderr
    assert run_hub("plugins", "uninstall", "--help", env=env, cwd=tmp_path).returncode == 0
    listed = run_hub("plugins", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    record = {r["name"]: r for r in json.loads(listed.stdout)}[name]
    assert record["errors"] == [f"import of plughub_robust_{name} raised {HOSTILE[name]}; not loaded"]
    assert run_hub("info", "nlp/bert-tiny", env=env, cwd=tmp_path).returncode == 0
    strict = run_hub("--strict", "list", env=env, cwd=tmp_path)
    assert strict.returncode == 1 and strict.stderr.count("\n") == 1 and HOSTILE[name] in strict.stderr


def test_a_plugin_that_prints_keeps_json_clean_and_its_hook_exit_is_its_failure(tmp_path):
    env = installed(tmp_path, "prints")
    listed = run_hub("list", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0
    json.loads(listed.stdout)  # nothing but JSON on stdout
    assert "hello from plughub_robust_prints at import" in listed.stderr
    assert "hello from register_heads" in listed.stderr
    records = {r["name"]: r for r in json.loads(run_hub("plugins", "--json", env=env, cwd=tmp_path).stdout)}
    assert records["prints"]["errors"] == ["register_tasks (none of its tasks registered) raised SystemExit: "
                                           "bye from register_tasks"]


def test_a_slow_plugin_is_named_and_a_real_ctrl_c_still_stops(tmp_path):
    env = installed(tmp_path, "slow")
    slow = run_hub("--help", env=env, cwd=tmp_path)
    assert slow.returncode == 0
    assert "hub: plugin 'slow' took 2." in slow.stderr and "s to import" in slow.stderr, slow.stderr
    env["PLUGHUB_ROBUST_SLOW_S"] = "30"
    proc = subprocess.Popen([str(HUB), "list"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(4)  # well inside the plugin's 30 s import (start-up takes a second or two)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err.strip().endswith("hub: interrupted"), err
    assert time.monotonic() - started < 10


def test_unknown_names_in_plughub_plugins_are_one_warning(tmp_path):
    env = installed(tmp_path, "prints", PLUGHUB_PLUGINS="nope,printz")
    listed = run_hub("list", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0
    warnings = [line for line in listed.stderr.splitlines() if line.startswith("hub: warning: PLUGHUB_PLUGINS")]
    assert len(warnings) == 2, listed.stderr
    assert "'printz'" in warnings[1] and "did you mean 'prints'" in warnings[1], warnings


@pytest.mark.parametrize("damage", ["empty", "junk", "wrong-shape"])
def test_a_damaged_entry_point_cache_is_rebuilt(tmp_path, damage):
    import marshal

    env = installed(tmp_path, "prints")
    assert run_hub("plugins", "--json", env=env, cwd=tmp_path).returncode == 0
    (cache,) = (tmp_path / "cache").glob("entry-points-*")
    fmt, slots = marshal.loads(cache.read_bytes())
    bad = {"empty": b"", "junk": b"\x00garbage",  # the right fingerprints, entries of another shape:
           "wrong-shape": marshal.dumps((fmt, tuple((key, ((1, 2),)) for key, _ in slots)))}[damage]
    cache.write_bytes(bad)
    listed = run_hub("plugins", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert "prints" in {r["name"] for r in json.loads(listed.stdout)}
    assert cache.read_bytes() != bad  # rewritten whole
