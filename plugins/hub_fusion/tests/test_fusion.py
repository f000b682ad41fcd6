"""Fusion: one model over backbones of several plugins (hub_fusion.backbone, hub_fusion.modality).

Most tests fuse two parts of the tiny 'vectors' plugin, on a task whose label is the XOR of
one sign in each part, so that neither part alone can beat chance; the slow ones fuse the
real text and image plugins, and the example plugin's third-party tabular backbone.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hub_core.api import DataError, Example, ReadOptions, UsageError
from tests.tinyplug import make_xor

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_PLUGIN = ROOT / "examples" / "hub-plugin-example"


def part_csv(jsonl: Path, part: str) -> Path:
    """One part's vectors as the tiny plugin's own CSV (x0..x7, label): a single-modality data set."""
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    out = jsonl.with_name(f"{jsonl.stem}_{part}.csv")
    out.write_text("x0,x1,x2,x3,x4,x5,x6,x7,label\n" + "".join(",".join(map(str, r[part])) + f",{r['label']}\n"
                                                            for r in rows))
    return out


@pytest.fixture
def xor(tmp_path):
    return make_xor(tmp_path / "train.jsonl", 600, 0), make_xor(tmp_path / "val.jsonl", 200, 1)


def finetune(hub_cli, out, *args):
    code, _, stderr = hub_cli("finetune", *args, "--task", "classification", "--out", out, "--quiet")
    assert code == 0, stderr
    return json.loads((out / "hub.json").read_text())


def fuse(hub_cli, out, train, val, *extra):
    return finetune(hub_cli, out, "fusion", "--model", "a=tiny/mlp", "--model", "b=tiny/mlp", "--data", train,
                    "--val", val, "--epochs", "10", "--lr", "3e-3", *extra)


def answers(hub_cli, model_dir, *args):
    code, stdout, stderr = hub_cli("predict", model_dir, *args, "--json")
    assert code == 0, stderr
    return [row["answer"] for row in json.loads(stdout)]


# ----------------------------------------------------------------------------- learning
def test_fusion_beats_each_part_alone_on_a_task_neither_solves(hub_cli, xor, tmp_path):
    train, val = xor
    alone = {part: finetune(hub_cli, tmp_path / f"only-{part}", "tiny/mlp", "--data", part_csv(train, part), "--val",
                            part_csv(val, part), "--epochs", "10", "--lr", "3e-3")["metrics"]["accuracy"]
             for part in "ab"}
    fused = {kind: fuse(hub_cli, tmp_path / kind, train, val, "--backbone-option", f"fusion={kind}")["metrics"]["accuracy"]
             for kind in ("concat", "gated", "attention")}
    assert max(alone.values()) < 0.65, alone  # chance is 0.5
    assert min(fused.values()) >= 0.85, fused


def test_a_fused_model_round_trips_through_evaluate_export_and_onnx_predict(hub_cli, xor, tmp_path):
    train, val = xor
    out = tmp_path / "fused"
    manifest = fuse(hub_cli, out, train, val, "--backbone-option", "fusion=attention", "--backbone-option", "width=32")
    assert manifest["modality"] == "multimodal" and manifest["backbone"]["name"] == "fusion"
    config = manifest["backbone"]["config"]
    assert config["fusion"] == "attention" and config["missing"] == "absent"
    assert config["parts"]["a"]["backbone"] == "tiny/mlp" and config["parts"]["b"]["config"]["width"] == 32
    assert [i["name"] for i in manifest["inputs"]] == ["a.x", "present.a", "b.x", "present.b"]
    assert manifest["preprocessor"]["config"]["parts"]["a"]["modality"] == "vectors"

    code, stdout, stderr = hub_cli("evaluate", out, "--data", val, "--json")
    assert code == 0, stderr
    assert json.loads(stdout)["accuracy"] == pytest.approx(manifest["metrics"]["accuracy"], abs=1e-9)

    code, _, stderr = hub_cli("export", out)
    assert code == 0, stderr
    report = json.loads((out / "export.json").read_text())
    assert report["status"] == "ok" and all(case["ok"] for case in report["validation"]["cases"])
    assert [i["name"] for i in report["inputs"]] == ["a.x", "present.a", "b.x", "present.b"]
    import onnx

    graph = onnx.load(str(out / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["a.x", "present.a", "b.x", "present.b"]
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"

    rows = ['{"a": [1, 0, 0, 0, 0, 0, 0, 0], "b": [-1, 0, 0, 0, 0, 0, 0, 0]}',
            '{"a": [1, 0, 0, 0, 0, 0, 0, 0], "b": [1, 0, 0, 0, 0, 0, 0, 0]}', '{"a": [1, 0, 0, 0, 0, 0, 0, 0]}']
    eager, onnx_answers = answers(hub_cli, out, *rows), answers(hub_cli, out, *rows, "--onnx")
    assert [a["label"] for a in eager[:2]] == ["yes", "no"]
    assert [a["label"] for a in onnx_answers] == [a["label"] for a in eager]
    assert np.allclose([a["score"] for a in onnx_answers], [a["score"] for a in eager], atol=1e-5)
    table = answers(hub_cli, out, val, "--onnx")  # a file of rows, read by the multimodal reader
    assert len(table) == 200

    # the runtime feeds every input with onnxruntime and numpy alone: torch cannot even be imported
    script = ("import sys; sys.modules['torch'] = None; sys.path.insert(0, sys.argv[1]);"
              "from hub_core.plugin import manager as plugins; plugins.BUILTINS['tiny'] = 'tests.tinyplug';"
              "from hub_core.cli.main import main; main(sys.argv[2:])")
    done = subprocess.run([sys.executable, "-c", script, str(ROOT), "predict", str(out), rows[0], "--onnx", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["answer"]["label"] == eager[0]["label"]

    # a fused model directory is a starting point too; preprocessor options apply on top of the saved ones
    again = finetune(hub_cli, tmp_path / "again", out, "--data", train, "--val", val, "--epochs", "1",
                     "-p", "part_dropout=0.2")
    assert again["preprocessor"]["config"]["part_dropout"] == 0.2 and again["metrics"]["accuracy"] >= 0.8


# ----------------------------------------------------------------------------- missing values
def test_missing_parts_use_the_learned_absent_embedding(hub_cli, tmp_path):
    train = make_xor(tmp_path / "train.jsonl", 800, 0, missing_b=0.3)
    val = make_xor(tmp_path / "val.jsonl", 300, 1, missing_b=0.3)
    out = tmp_path / "fused"
    fuse(hub_cli, out, train, val, "--epochs", "12")
    rows = [json.loads(line) for line in val.read_text().splitlines()]
    got = answers(hub_cli, out, val)
    for has_b in (True, False):
        picked = [(a["label"], r["label"]) for a, r in zip(got, rows) if (r["b"] is not None) == has_b]
        accuracy = np.mean([p == t for p, t in picked])
        assert accuracy >= 0.85, (has_b, accuracy)  # without b, the label follows a alone: the model knows b is absent


def test_missing_value_policy_error_and_rows_without_any_part(hub_cli, tmp_path):
    train = make_xor(tmp_path / "train.jsonl", 100, 0, missing_b=0.2)
    code, _, stderr = hub_cli("finetune", "fusion", "--model", "a=tiny/mlp", "--model", "b=tiny/mlp",
                              "--backbone-option", "missing=error", "--task", "classification", "--data", train,
                              "--out", tmp_path / "run", "--quiet")
    assert code == 1 and "no value for part 'b'" in stderr and "train.jsonl:" in stderr, stderr
    assert not (tmp_path / "run").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text(train.read_text() + json.dumps({"a": None, "b": "", "label": "yes"}) + "\n")
    code, _, stderr = hub_cli("finetune", "fusion", "--model", "a=tiny/mlp", "--model", "b=tiny/mlp", "--task",
                              "classification", "--data", empty, "--out", tmp_path / "run", "--quiet")
    assert code == 1 and "empty.jsonl:101" in stderr and "no value in any input column" in stderr, stderr


def test_part_dropout_hides_parts_but_never_all(tiny_hub):
    from hub_fusion.modality import FusionPreprocessor

    parts = {name: {"modality": "vectors", "config": {}} for name in "ab"}
    pre = FusionPreprocessor({"parts": parts, "part_dropout": 0.5}, tiny_hub.catalogue)
    pre.fit([Example({"a": [float(i)] * 8, "b": [1.0] * 8}, "x") for i in range(4)])
    assert pre.augments
    rng = np.random.default_rng(0)
    flags = [pre({"a": [0.0] * 8, "b": [0.0] * 8}, train=True, rng=rng) for _ in range(200)]
    seen = {(bool(f["present.a"]), bool(f["present.b"])) for f in flags}
    assert seen == {(True, True), (True, False), (False, True)}
    evaluation = pre({"a": [0.0] * 8, "b": [0.0] * 8}, train=False, rng=rng)
    assert evaluation["present.a"] and evaluation["present.b"]
    batch = pre.collate([evaluation, pre({"a": [1.0] * 8})])
    assert batch["a.x"].shape == (2, 8) and batch["present.b"].tolist() == [True, False]


# ----------------------------------------------------------------------------- training options
def test_per_part_freeze_lora_and_learning_rates(hub_cli, xor, tmp_path):
    train, val = xor
    out = tmp_path / "fused"
    fuse(hub_cli, out, train, val, "--epochs", "2", "--backbone-option", "a.freeze=backbone",
         "--backbone-option", "b.lora=4", "--backbone-option", "b.lr=0.01", "--seed", "5")
    saved = load_file(str(out / "model.safetensors"))
    assert not any("lora" in key for key in saved)  # merged at save
    from hub_core.plugin import manager as plugins
    from hub_fusion.backbone import build

    catalogue = plugins.load_hub().catalogue
    torch.manual_seed(5)  # the engine seeds before it builds: the same initial weights
    initial = build({"parts": {"a": "tiny/mlp", "b": "tiny/mlp"}}, catalogue=catalogue).state_dict()
    for key, value in initial.items():
        if key.startswith("parts.a."):
            assert torch.equal(saved[f"backbone.{key}"], value), key  # frozen
    # LoRA adapted b's "fc" layers (merged into their weights) and left the rest of b as it was
    assert not torch.equal(saved["backbone.parts.b.layers.0.fc.weight"], initial["parts.b.layers.0.fc.weight"])
    assert torch.equal(saved["backbone.parts.b.stem.weight"], initial["parts.b.stem.weight"])
    assert not torch.equal(saved["backbone.project.a.0.weight"], initial["project.a.0.weight"])  # fusion layers train
    config = json.loads((out / "hub.json").read_text())["backbone"]["config"]["parts"]
    assert config["a"]["freeze"] == "backbone" and config["b"]["lora"] == 4 and config["b"]["lr"] == 0.01


def test_a_preset_and_a_config_file_describe_a_fusion(hub_cli, xor, tmp_path):
    train, val = xor
    registry = tmp_path / "registry.toml"
    registry.write_text('[presets."shop/pair"]\nbackbone = "fusion"\n'
                        'config = { fusion = "attention", width = 16, parts = { a = "tiny/mlp", '
                        'b = { model = "tiny/mlp", freeze = "backbone", config = { width = 16 } } } }\n')
    config = tmp_path / "train.toml"
    config.write_text("[train]\nepochs = 1\nbackbone_options = { fusion = \"gated\" }\n")
    code, _, stderr = hub_cli("--registry", registry, "finetune", "shop/pair", "--config", config, "--task",
                              "classification", "--data", train, "--val", val, "--out", tmp_path / "run", "--quiet")
    assert code == 0, stderr
    saved = json.loads((tmp_path / "run" / "hub.json").read_text())["backbone"]["config"]
    assert saved["fusion"] == "gated" and saved["width"] == 16  # the config file's key over the preset's
    assert saved["parts"]["b"] == {"backbone": "tiny/mlp", "config": {"inputs": 8, "width": 16, "depth": 2,
                                                                      "dropout": 0.1}, "freeze": "backbone"}


def test_prepare_training_and_param_groups(tiny_hub):
    from hub_fusion.backbone import build

    backbone = build({"parts": {"a": {"model": "tiny/mlp", "lr": 1e-4, "freeze": "backbone"}, "b": "tiny/mlp"},
                      "fusion": "gated"}, catalogue=tiny_hub.catalogue)
    done = backbone.prepare_training("last-1", 0, None)
    assert done == ["a: backbone", "b: backbone except its last 1 of 2 blocks"]
    assert not any(p.requires_grad for p in backbone.parts["a"].parameters())
    assert backbone.parts["b"].layers[1].fc.weight.requires_grad and not backbone.parts["b"].stem.weight.requires_grad
    backbone.train()
    assert not backbone.parts["a"].training and backbone.parts["b"].training  # frozen parts keep eval mode
    groups = backbone.param_groups(1e-3)
    assert [g["lr"] for g in groups] == [1e-3, 1e-4, 1e-3]
    assert sum(len(g["params"]) for g in groups) == len(list(backbone.parameters()))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("args,message", [
    (["fusion", "--backbone-option", "fusion=sum"], "must be one of concat, gated, attention"),
    (["fusion", "--backbone-option", "c.lr=1"], "names part 'c'"),
    (["fusion", "--backbone-option", "widht=3"], "did you mean 'width'"),
    (["fusion", "--backbone-option", "a.freeze=sometimes"], "a.freeze"),
    (["fusion", "--model", "a=tiny/mpl"], "did you mean"),
    (["fusion", "--config", "parts.toml"], "no setting 'frezee' (did you mean 'freeze'?)"),
    (["fusion", "--model", "A=tiny/mlp"], "part name 'A'"),
    (["tiny/mlp", "--model", "a=tiny/mlp"], "parts of a new fusion model"),
    (["fusion", "-p", "c.max_length=3"], "names part 'c'"),
    (["fusion", "-p", "max_length=3"], "not an option of any part"),
    (["fusion", "--input-column", "a=x", "--input-column", "b=b"], "no column 'x'"),
    (["fusion", "--weights", "w.safetensors"], "--weights does not apply"),
])
def test_bad_fusion_input_is_one_clear_line(hub_cli, xor, tmp_path, monkeypatch, args, message):
    train, _ = xor
    (tmp_path / "parts.toml").write_text("[train]\nbackbone_options = { parts = { a = 'tiny/mlp', "
                                         "b = { model = 'tiny/mlp', frezee = 'backbone' } } }\n")
    monkeypatch.chdir(tmp_path)
    argv = list(args)
    if argv[0] == "fusion" and not any(a.startswith("a=tiny") or a.endswith(".toml") for a in argv):
        argv += ["--model", "a=tiny/mlp", "--model", "b=tiny/mlp"]
    code, _, stderr = hub_cli("finetune", *argv, "--task", "classification", "--data", train,
                              "--out", tmp_path / "run", "--quiet")
    assert code != 0 and message in stderr, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_reader_columns_paths_and_bad_rows(tmp_path):
    from hub_fusion.modality import read_examples

    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "one.png").write_bytes(b"not read here")
    table = tmp_path / "rows.csv"
    table.write_text("caption,photo,label\na red kite,pics/one.png,yes\n,pics/one.png,no\nno picture,,yes\n")
    examples = read_examples(table, ReadOptions(input_columns=("text=caption", "image=photo")))
    assert examples[0].input == {"text": "a red kite", "image": str(tmp_path / "pics" / "one.png")}
    assert examples[1].input["text"] == "" and examples[2].input["image"] == ""
    assert examples[0].source == f"{table}:2"
    plain = read_examples(table, ReadOptions())  # no mapping: each column by its own name
    assert set(plain[0].input) == {"caption", "photo"}
    (tmp_path / "root").mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text(f"caption,photo,label\na kite,{tmp_path / 'pics' / 'one.png'},yes\n")
    with pytest.raises(DataError, match="escapes --data-root"):
        read_examples(outside, ReadOptions(data_root=str(tmp_path / "root")))
    table.write_text("caption,photo,label\n,,yes\n")
    with pytest.raises(DataError, match=r"rows.csv:2: no value in any input column"):
        read_examples(table, ReadOptions())
    with pytest.raises(UsageError, match="part name"):
        read_examples(table, ReadOptions(input_columns=("Text=caption",)))


# ----------------------------------------------------------------------------- real plugins
def make_caption_rows(folder: Path, n: int) -> Path:
    """Captions naming a colour and pictures of a colour (examples/fusion's generator)."""
    subprocess.run([sys.executable, str(ROOT / "examples" / "fusion" / "generate.py"), str(folder), "--train", str(n),
                    "--val", "16", "--test", "16", "--size", "32"], check=True, capture_output=True)
    return folder


@pytest.mark.slow
def test_text_and_image_plugins_fuse_and_export(hub_cli, tmp_path):
    data = make_caption_rows(tmp_path / "data", 48)
    out = tmp_path / "fused"
    finetune(hub_cli, out, "fusion", "--model", "text=nlp/bert-tiny", "--model", "image=vision/timm:test_resnet",
             "--backbone-option", "image.image_size=32", "--backbone-option", "text.num_hidden_layers=1",
             "--backbone-option", "text.lr=1e-3", "-p", "image.augment=false", "--max-length", "16",
             "--input-column", "text=caption", "--input-column", "image=image", "--data", data / "train.csv",
             "--val", data / "val.csv", "--epochs", "1", "--batch-size", "16")
    manifest = json.loads((out / "hub.json").read_text())
    assert manifest["plugins"] == ["hub-fusion", "hub-nlp", "hub-vision", "plughub"]  # the parts' plugins too
    assert {"hub-nlp", "transformers", "hub-vision", "timm", "torch"} <= set(manifest["versions"])
    inputs = {i["name"]: i for i in manifest["inputs"]}
    assert inputs["text.input_ids"]["axes"] == ["batch", "text.sequence"]
    assert inputs["image.pixel_values"]["axes"] == ["batch", 3, "image.height", "image.width"]
    assert manifest["preprocessor"]["config"]["parts"]["text"]["config"]["max_length"] == 16  # --max-length reached text
    assert (out / "preprocessor" / "text" / "tokenizer.json").is_file()
    code, _, stderr = hub_cli("export", out)
    assert code == 0, stderr
    assert json.loads((out / "export.json").read_text())["status"] == "ok"
    row = json.dumps({"text": "a red thing", "image": str(data / "images" / "test_0000.png")})
    missing_text = json.dumps({"image": str(data / "images" / "test_0000.png")})
    eager, onnx_answers = answers(hub_cli, out, row, missing_text), answers(hub_cli, out, row, missing_text, "--onnx")
    assert [a["label"] for a in onnx_answers] == [a["label"] for a in eager]
    assert np.allclose([a["score"] for a in onnx_answers], [a["score"] for a in eager], atol=1e-4)
    code, stdout, stderr = hub_cli("evaluate", out, "--data", data / "test_missing.csv", "--json")
    assert code == 0 and "accuracy" in json.loads(stdout), stderr


@pytest.fixture
def with_tabular(monkeypatch):
    """The third-party example plugin (examples/hub-plugin-example), loaded as if installed."""
    from hub_core.plugin import manager as plugins

    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    monkeypatch.setattr(plugins, "BUILTINS", {**plugins.BUILTINS, "tiny": "tests.tinyplug",
                                              "tabular": "hub_tabular.plugin"})


@pytest.mark.slow
def test_a_third_party_backbone_takes_part_in_a_fusion(with_tabular, hub_cli, tmp_path):
    """tabular/mlp (examples/hub-plugin-example) + tiny/mlp: the label needs the plan column and a vector."""
    rng = np.random.default_rng(0)
    for name, n in (("train", 500), ("val", 150)):
        with (tmp_path / f"{name}.jsonl").open("w") as handle:
            for _ in range(n):
                plan, vector = str(rng.choice(["basic", "pro"])), rng.normal(size=8).round(4)
                row = {"customer": {"plan": plan, "age": int(rng.integers(18, 80))}, "usage": vector.tolist(),
                       "label": "yes" if (plan == "pro") != (vector[0] > 0) else "no"}
                handle.write(json.dumps(row) + "\n")
    out = tmp_path / "fused"
    manifest = finetune(hub_cli, out, "fusion", "--model", "customer=tabular/mlp", "--model", "usage=tiny/mlp",
                        "--data", tmp_path / "train.jsonl", "--val", tmp_path / "val.jsonl", "--epochs", "10",
                        "--lr", "3e-3")
    assert manifest["metrics"]["accuracy"] >= 0.85
    assert manifest["backbone"]["config"]["parts"]["customer"]["config"]["cardinalities"]  # sized by fit_to
    code, _, stderr = hub_cli("export", out)
    assert code == 0, stderr
    row = json.dumps({"customer": {"plan": "pro", "age": 40}, "usage": [1.0] + [0.0] * 7})
    assert answers(hub_cli, out, row, "--onnx")[0]["label"] == answers(hub_cli, out, row)[0]["label"] == "no"


def test_hub_list_shows_fusion_without_importing_torch():
    script = ("import sys\nfrom hub_core.cli.main import main\ntry:\n    main(['list', 'backbones', '--json'])\n"
              "except SystemExit:\n    pass\nsys.stderr.write('torch imported' if 'torch' in sys.modules else 'no torch')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PLUGHUB_PLUGINS": "hub-fusion"})
    assert '"fusion"' in done.stdout and done.stderr.endswith("no torch"), done.stderr
