"""The third-party example (examples/hub-plugin-example): a 'tabular' modality, the
``tabular/mlp`` backbone and the ``cosine`` head. Its parts work on real-shaped data, the
hub loads it through its entry point and fine-tunes it end to end, and (slow) it installs,
appears, freezes and uninstalls through ``hub plugins``, leaving the environment as it was.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hub_core.cli.main import main
from hub_core.model.contracts import ReadOptions
from hub_core.common.errors import DataError
from tests.fixtures.inject import fake_site, hub_env, run_hub

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "hub-plugin-example"
DIST = "hub-plugin-example"


def make_churn(path: Path, n: int = 400, seed: int = 0) -> Path:
    """Customers: two numbers (one sometimes missing), two categories; churn depends on all."""
    rng = np.random.default_rng(seed)
    lines = ["age,income,plan,region,label"]
    for i in range(n):
        plan, region = rng.choice(["basic", "pro", "team"]), rng.choice(["north", "south", "east", "west"])
        age, income = int(rng.integers(18, 80)), rng.normal(50, 15)
        score = 1.5 * (plan == "basic") + 1.0 * (age < 30) - 1.0 * (income > 55) + 0.5 * (region == "east")
        label = "churn" if score + rng.normal(0, 0.3) > 1 else "stay"
        lines.append(f"{age},{'' if i % 13 == 0 else f'{income:.2f}'},{plan},{region},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and the CI machine's 2 cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tabular(monkeypatch):
    """The example's modules, imported from the source tree."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    from hub_tabular import backbone, data, heads, preprocess

    return data, preprocess, backbone, heads


def test_reader_and_preprocessor_on_real_shaped_rows(tabular, tmp_path):
    data, preprocess, _, _ = tabular
    examples = data.read_examples(make_churn(tmp_path / "train.csv"), ReadOptions())
    assert len(examples) == 400 and examples[0].source.endswith("train.csv:2")
    pre = preprocess.TabularPreprocessor({})
    pre.fit(examples)
    assert (pre.config["numeric"], pre.config["categorical"]) == (["age", "income"], ["plan", "region"])
    assert pre.cardinalities == [4, 5]  # 3 plans, 4 regions, + index 0 for missing/unseen
    arrays = pre(examples[1].input)
    assert arrays["numeric"].dtype == np.float32 and arrays["categorical"].dtype == np.int64
    stacked = np.stack([pre(e.input)["numeric"] for e in examples])
    assert np.allclose(stacked.mean(0), 0, atol=0.1) and np.allclose(stacked.std(0), 1, atol=0.1)
    # command-line inputs: a JSON object or values in column order; missing and unseen values
    by_json = pre('{"age": 30, "income": null, "plan": "enterprise", "region": "north"}')
    by_csv = pre("30,,enterprise,north")
    assert np.array_equal(by_json["numeric"], by_csv["numeric"]) and by_json["numeric"][1] == 0
    assert by_json["categorical"][0] == 0 and by_json["categorical"][1] > 0
    # save/load round trip through the model directory's preprocessor/ folder
    pre.save(tmp_path)
    again = preprocess.TabularPreprocessor.load(tmp_path, json.loads(json.dumps(pre.config)))
    assert all(np.array_equal(again(e.input)[k], pre(e.input)[k]) for e in examples[:20] for k in arrays)


