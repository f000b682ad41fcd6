"""The catalogue: registry layers, registry-file errors that point at file:line:col,
"did you mean" for unknown names, and resolving a model name."""
import json
from pathlib import Path

import pytest

from hub_core.plugin.catalogue import Catalogue, did_you_mean, read_presets, registry_files
from hub_core.common.errors import ConfigError, UsageError
from hub_core.plugin.manager import PluginRecord, _check_references, load_hub
from hub_core.plugin.specs import BackboneSpec, HeadSpec, ModalitySpec, Preset, TaskSpec
from tests.fixtures.inject import hub_env, run_hub

ROOT = Path(__file__).resolve().parents[1]


def preset_toml(name: str, description: str) -> str:
    return f'[presets."{name}"]\nbackbone = "vision/timm"\nconfig = {{ model_name = "resnet18" }}\ndescription = "{description}"\n'


def info(name, env, cwd, *extra):
    result = run_hub(*extra, "info", name, "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_registry_layers_override_in_order(tmp_path):
    """built-in < user ($PLUGHUB_HOME) < project (./plughub.toml) < --registry."""
    env = hub_env(tmp_path)
    builtin = info("vision/resnet18", env, tmp_path)  # registered by the vision plugin, from its presets.toml
    assert (builtin["plugin"], builtin["source"]) == ("vision", str(ROOT / "plugins/hub_vision/hub_vision/presets.toml"))

    home = Path(env["PLUGHUB_HOME"])
    home.mkdir()
    (home / "registry.toml").write_text(preset_toml("vision/resnet18", "user") + preset_toml("user/only", "mine"))
    assert info("vision/resnet18", env, tmp_path)["description"] == "user"

    (tmp_path / "plughub.toml").write_text(preset_toml("vision/resnet18", "project"))
    assert info("vision/resnet18", env, tmp_path)["description"] == "project"
    assert info("user/only", env, tmp_path)["description"] == "mine"  # layers merge, not replace

    extra = tmp_path / "extra.toml"
    extra.write_text(preset_toml("vision/resnet18", "flag"))
    row = info("vision/resnet18", env, tmp_path, "--registry", extra)
    assert (row["description"], row["source"]) == ("flag", str(extra))


def test_registry_files_order_and_the_shipped_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "registry.toml").write_text("")
    (tmp_path / "plughub.toml").write_text("")
    extra = tmp_path / "x.toml"
    extra.write_text("")
    files = registry_files((str(extra),))
    assert files[0].name == "registry.toml" and files[0].parent.name != "home"
    assert files[1:] == [tmp_path / "home" / "registry.toml", tmp_path / "plughub.toml", extra]
    # hub_core ships the built-in registry (a link in the source tree, a file in a wheel)
    assert (ROOT / "hub_core" / "registry.toml").read_text() == (ROOT / "registry.toml").read_text()
    with pytest.raises(ConfigError, match="no such registry file"):
        registry_files((str(tmp_path / "missing.toml"),))


BAD_REGISTRIES = [
    # file text, expected message after "FILE:"
    ('[presets."a/b"]\nbackbone = "vision/timm"\nconfig = { model_name = "resnet18" \n', "3:36: Unclosed inline table"),
    ('[presets."a/b"]\nbackbone = "vision/timm\n', "2:24: Illegal character"),
    ('[presets."a/b"]\nbackbone = \n', "2:12: Invalid value"),
    ('[presets."a/b"]\nbackbone = "x"\n[presets."a/b"]\n', "3:"),
    ('[presets."a/b"]\nbackbone = "vision/timm"\nconfg = { model_name = "resnet18" }\n',
     "3:1: preset 'a/b': unknown key 'confg' (did you mean 'config'?)"),
    ('[presets."a/b"]\nbackbone = "vision/timm"\nweights = 3\n', "3:1: preset 'a/b': weights must be a string, got 3"),
    ('[presets."a/b"]\nbackbone = "vision/timm"\nconfig = "resnet18"\n', "3:1: preset 'a/b': config must be a table"),
    ('\n[presets."a/b"]\ndescription = "no backbone"\n', "2:11: preset 'a/b' needs backbone"),
    ('[preset."a/b"]\nbackbone = "vision/timm"\n', "1:2: unknown table 'preset' (did you mean 'presets'?)"),
    ('[presets]\n"a/b" = 3\n', "2:2: preset 'a/b' must be a table"),
    ('[plugins.mine]\ninstall = 3\n', "1:10: plugin 'mine' must be a table of strings"),
    ('x = "\xe9"'.encode("latin-1"), "not UTF-8 text"),
    ('[presets."a/b"]\nbackbone = "', "2:13: Unterminated string (at the end of the file)"),
]


