"""Processes that end: a plugin whose import or hook hangs, or that leaves a thread running
for ever, is stopped by the watchdog (PLUGHUB_PLUGIN_TIMEOUT) or left behind at exit; it is
named in 'hub plugins', and every command, the way out ('hub plugins uninstall') included,
answers."""
from __future__ import annotations

import json
import time

from tests.robustness.test_hostile_plugins import installed
from tests.fixtures.inject import run_hub

TIMEOUT = {"PLUGHUB_PLUGIN_TIMEOUT": "2"}


def test_a_plugin_whose_import_or_hook_hangs_is_stopped_and_named(tmp_path):
    env = installed(tmp_path, "hangs", "hook_hangs", **TIMEOUT)
    started = time.monotonic()
    helped = run_hub("--help", env=env, cwd=tmp_path)
    assert helped.returncode == 0 and "finetune" in helped.stdout, helped.stderr
    listed = run_hub("plugins", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert records["hangs"]["errors"] == ["import of plughub_robust_hangs did not finish in 2 s "
                                          "(PLUGHUB_PLUGIN_TIMEOUT); stopped, not loaded"]
    assert any("register_backbones" in e and "did not finish in 2 s" in e for e in records["hook_hangs"]["errors"])
    assert run_hub("list", "backbones", env=env, cwd=tmp_path).returncode == 0
    assert run_hub("plugins", "uninstall", "--help", env=env, cwd=tmp_path).returncode == 0
    assert time.monotonic() - started < 90  # each command waited about its 2 s per hanging plugin, no more


def test_a_thread_a_plugin_leaves_running_does_not_hold_the_command(tmp_path, monkeypatch):
    env = installed(tmp_path, "thread")
    started = time.monotonic()
    listed = run_hub("list", "tasks", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "classification" in listed.stdout, listed.stderr
    assert "thread 'plughub-robust-forever' still runs after" in listed.stderr
    assert time.monotonic() - started < 60


def test_a_plugin_calling_os_exit_at_import_is_its_failure_not_the_hubs_exit(tmp_path):
    """os._exit(0) at import once ended 'hub finetune' with exit 0 and no model."""
    env = installed(tmp_path, "os_exit")
    listed = run_hub("list", "tasks", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "classification" in listed.stdout, listed.stderr
    records = {r["name"]: r for r in json.loads(run_hub("plugins", "--json", env=env, cwd=tmp_path).stdout)}
    assert records["os_exit"]["errors"] == ["import of plughub_robust_os_exit raised PluginExit: os._exit(0); not loaded"]
    strict = run_hub("--strict", "list", env=env, cwd=tmp_path)
    assert strict.returncode == 1 and "os._exit(0)" in strict.stderr
