"""The ``hub`` command line itself: version, help, exit codes, one-line errors, JSON output,
and the ``hub plugins install/uninstall/freeze`` plumbing (with pip stubbed out)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hub_core import __version__
from hub_core.cli.main import main
from hub_core.cli import plugins as plugin_commands
from tests.fixtures.inject import hub_env, one_plugin, run_hub

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """In-process ``hub``: no user registry, a private entry-point cache, cwd in tmp."""
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PLUGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PLUGHUB_PLUGINS", raising=False)
    monkeypatch.delenv("PLUGHUB_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def hub(capsys, *args):
    """``main(args)`` in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return done.value.code, out, err


def test_version_and_python_dash_m(tmp_path):
    result = run_hub("--version", env=hub_env(tmp_path), cwd=tmp_path)
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, f"hub, version {__version__}")
    assert "plugin nlp 0.1.0 (hub-nlp)" in result.stdout and "torch " in result.stdout and "onnxruntime " in result.stdout
    module = subprocess.run([sys.executable, "-m", "hub_core", "--version"], capture_output=True, text=True,
                            env=hub_env(tmp_path), cwd=tmp_path)
    assert (module.returncode, module.stdout.splitlines()[0]) == (0, f"hub, version {__version__}")


def test_help_lists_the_commands(isolated, capsys):
    code, out, _ = hub(capsys, "--help")
    assert code == 0
    for command in ("list", "info", "plugins"):
        assert f"  {command} " in out
    code, out, _ = hub(capsys, "plugins", "-h")
    assert code == 0 and "install" in out and "uninstall" in out and "freeze" in out