@pytest.mark.parametrize("text,message", BAD_REGISTRIES)
def test_a_bad_registry_file_says_where(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        Catalogue().add_presets_file(path)
    assert str(caught.value).startswith(f"{path}:"), str(caught.value)
    assert message in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_registry_through_the_cli_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "plughub.toml").write_text('[presets."a/b"]\nbackbone = "vision/timm"\nconfg = {}\n')
    result = run_hub("list", env=hub_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"hub: error: {tmp_path / 'plughub.toml'}:3:1: preset 'a/b': unknown key 'confg' "
                             "(did you mean 'config'?)\n")
    # --help reads no registry, so it still works and shows how to fix things
    assert run_hub("--help", env=hub_env(tmp_path), cwd=tmp_path).returncode == 0


def test_a_half_bad_registry_changes_nothing(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(preset_toml("good/one", "fine") + '[presets."bad/two"]\nbackbone = 1\n')
    catalogue = Catalogue()
    with pytest.raises(ConfigError, match="r.toml:6:1: preset 'bad/two': backbone must be a string"):
        catalogue.add_presets_file(path)
    assert catalogue.names("preset") == []


@pytest.mark.parametrize("args,message", [
    (("info", "resnt18"), "unknown name 'resnt18': not a preset, backbone, head, task or modality (did you mean 'resnet18', 'vision/resnet18'?)"),
    (("info", "lineer"), "(did you mean 'linear', 'token-linear'?)"),
    (("info", "qqqqqqq"), "unknown name 'qqqqqqq': not a preset, backbone, head, task or modality; see 'hub list'"),
    (("list", "--modality", "imagez"), "unknown modality 'imagez' (did you mean 'image'?)"),
    (("list", "--modality", "qqqq"), "unknown modality 'qqqq'; see 'hub list modalities'"),
    (("list", "backbone"), "'backbone' is not one of 'backbones', 'heads', 'modalities', 'presets', 'tasks'"),
    (("plugins", "uninstall", "hub-nlpx", "-y"), "'hub-nlpx' is not an installed plugin distribution (did you mean 'hub-nlp'"),
])
def test_unknown_names_get_did_you_mean_and_exit_2(tmp_path, args, message):
    result = run_hub(*args, env=hub_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert result.stderr.startswith("hub: error: ") and result.stderr.count("\n") == 1 and result.stdout == ""


@pytest.fixture
def catalogue():
    """A catalogue filled by hand: what plugins would register, and a registry."""
    cat = Catalogue()
    cat.add("modality", ModalitySpec("text", (), "m:read", "m:Pre"), "p")
    cat.add("modality", ModalitySpec("image", (), "m:read", "m:Pre"), "p")
    cat.add("backbone", BackboneSpec("nlp/hf", "text", "m:build", ("pooled", "sequence"), default_config={"width": 8}), "p")
    cat.add("backbone", BackboneSpec("vision/timm", "image", "m:build", ("pooled",), default_config={"model_name": "r"}), "p")
    cat.add("backbone", BackboneSpec("other/timm", "image", "m:build"), "q")
    cat.add("head", HeadSpec("linear", "pooled", "m:Linear"), "core")
    cat.add("head", HeadSpec("token-linear", "sequence", "m:Token"), "core")
    cat.add("task", TaskSpec("classification", "linear", "m:Cls"), "core")
    cat.add("task", TaskSpec("ner", "token-linear", "m:Ner", modalities=("text",)), "p")
    return cat


def test_resolve_model(catalogue, tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[presets."nlp/tiny"]\nbackbone = "nlp/hf"\nconfig = { layers = 2 }\nweights = "w.safetensors"\ntask = "ner"\n')
    catalogue.add_presets_file(path)
    backbone, config, weights, preset = catalogue.resolve_model("nlp/tiny")
    assert (backbone.name, config, weights, preset.task) == ("nlp/hf", {"width": 8, "layers": 2}, "w.safetensors", "ner")
    assert catalogue.resolve_model("tiny").preset.name == "nlp/tiny"  # unambiguous short name
    backbone, config, weights, preset = catalogue.resolve_model("vision/timm:convnext_atto")
    assert (backbone.name, config, weights, preset) == ("vision/timm", {"model_name": "r", "variant": "convnext_atto"}, None, None)
    with pytest.raises(UsageError, match=r"unknown model 'nlp/tny': .*did you mean 'nlp/tiny'"):
        catalogue.resolve_model("nlp/tny")
    with pytest.raises(UsageError, match="backbone 'timm' is ambiguous: other/timm, vision/timm"):
        catalogue.get("backbone", "timm")


def test_task_and_head_compatibility(catalogue):
    vision = catalogue.get("backbone", "vision/timm")
    task, head = catalogue.task_for("classification", vision)
    assert (task.name, head.name) == ("classification", "linear")
    with pytest.raises(UsageError, match="task 'ner' works on text data, not on 'image'"):
        catalogue.task_for("ner", vision)
    with pytest.raises(UsageError, match="head 'token-linear' consumes sequence features but backbone 'vision/timm' yields only pooled"):
        catalogue.check_compatible(vision, catalogue.head("token-linear"))
    with pytest.raises(UsageError, match=r"unknown task 'clasification' \(did you mean 'classification'\?\)"):
        catalogue.task("clasification")


def test_presets_come_with_their_plugin_and_a_users_preset_of_a_missing_one_is_marked(tmp_path):
    env = hub_env(tmp_path, PLUGHUB_PLUGINS="")  # no vision plugin: none of its presets
    (tmp_path / "plughub.toml").write_text(preset_toml("mine/resnet", "mine"))
    rows = json.loads(run_hub("list", "presets", "--json", env=env, cwd=tmp_path).stdout)
    assert [(row["name"], row["plugin"], row["available"]) for row in rows] == [("mine/resnet", "registry", False)]
    table = run_hub("list", "presets", env=env, cwd=tmp_path).stdout
    assert "mine/resnet (plugin missing)" in table


def test_a_plugin_preset_of_an_unregistered_backbone_is_dropped_and_reported(tmp_path):
    hub_catalogue = Catalogue()
    hub_catalogue.add("preset", Preset("fixture/p", "nowhere/backbone"), "fixture")
    record = PluginRecord("fixture", "fixture", registered={"preset": ["fixture/p"]})
    _check_references(hub_catalogue, {"fixture": record})
    assert hub_catalogue.names("preset") == []
    assert record.errors == ["preset 'fixture/p' names backbone 'nowhere/backbone', which no plugin registered; "
                             "not registered"]


def test_read_presets_is_the_registry_format(tmp_path):
    path = tmp_path / "presets.toml"
    path.write_text(preset_toml("mine/a", "one") + preset_toml("mine/b", "two"))
    assert [(p.name, p.config, p.source) for p in read_presets(path)] == [
        ("mine/a", {"model_name": "resnet18"}, str(path)), ("mine/b", {"model_name": "resnet18"}, str(path))]
    path.write_text(preset_toml("mine/a", "one") + '[plugins.x]\ninstall = "y"\n')
    with pytest.raises(ConfigError, match="a plugin's presets file has no \\[plugins\\] table"):
        read_presets(path)
    with pytest.raises(ValueError, match="preset name 'Bad Name'"):
        Preset("Bad Name", "vision/timm")


def test_list_filters_by_kind_and_modality(tmp_path):
    env = hub_env(tmp_path)
    rows = json.loads(run_hub("list", "presets", "--modality", "image", "--json", env=env, cwd=tmp_path).stdout)
    assert rows and {row["modality"] for row in rows} == {"image"} and {row["kind"] for row in rows} == {"preset"}
    rows = json.loads(run_hub("list", "-m", "audio", "--json", env=env, cwd=tmp_path).stdout)
    assert {row["modality"] for row in rows} <= {"audio", "any"} and "speech/wav2vec2" in {row["name"] for row in rows}


def test_did_you_mean():
    assert did_you_mean("clasification", ["classification", "regression"]) == " (did you mean 'classification'?)"
    assert did_you_mean("zzz", ["classification"]) == ""


def test_load_hub_in_process_with_an_extra_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PLUGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    extra = tmp_path / "extra.toml"
    extra.write_text(preset_toml("mine/resnet", "from --registry"))
    hub = load_hub(registries=(str(extra),))
    assert hub.catalogue.find("preset", "mine/resnet").description == "from --registry"
    assert hub.catalogue.plugin_of("modality", "image") == "vision"


def test_hub_json_names_the_plugins_a_model_uses_and_their_versions():
    from hub_core.model.directory import package_versions

    catalogue = load_hub(with_registries=False).catalogue
    uses = [("modality", "image"), ("backbone", "vision/timm"), ("head", "linear"), ("task", "classification")]
    assert catalogue.distributions_of(uses) == ["hub-vision", "plughub"]
    versions = package_versions(["hub-vision"])
    assert {"plughub", "torch", "onnxruntime", "hub-vision", "timm"} <= set(versions)  # timm: hub-vision requires it
    assert not {"hub-nlp", "transformers", "hub-speech"} & set(versions)


def test_a_model_name_is_resolved_once_per_catalogue(monkeypatch):
    """The model name of a command is resolved once; each caller gets its own copy of the config."""
    from hub_core.plugin.catalogue import Catalogue
    from hub_core.plugin.specs import BackboneSpec

    catalogue = Catalogue()
    catalogue.add("backbone", BackboneSpec("tiny/mlp", "vectors", "m:f", ("pooled",), "", {"width": 8}), "p")
    calls = []
    resolve = Catalogue._resolve_model
    monkeypatch.setattr(Catalogue, "_resolve_model", lambda self, name: calls.append(name) or resolve(self, name))
    first = catalogue.resolve_model("tiny/mlp:wide")
    first.config["width"] = 99  # a caller's change stays its own
    again = catalogue.resolve_model("tiny/mlp:wide")
    assert calls == ["tiny/mlp:wide"] and again.config == {"width": 8, "variant": "wide"} and again.spec.name == "tiny/mlp"
