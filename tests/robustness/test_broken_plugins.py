"""Broken plugins, beyond tests/test_plugins.py (import errors, one failing hook, malformed
specs, name clashes, API versions, bad hookimpls and commands): a plugin that raises in
every hook, and one whose factories fail only when used. The CLI keeps working, ``hub
plugins`` shows each error (``--check`` imports every factory), ``--strict`` fails, and
using a broken factory is one clear line.

The plugins are "installed" as dist-info folders on PYTHONPATH (tests/fixtures/inject.py).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.fixtures.inject import fake_site, hub_env, run_hub

PLUGINS = Path(__file__).resolve().parent / "plugins"
FIRST_PARTY = ("nlp", "vision", "speech", "recsys")


def installed(tmp_path: Path, module: str, name: str) -> dict:
    site = fake_site(tmp_path, {module.replace("_", "-"): {name: module}})
    shutil.copy(PLUGINS / f"{module}.py", site)
    return hub_env(tmp_path, site)


def records(env, cwd) -> dict:
    result = run_hub("plugins", "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {record["name"]: record for record in json.loads(result.stdout)}


def one_line(result, code: int, says: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert says in result.stderr, result.stderr


def test_a_plugin_raising_in_every_hook_is_recorded_once_per_hook(tmp_path):
    env = installed(tmp_path, "plughub_robust_everywhere", "everywhere")
    record = records(env, tmp_path)["everywhere"]
    for hook, error in (("register_modalities", "RuntimeError"), ("register_backbones", "ValueError"),
                        ("register_heads", "TypeError"), ("register_tasks", "KeyError"),
                        ("register_commands", "AttributeError")):
        assert any(e.startswith(f"{hook} raised {error}") for e in record["errors"]), record["errors"]
    assert not any(record["registered"].values())
    listed = run_hub("list", "--json", env=env, cwd=tmp_path)
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert "everywhere/net" not in names and {"nlp/hf", "vision/timm", "recsys/mf"} <= names
    assert "everywhere-hello" not in run_hub("--help", env=env, cwd=tmp_path).stdout
    one_line(run_hub("--strict", "list", env=env, cwd=tmp_path), 1, "plugin 'everywhere': register_modalities raised")


def test_factories_that_fail_only_when_used(tmp_path):
    env = installed(tmp_path, "plughub_robust_lazy", "lazy")
    loaded = records(env, tmp_path)
    assert loaded["lazy"]["errors"] == [] and all(loaded[p]["errors"] == [] for p in FIRST_PARTY)
    assert run_hub("--strict", "list", env=env, cwd=tmp_path).returncode == 0  # nothing is wrong until used

    checked = run_hub("plugins", "--check", "--json", env=env, cwd=tmp_path)
    one_line(checked, 1, "hub: error: 4 registered factories cannot be imported")
    errors = {r["name"]: r["errors"] for r in json.loads(checked.stdout)}
    assert len(errors["lazy"]) == 4 and all("plughub_robust_absent_dependency" in e for e in errors["lazy"])
    assert all(errors[p] == [] for p in FIRST_PARTY)

    (tmp_path / "t.csv").write_text("text,label\nsome words,a\nother words,b\n")
    for model, says in (("lazy/absent", "cannot import 'plughub_robust_absent_dependency:build'"),
                        ("nlp/bert-tiny", "cannot import 'plughub_robust_absent_dependency:Task'")):
        task = "lazy-task" if model == "nlp/bert-tiny" else "classification"
        used = run_hub("finetune", model, "-t", task, "-d", "t.csv", "-o", "out", env=env, cwd=tmp_path)
        one_line(used, 1, says)
    crashed = run_hub("finetune", "lazy/crashes", "-t", "classification", "-d", "t.csv", "-o", "out", env=env,
                      cwd=tmp_path)
    one_line(crashed, 1, "hub: error: plugin module 'plughub_robust_lazy': factory plughub_robust_lazy:crash failed: "
                      "RuntimeError: a bug in the plugin")  # the plugin and the factory named (issue 17)
    assert not (tmp_path / "out").exists()
    assert run_hub("info", "nlp/bert-tiny", env=env, cwd=tmp_path).returncode == 0  # the rest keeps working
