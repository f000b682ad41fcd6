"""The plugin manager, through the real ``hub`` command: first-party plugins load, and
every way a plugin can be broken is recorded with its cause while the rest keeps working.

Broken plugins are "installed" as fake dist-info folders on PYTHONPATH (tests/fixtures),
so no test here runs pip.
"""
import json

import numpy as np
import pytest

from hub_core import API_VERSION
from hub_core.plugin import manager
from hub_core.plugin.entrypoints import PluginEntry
from hub_core.plugin.manager import _api_ok, load_hub
from tests.fixtures.inject import PLUGINS, fake_site, hub_env, one_plugin, run_hub

FIRST_PARTY = {"nlp": "hub-nlp", "vision": "hub-vision", "speech": "hub-speech", "recsys": "hub-recsys"}
MODALITIES = {"text", "image", "audio", "interactions"}


def plugins_json(env, cwd):
    result = run_hub("plugins", "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return {record["name"]: record for record in json.loads(result.stdout)}


def catalogue_json(env, cwd):
    result = run_hub("list", "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def names(rows, kind):
    return {row["name"] for row in rows if row["kind"] == kind}


def test_first_party_plugins_load_with_their_versions(tmp_path):
    records = plugins_json(hub_env(tmp_path), tmp_path)
    assert records["core"]["builtin"] and records["core"]["distribution"] == "plughub"
    for name, dist in FIRST_PARTY.items():
        record = records[name]
        assert (record["distribution"], record["version"], record["errors"]) == (dist, "0.1.0", [])
        assert "register_backbones" in record["hooks"] and record["registered"]["backbone"]
    rows = catalogue_json(hub_env(tmp_path), tmp_path)
    assert MODALITIES <= names(rows, "modality")
    assert {"classification", "regression", "multilabel"} <= names(rows, "task")
    assert {"nlp/hf", "vision/timm"} <= names(rows, "backbone")


def test_the_table_for_people_shows_every_plugin(tmp_path):
    result = run_hub("plugins", env=hub_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name, dist in FIRST_PARTY.items():
        assert name in result.stdout and dist in result.stdout


@pytest.mark.parametrize("selection,expected", [
    ("hub-nlp", {"core", "nlp"}),
    ("hub_vision, recsys", {"core", "vision", "recsys"}),  # distribution (any spelling) or plugin name
    ("", {"core"}),
])
def test_PLUGHUB_PLUGINS_limits_the_external_plugins(tmp_path, selection, expected):
    env = hub_env(tmp_path, PLUGHUB_PLUGINS=selection)
    assert set(plugins_json(env, tmp_path)) == expected
    rows = catalogue_json(env, tmp_path)
    assert {row["plugin"] for row in rows} == expected
    if "nlp" not in expected:  # its modality and its presets went with it
        assert "text" not in names(rows, "modality") and "nlp/bert-tiny" not in names(rows, "preset")


def test_PLUGHUB_PLUGINS_naming_no_installed_plugin_is_reported(tmp_path):
    env = hub_env(tmp_path, PLUGHUB_PLUGINS="hub-nlp,hub-nlpp")
    records = plugins_json(env, tmp_path)
    assert "no installed distribution" in records["hub-nlpp"]["errors"][0]
    assert records["nlp"]["errors"] == []


# module, plugin name, expected cause in the record, what must be absent from the catalogue
BROKEN = [
    ("plughub_fixture_import_error", "import_error", "failed to import plughub_fixture_import_error: RuntimeError: boom at import", None),
    ("plughub_fixture_hook_error", "hook_error", "register_backbones raised KeyError", ("backbone", "fixture/half-done")),
    ("plughub_fixture_malformed", "malformed", "register_heads raised ValueError: head 'fixture/bad-head': consumes 'Tokens!'", ("head", "fixture/bad-head")),
    ("plughub_fixture_malformed", "malformed", "register_tasks raised TypeError: register_tasks must register TaskSpec records, got dict", None),
    ("plughub_fixture_malformed", "malformed", "backbone 'fixture/orphan' names modality 'nowhere', which no plugin registered", ("backbone", "fixture/orphan")),
    ("plughub_fixture_clash", "clash", "head 'linear' is already registered by plugin 'core'; not registered", None),
    ("plughub_fixture_future_api", "future_api", "needs plughub API '>=3,<4', this core provides 2; not loaded", ("head", "fixture/from-the-future")),
    ("plughub_fixture_bad_hookimpl", "bad_hookimpl", "rejected by the plugin manager", None),
    ("plughub_fixture_wrapper", "wrapper", "register_heads: hookimpl option wrapper=True is not supported", ("head", "fixture/wrapped")),
    ("plughub_fixture_bad_command", "bad_command", "register_commands raised AttributeError: cli has no attribute 'comand'", None),
    ("plughub_fixture_command_clash", "command_clash", "command 'list' already exists; not replaced", None),
]


@pytest.mark.parametrize("module,name,cause,absent", BROKEN, ids=[f"{b[1]}-{i}" for i, b in enumerate(BROKEN)])
def test_a_broken_plugin_is_recorded_and_the_rest_keeps_working(tmp_path, module, name, cause, absent):
    env = hub_env(tmp_path, one_plugin(tmp_path, module))
    records = plugins_json(env, tmp_path)
    assert any(cause in error for error in records[name]["errors"]), records[name]["errors"]
    assert records[name]["distribution"] == module.replace("_", "-")
    assert all(records[p]["errors"] == [] for p in FIRST_PARTY)

    rows = catalogue_json(env, tmp_path)  # `hub list` still works, with everything else in it
    assert MODALITIES <= names(rows, "modality")
    if absent:
        assert absent[1] not in names(rows, absent[0])

    strict = run_hub("--strict", "list", env=env, cwd=tmp_path)
    assert strict.returncode == 1
    assert strict.stdout == ""
    assert strict.stderr.startswith(f"hub: error: plugin {name!r}: ")
    assert strict.stderr.count("\n") == 1 and "Traceback" not in strict.stderr


def test_a_failed_hook_keeps_nothing_it_registered_but_other_hooks_count(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_hook_error"))
    record = plugins_json(env, tmp_path)["hook_error"]
    assert record["registered"] == {"head": ["fixture/survivor"]}
    assert "fixture/survivor" in names(catalogue_json(env, tmp_path), "head")


def test_a_clash_never_takes_a_name_from_the_core(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_clash"))
    record = plugins_json(env, tmp_path)["clash"]
    assert record["registered"] == {"head": ["fixture/own"]}
    result = run_hub("info", "linear", "--json", env=env, cwd=tmp_path)
    assert json.loads(result.stdout)["factory"] == "hub_core.tasks.heads:LinearHead"


def test_a_plugin_name_taken_by_another_distribution(tmp_path):
    site = fake_site(tmp_path, {"impostor": {"core": "plughub_fixture_good"}}, ("plughub_fixture_good",))
    records = plugins_json(hub_env(tmp_path, site), tmp_path)
    assert records["core"]["builtin"] and records["core"]["errors"] == []
    assert records["core (impostor)"]["errors"] == ["plugin name 'core' is already taken by 'plughub'; not loaded"]


def test_a_good_external_plugin_registers_and_adds_commands(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_good"))
    record = plugins_json(env, tmp_path)["good"]
    assert record["errors"] == [] and record["version"] == "1.0"
    assert record["hooks"] == ["register_commands", "register_heads", "register_tasks"]
    assert record["registered"] == {"head": ["fixture/scaled"], "task": ["fixture-task"],
                                    "command": ["fixture-hello", "fixture-fail", "fixture-crash"]}
    assert run_hub("fixture-hello", "plugins", env=env, cwd=tmp_path).stdout == "hello plugins\n"
    assert "fixture-hello" in run_hub("--help", env=env, cwd=tmp_path).stdout
    assert run_hub("--strict", "list", env=env, cwd=tmp_path).returncode == 0


def test_debug_shows_the_plugin_traceback(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_import_error"))
    quiet = run_hub("plugins", env=env, cwd=tmp_path)
    assert quiet.returncode == 0 and "Traceback" not in quiet.stderr
    assert "boom at import" in quiet.stdout
    loud = run_hub("--debug", "plugins", env=env, cwd=tmp_path)
    assert "Traceback" in loud.stderr and 'raise RuntimeError("boom at import")' in loud.stderr


def test_many_broken_plugins_at_once(tmp_path):
    modules = [b[0] for b in BROKEN] + ["plughub_fixture_good"]
    site = fake_site(tmp_path, {m.replace("_", "-"): {m.rpartition("_fixture_")[2]: m} for m in dict.fromkeys(modules)},
                     tuple(dict.fromkeys(modules)))
    env = hub_env(tmp_path, site)
    records = plugins_json(env, tmp_path)
    assert records["good"]["errors"] == [] and all(records[p]["errors"] == [] for p in FIRST_PARTY)
    assert {"fixture/scaled", "fixture/survivor", "fixture/own", "linear"} <= names(catalogue_json(env, tmp_path), "head")
    strict = run_hub("--strict", "list", env=env, cwd=tmp_path)
    assert strict.returncode == 1 and "more; see 'hub plugins'" in strict.stderr and strict.stderr.count("\n") == 1


@pytest.mark.parametrize("declared,ok", [
    (None, True), (API_VERSION, True), (API_VERSION + 1, False), (">=2,<3", True), (">=1", True), ("==2.0", True),
    (">=3", False), ("<2", False), ("2", True), ("one", False), (">=2,banana", False), (True, False),
    (">=1,<2", False), (1, False),
])
def test_api_declarations(declared, ok):
    assert _api_ok(declared) is ok


def test_a_plugin_cannot_replace_a_core_command(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_command_clash"))
    assert run_hub("fixture-own", env=env, cwd=tmp_path).stdout == "mine\n"
    assert plugins_json(env, tmp_path)["command_clash"]["registered"] == {"command": ["fixture-own"]}
    assert "not the catalogue" not in run_hub("list", env=env, cwd=tmp_path).stdout


def load_order_fixture(monkeypatch, *classes):
    """load_hub with the core plus ``classes`` of plughub_fixture_order as plugins a, b, c..."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.delenv("PLUGHUB_PLUGINS", raising=False)
    import plughub_fixture_order

    plughub_fixture_order.CALLS.clear()
    entries = [PluginEntry(f"{chr(97 + i)}_{c.lower()}", f"plughub_fixture_order:{c}", f"dist-{chr(97 + i)}", "1.0")
               for i, c in enumerate(classes)]
    monkeypatch.setattr(manager, "plugin_entries", lambda: entries)
    return load_hub(with_registries=False), plughub_fixture_order.CALLS


def test_tryfirst_and_trylast_mean_what_pluggy_says(monkeypatch):
    hub, calls = load_order_fixture(monkeypatch, "Plain", "First", "Last")
    assert calls == ["first", "plain", "last"]
    # the name still goes to the plugin loaded first, whatever the call order
    assert hub.catalogue.plugin_of("head", "fixture/order") == "a_plain"
    assert hub.plugins["b_first"].errors == ["head 'fixture/order' is already registered by plugin 'a_plain'; "
                                             "not registered"]
    assert "linear" in hub.plugins["core"].registered["head"]


def test_an_old_style_hookwrapper_is_refused_with_the_plugin_named(monkeypatch):
    hub, calls = load_order_fixture(monkeypatch, "OldWrapper", "Plain")
    assert hub.plugins["a_oldwrapper"].errors == [
        "register_heads: hookimpl option hookwrapper=True is not supported (plughub calls each plugin's hook on its "
        "own, all or nothing); not loaded"]
    assert hub.plugins["a_oldwrapper"].hooks == [] and calls == ["plain"]
    assert hub.catalogue.plugin_of("head", "fixture/order") == "b_plain"


def test_a_task_written_for_plugin_api_1_is_refused_with_what_to_port():
    from hub_core.model.contracts import Task

    with pytest.raises(TypeError, match="written for plugin API 1 .*implement decode\\(outputs, batch\\)"):
        type("OldTask", (Task,), {"answers": lambda self, head_output, top_k=1, arrays=None: []})


def test_a_decoder_that_miscounts_is_named():
    from hub_core.common.errors import PluginError
    from hub_core.model.contracts import Batch, decoded
    from hub_core.tasks.regression import RegressionTask

    class Short(RegressionTask):
        def decode(self, outputs, batch, top_k=1):
            return super().decode(outputs, batch, top_k)[:-1]

    outputs = {"standardized": np.zeros((3, 1), np.float32), "prediction": np.zeros((3, 1), np.float32)}
    assert len(decoded(RegressionTask(), outputs, Batch({"x": np.zeros((3, 2))}))) == 3
    with pytest.raises(PluginError, match="task 'regression': decode gave 2 answers for a batch of 3"):
        decoded(Short(), outputs, Batch({"x": np.zeros((3, 2))}))