def test_bad_tabular_input_gets_a_clear_error(tabular, tmp_path):
    data, preprocess, _, _ = tabular
    path = tmp_path / "bad.csv"
    path.write_text("age,plan,label\n31,pro,stay\nold,basic,churn\n")
    examples = data.read_examples(path, ReadOptions())
    with pytest.raises(DataError, match=r"bad.csv:3: not a number in a numeric column — field 'age' — value 'old'"):
        preprocess.TabularPreprocessor({"numeric": "age"}).fit(examples)
    pre = preprocess.TabularPreprocessor({})
    pre.fit(examples)  # without -p numeric=age, 'age' is a category
    assert pre.config["categorical"] == ["age", "plan"]
    with pytest.raises(ValueError, match=r"expected 2 comma-separated values \(age, plan\), got 3"):
        pre("1,2,3")
    with pytest.raises(ValueError, match="input has no column 'plan'"):
        pre('{"age": 3}')
    path.write_text("age,plan,label\n31,pro,\n")
    with pytest.raises(DataError, match=r"bad.csv:2: empty label — field 'label'"):
        data.read_examples(path, ReadOptions())
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="bad.csv:1: missing column 'label'"):
        data.read_examples(path, ReadOptions())


def test_backbone_and_cosine_head_learn(tabular, tmp_path):
    data, preprocess, backbone_module, heads = tabular
    from hub_core.model.contracts import Batch
    from hub_core.tasks.classification import ClassificationTask

    torch.manual_seed(0)
    examples = data.read_examples(make_churn(tmp_path / "train.csv", n=300), ReadOptions())
    pre = preprocess.TabularPreprocessor({})
    pre.fit(examples)
    backbone = backbone_module.build({"hidden": [32, 32], "dropout": 0.0}, None)
    backbone.fit_to(pre)
    task = ClassificationTask()
    task.fit(examples)
    head = heads.CosineHead(backbone.feature_dim, task.num_outputs)
    batch = {k: torch.as_tensor(v) for k, v in pre.collate([pre(e.input) for e in examples]).items()}
    targets = torch.as_tensor(np.stack([task.encode(e.label, None) for e in examples]))
    optimizer = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=3e-3)
    losses = []
    for _ in range(120):
        loss = task.loss(task.outputs(head(backbone(**batch))), Batch(batch, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    backbone.eval()
    accuracy = (head(backbone(**batch)).argmax(-1) == targets).float().mean().item()
    assert accuracy > 0.85
    assert sum(p.numel() for p in backbone.parameters()) < 300_000  # tiny, as CI asks

    # the saved config rebuilds the same architecture without the data (as `hub` loads a model dir)
    rebuilt = backbone_module.build(json.loads(json.dumps(backbone.hub_config())), None)
    rebuilt.load_state_dict(backbone.state_dict())
    rebuilt.eval()
    synthetic = {k: torch.as_tensor(v) for k, v in pre.synthetic(4, 1.0, np.random.default_rng(0)).items()}
    assert torch.allclose(rebuilt(**synthetic)["pooled"], backbone(**synthetic)["pooled"])
    assert len(backbone.blocks()) == 2 and backbone.lora_targets == ("fc",)


@pytest.fixture
def example_installed_from_source(tmp_path, monkeypatch):
    """The example's entry point, as pip would write it, pointing at the source tree."""
    site = fake_site(tmp_path, {DIST: {"tabular": "hub_tabular.plugin"}})
    return site


def test_the_hub_loads_the_example_through_its_entry_point(tmp_path, example_installed_from_source):
    env = hub_env(tmp_path, example_installed_from_source, EXAMPLE)
    records = {r["name"]: r for r in json.loads(run_hub("plugins", "--json", env=env, cwd=tmp_path).stdout)}
    assert records["tabular"]["errors"] == [] and records["tabular"]["distribution"] == DIST
    assert records["tabular"]["registered"] == {"modality": ["tabular"], "backbone": ["tabular/mlp"], "head": ["cosine"]}
    rows = json.loads(run_hub("list", "--json", env=env, cwd=tmp_path).stdout)
    assert {("modality", "tabular"), ("backbone", "tabular/mlp"), ("head", "cosine")} <= {(r["kind"], r["name"]) for r in rows}
    info = json.loads(run_hub("info", "tabular/mlp", "--json", env=env, cwd=tmp_path).stdout)
    assert info["plugin"] == "tabular" and "classification" in info["compatible"]


def test_finetune_evaluate_predict_end_to_end(tmp_path, monkeypatch, capsys, example_installed_from_source):
    """`hub finetune tabular/mlp --head cosine`, then evaluate and predict, in-process."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(example_installed_from_source))
    monkeypatch.setenv("PLUGHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PLUGHUB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)

    def hub(*args):
        with pytest.raises(SystemExit) as done:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert done.value.code == 0, err
        return out

    train, val, out = make_churn(tmp_path / "train.csv", 400, 0), make_churn(tmp_path / "val.csv", 150, 1), tmp_path / "run"
    hub("finetune", "tabular/mlp", "--task", "classification", "--head", "cosine", "--data", train, "--val", val,
        "--out", out, "--epochs", "15", "--lr", "3e-3", "--batch-size", "32", "--quiet")
    manifest = json.loads((out / "hub.json").read_text())
    assert manifest["backbone"]["name"] == "tabular/mlp" and manifest["head"]["name"] == "cosine"
    assert manifest["backbone"]["config"]["cardinalities"] == [4, 5]
    assert (out / "preprocessor" / "vocabularies.json").is_file()
    assert manifest["metrics"]["accuracy"] >= 0.85, manifest["metrics"]
    evaluated = json.loads(hub("evaluate", out, "--data", val, "--json"))
    assert evaluated["accuracy"] == pytest.approx(manifest["metrics"]["accuracy"], abs=1e-6)
    answers = json.loads(hub("predict", out, '{"age": 22, "income": 30, "plan": "basic", "region": "east"}',
                             "70,80,team,west", "--json"))
    assert [a["answer"]["label"] for a in answers] == ["churn", "stay"]


@pytest.mark.slow
def test_install_appear_freeze_uninstall_leaves_the_environment_as_it_was(tmp_path):
    """The real thing: `hub plugins install examples/hub-plugin-example` runs pip in the hub's
    interpreter; the plugin appears; `hub plugins freeze` reinstalls it; uninstall restores
    `pip freeze` exactly."""
    env = hub_env(tmp_path)

    def pip_freeze():
        return subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True,
                              check=True).stdout

    def appears():
        records = {r["name"]: r for r in json.loads(run_hub("plugins", "--json", env=env, cwd=tmp_path).stdout)}
        rows = json.loads(run_hub("list", "--json", env=env, cwd=tmp_path).stdout)
        if "tabular" not in records:
            return False
        assert records["tabular"]["errors"] == [] and records["tabular"]["version"] == "0.1.0"
        assert {("backbone", "tabular/mlp"), ("head", "cosine")} <= {(r["kind"], r["name"]) for r in rows}
        return True

    before = pip_freeze()
    assert DIST not in before, "the example plugin is already installed; uninstall it first"
    leftovers = [EXAMPLE / "build", EXAMPLE / "hub_plugin_example.egg-info"]  # what an in-tree build writes
    leftovers = [path for path in leftovers if not path.exists()]
    try:
        installed = run_hub("plugins", "install", EXAMPLE.relative_to(ROOT), env=env, cwd=ROOT)
        assert installed.returncode == 0, installed.stderr[-3000:]
        assert appears()
        frozen = run_hub("plugins", "freeze", env=env, cwd=tmp_path).stdout.splitlines()
        assert str(EXAMPLE) in frozen  # a local, non-editable install: its path

        removed = run_hub("plugins", "uninstall", DIST, "-y", env=env, cwd=tmp_path)
        assert removed.returncode == 0, removed.stderr[-3000:]
        assert not appears()
        assert pip_freeze() == before

        # the freeze output reinstalls it (only the example's line: the rest is installed already)
        requirements = tmp_path / "plugins.txt"
        requirements.write_text("\n".join(line for line in frozen if line == str(EXAMPLE)) + "\n")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", requirements], check=True)
        assert appears()
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", DIST], capture_output=True)
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
    assert pip_freeze() == before