@pytest.mark.parametrize("args,message", [
    (("list", "--jsn"), "No such option '--jsn'. Did you mean '--json'? (see 'hub list --help')"),
    (("lst",), "No such command 'lst'"),
    (("--strictt", "list"), "No such option '--strictt'"),
    (("info",), "Missing argument 'NAME'. (see 'hub info --help')"),
    (("--registry", "missing.toml", "list"), "Invalid value for '--registry': File 'missing.toml' does not exist."),
])
def test_usage_errors_are_one_line_and_exit_2(isolated, capsys, args, message):
    code, out, err = hub(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("hub: error: ") and err.count("\n") == 1 and message in err, err


def test_failures_exit_1_and_bugs_say_how_to_see_the_traceback(tmp_path):
    env = hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_good"))
    failed = run_hub("fixture-fail", env=env, cwd=tmp_path)
    assert (failed.returncode, failed.stderr) == (1, "hub: error: fixture-fail: the input was wrong\n")
    crashed = run_hub("fixture-crash", env=env, cwd=tmp_path)
    assert crashed.returncode == 1
    assert crashed.stderr == "hub: internal error: RuntimeError: fixture bug (run with --debug for the traceback)\n"
    debug = run_hub("--debug", "fixture-crash", env=env, cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "RuntimeError: fixture bug" in debug.stderr


def test_json_output_is_clean_json_and_pipes_close_quietly(tmp_path):
    env = hub_env(tmp_path)
    result = run_hub("info", "vision/resnet18", "--json", env=env, cwd=tmp_path)
    row = json.loads(result.stdout)
    assert (row["kind"], row["backbone"], row["modality"], row["available"]) == ("preset", "vision/timm", "image", True)
    assert "classification" in row["compatible"] and result.stderr == ""
    # a reader that stops early (| head) is not an error
    piped = subprocess.run(f"'{sys.executable}' -m hub_core list --json | head -c 20", shell=True, capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert piped.returncode == 0 and piped.stdout.startswith("[") and piped.stderr == ""


def test_info_of_a_backbone_variant(isolated, capsys):
    code, out, _ = hub(capsys, "info", "vision/timm:convnext_atto", "--json")
    row = json.loads(out)
    assert code == 0 and (row["name"], row["config"]["variant"]) == ("vision/timm:convnext_atto", "convnext_atto")


def test_tables_for_people(isolated, capsys):
    code, out, _ = hub(capsys, "list", "tasks")
    assert code == 0 and "classification" in out and "regression" in out
    code, out, _ = hub(capsys, "info", "classification")
    assert code == 0 and "compatible" in out


def test_main_can_run_twice_in_one_process(isolated, capsys):
    """Each main() builds a fresh command group: commands never leak between runs."""
    for _ in range(2):
        code, out, _ = hub(capsys, "list", "heads", "--json")
        assert code == 0 and {"linear", "mlp"} <= {row["name"] for row in json.loads(out)}


# ----------------------------------------------------------------- hub plugins install/uninstall/freeze
@pytest.fixture
def pip_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(plugin_commands, "_pip", lambda args: calls.append(args))
    return calls


def test_install_resolves_a_registry_name_to_its_path(isolated, capsys, pip_calls):
    code, _, err = hub(capsys, "plugins", "install", "hub-vision")  # the built-in registry's [plugins]
    assert code == 0, err
    assert pip_calls == [["install", str(ROOT / "plugins" / "hub_vision")]]

    registry = isolated / "mine.toml"
    (isolated / "src" / "my_plugin").mkdir(parents=True)
    registry.write_text('[plugins.my-plugin]\ninstall = "src/my_plugin"\n[plugins.from-index]\npackage = "my-index-plugin>=2"\n')
    code, _, err = hub(capsys, "--registry", registry, "plugins", "install", "my_plugin", "-e", "-U")
    assert code == 0, err
    assert pip_calls[-1] == ["install", "-U", "-e", str(isolated / "src" / "my_plugin")]
    hub(capsys, "--registry", registry, "plugins", "install", "from-index")
    assert pip_calls[-1] == ["install", "my-index-plugin>=2"]
    hub(capsys, "plugins", "install", "some-pypi-plugin==1.2")
    assert pip_calls[-1] == ["install", "some-pypi-plugin==1.2"]


def test_installing_a_folder_says_whether_edits_follow(isolated, capsys, pip_calls):
    (isolated / "my_plugin").mkdir()
    code, _, err = hub(capsys, "plugins", "install", isolated / "my_plugin")
    assert code == 0 and "installed a copy of" in err and "'hub plugins install -e" in err, err
    code, _, err = hub(capsys, "plugins", "install", "-e", isolated / "my_plugin")
    assert code == 0 and "copy" not in err, err
    code, _, err = hub(capsys, "plugins", "install", "some-pypi-plugin")
    assert code == 0 and "copy" not in err, err


def test_install_errors(isolated, capsys, pip_calls):
    registry = isolated / "mine.toml"
    registry.write_text('[plugins.gone]\ninstall = "nowhere"\n')
    code, _, err = hub(capsys, "--registry", registry, "plugins", "install", "gone")
    assert code == 1 and "installs from 'nowhere', which does not exist here" in err
    code, _, err = hub(capsys, "plugins", "install", "-e", "not-a-path")
    assert code == 2 and "--editable needs a local path" in err
    assert pip_calls == []


def test_uninstall_asks_first_and_takes_plugin_or_distribution_names(isolated, capsys, pip_calls, monkeypatch):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    code, _, err = hub(capsys, "plugins", "uninstall", "hub-recsys", "--force")
    assert code == 1 and err.endswith("hub: aborted\n") and pip_calls == []
    code, _, err = hub(capsys, "plugins", "uninstall", "recsys", "-y")  # first-party: only with --force
    assert code == 2 and "hub-recsys is a first-party plugin" in err and "--force" in err and pip_calls == []
    code, _, err = hub(capsys, "plugins", "uninstall", "recsys", "-y", "--force")
    assert code == 0 and pip_calls == [["uninstall", "-y", "hub-recsys"]] and "first-party" in err


def test_freeze_lists_a_requirement_per_plugin_distribution(isolated, capsys):
    code, out, _ = hub(capsys, "plugins", "freeze")
    assert code == 0
    lines = out.splitlines()
    for plugin in ("hub_nlp", "hub_recsys", "hub_speech", "hub_vision"):  # first-party: relative to the checkout
        assert f"-e plugins/{plugin}" in lines
    assert lines[0].startswith("# first-party plugins")
    assert not any("plughub" in line.split("/")[-1] for line in lines if not line.startswith("#"))  # not the core


def test_a_failing_pip_is_one_line_exit_1(isolated, capsys, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(isolated / "no-python"))
    monkeypatch.setattr("subprocess.run", lambda command: subprocess.CompletedProcess(command, 3))
    code, _, err = hub(capsys, "plugins", "install", "x")
    assert code == 1 and err.endswith("hub: error: pip install failed with exit code 3\n")


def test_demo_lists_a_row_per_modality_and_fails_on_a_broken_plugin(tmp_path):
    """`make demo` runs `hub demo` (its rows run end to end in tests/test_demo.py); a broken
    plugin makes it fail loudly."""
    shown = run_hub("demo", "--list", env=hub_env(tmp_path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for word in ("nlp", "vision", "speech", "recsys", "text", "image", "audio", "interactions", "retrieval"):
        assert word in shown.stdout
    broken = run_hub("demo", "--list", env=hub_env(tmp_path, one_plugin(tmp_path, "plughub_fixture_import_error")),
                     cwd=tmp_path)
    assert broken.returncode == 1 and "boom at import" in broken.stderr


def test_finetune_help_is_a_page_and_help_all_lists_every_option(capsys):
    code, short, _ = hub(capsys, "finetune", "--help")
    assert code == 0 and len(short.splitlines()) <= 65 and "--help-all" in short and "--epochs" in short
    assert "--layer-decay" not in short and "--backbone-option" not in short
    code, every, _ = hub(capsys, "finetune", "--help-all")
    assert code == 0 and "--layer-decay" in every and "--backbone-option" in every and "--epochs" in every
    code, _, err = hub(capsys, "finetune", "m", "--layer-decay", "0.8", "--model", "a=b", "--help")  # hidden still parse
    assert code == 0, err
    code, short, _ = hub(capsys, "tune", "--help")
    assert code == 0 and len(short.splitlines()) <= 80 and "--storage TEXT" not in short  # was 122
    code, every, _ = hub(capsys, "tune", "--help-all")
    assert code == 0 and "--storage TEXT" in every and "--layer-decay" in every
    code, every, _ = hub(capsys, "pretrain", "--help-all")
    assert code == 0 and "--layer-decay" in every and "--model PART" not in every
