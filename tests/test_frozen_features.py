"""Head-only runs on cached backbone features (#19): a second run never runs, nor builds, the
backbone (a snapshot of it stands in), the features are the backbone's whatever order they were computed in, the epochs run one thread,
and the classification metrics (counted with numpy) are scikit-learn's."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from hub_core.model.build import load_model
from hub_core.model.contracts import ReadOptions
from hub_core.tasks.classification import per_class_scores
from hub_core.data import passes
from hub_core.train import loop
from hub_core.train.config import TrainConfig
from hub_core.data.sets import ExampleSet, read_examples, to_tensors
from tests.tinyplug import build_mlp, make_blobs

ARCH = {"inputs": 8, "width": 64, "depth": 2, "dropout": 0.0}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PLUGHUB_CACHE_LIMIT", raising=False)


@pytest.fixture
def counted(tiny_hub):
    """The tiny backbone, counting the examples its forward sees."""
    seen = {"examples": 0, "builds": 0}

    def build(config, weights):
        seen["builds"] += 1
        backbone = build_mlp(config, weights)
        backbone.register_forward_hook(lambda module, args, kwargs, out: seen.update(
            examples=seen["examples"] + len(out["pooled"])), with_kwargs=True)
        return backbone

    spec = tiny_hub.catalogue.entries["backbone"]["tiny/mlp"].spec
    object.__setattr__(spec, "default_config", ARCH)
    object.__setattr__(spec, "factory", build)
    return tiny_hub, seen


def head_only(hub, data, out, weights=None, **config):
    config = TrainConfig(**{"epochs": 3, "batch_size": 16, "freeze": "backbone", "val_split": 0.2, "preprocess": {},
                            **config})
    return loop.run(hub.catalogue, loop.Job(model="tiny/mlp", task="classification", data=str(data), out=str(out),
                                            quiet=True, read=ReadOptions(), weights=weights), config)


def pretrained(path):
    """A weights file for the tiny backbone, as a weights package would ship it."""
    from safetensors.torch import save_file

    torch.manual_seed(5)
    save_file(build_mlp(ARCH, None).state_dict(), str(path))
    return str(path)


def test_a_second_run_builds_no_backbone_and_writes_the_same_model_directory(counted, tmp_path, hub_cli):
    from hub_core.common import diskcache

    hub, seen = counted
    data, weights = make_blobs(tmp_path / "train.csv", n=200, seed=0), pretrained(tmp_path / "w.safetensors")
    first = head_only(hub, data, tmp_path / "a", weights)
    assert seen["builds"] == 1 and "backbone" in {e["kind"] for e in diskcache.entries()}
    seen.update(builds=0, examples=0)
    second = head_only(hub, data, tmp_path / "b", weights)
    assert seen == {"builds": 0, "examples": 0} and first == second
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    hub_json = [json.loads((tmp_path / d / "hub.json").read_text()) for d in "ab"]
    assert hub_json[0] == hub_json[1]
    source = load_file(weights)
    saved = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(np.array_equal(saved[f"backbone.{k}"], v) for k, v in source.items())
    code, _, stderr = hub_cli("export", tmp_path / "b")  # the directory rebuilds and validates as any other
    assert code == 0, stderr


def test_a_recorded_backbone_gives_way_to_the_real_one_and_the_run_is_the_same(counted, tmp_path, monkeypatch):
    hub, seen = counted
    weights = pretrained(tmp_path / "w.safetensors")
    one, other = make_blobs(tmp_path / "one.csv", n=200, seed=0), make_blobs(tmp_path / "two.csv", n=150, seed=3)
    head_only(hub, one, tmp_path / "a", weights)
    runs = {"b": (one, {"precision": "bf16"}),  # bf16 features are not in the cache: the backbone must run
            "c": (other, {})}  # a preprocessor fitted on other data: the model is made again, with the backbone
    for out, (data, options) in runs.items():
        seen.update(builds=0, examples=0)
        head_only(hub, data, tmp_path / out, weights, head="mlp", **options)
        assert seen == {"builds": 1, "examples": len(data.read_text().splitlines()) - 1}
    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "fresh"))  # the same runs without any record
    for out, (data, options) in runs.items():
        head_only(hub, data, tmp_path / f"{out}-fresh", weights, head="mlp", **options)
        mine, fresh = (load_file(str(tmp_path / d / "model.safetensors")) for d in (out, f"{out}-fresh"))
        assert [k for k in fresh if not np.array_equal(mine[k], fresh[k])] == []  # dropout drew the same numbers
    seen.update(builds=0)
    head_only(hub, other, tmp_path / "d", weights, cache_features=False, epochs=1)  # not cached: built, run
    assert seen["builds"] == 1


def test_snapshot_keeps_names_order_and_ties(tmp_path, monkeypatch):
    from torch import nn

    from hub_core.common import diskcache
    from hub_core.model import snapshot

    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))

    class Tied(nn.Module):
        feature_dim = 4

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 4)
            self.norm = nn.BatchNorm1d(4)
            self.scale = nn.Parameter(torch.ones(4))  # registered after the children: state order is not tree order
            self.out = nn.Linear(4, 5, bias=False)
            self.out.weight = self.embed.weight

        hub_config = preprocessor_config = lambda self: {}  # noqa: E731
        input_specs = lambda self, modality: ()  # noqa: E731
        registered_parts = lambda self: []  # noqa: E731

    real = Tied()
    snapshot.record("k" * 40, real, None, "p", "d")
    copy = snapshot.find("k" * 40, Tied)
    assert list(copy.state_dict()) == list(real.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(copy.state_dict().values(), real.state_dict().values()))
    assert copy.out.weight is copy.embed.weight and not any(p.requires_grad for p in copy.parameters())
    assert "norm.running_mean" in dict(copy.named_buffers()) and diskcache.lookup("k" * 40) is not None


def test_a_second_head_only_run_never_runs_the_backbone_and_writes_the_same_model(counted, tmp_path):
    hub, seen = counted
    data = make_blobs(tmp_path / "train.csv", n=200, seed=0)
    first = head_only(hub, data, tmp_path / "a")
    assert seen["examples"] == 200  # the train and validation features, once each
    seen["examples"] = 0
    second = head_only(hub, data, tmp_path / "b")
    assert seen["examples"] == 0 and first == second
    a, b = (load_file(str(tmp_path / d / "model.safetensors")) for d in "ab")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_with_the_disk_cache_off_the_features_are_still_computed_once_a_run(counted, tmp_path, monkeypatch):
    hub, seen = counted
    monkeypatch.setenv("PLUGHUB_CACHE_LIMIT", "0")
    data = make_blobs(tmp_path / "train.csv", n=200, seed=0)
    for out in "ab":
        head_only(hub, data, tmp_path / out)
    assert seen["examples"] == 400 and not (tmp_path / "cache").exists()  # each run: its 160 + 40 examples once


def test_features_from_length_sorted_batches_keep_each_examples_place(counted, tmp_path, monkeypatch):
    hub, _ = counted
    data = make_blobs(tmp_path / "train.csv", n=120, seed=1)
    head_only(hub, data, tmp_path / "plain", cache_features=False, epochs=1)  # the model the features come from
    model = load_model(hub.catalogue, tmp_path / "plain")
    examples = read_examples(hub.catalogue.modality("vectors"), str(data), ReadOptions())
    data_set = ExampleSet(examples, model.preprocessor, model.task, train=False)
    monkeypatch.setattr(ExampleSet, "lengths", lambda self: [(7 * i) % 11 for i in range(len(self))])
    cpu = torch.device("cpu")
    features = passes.FeatureCache(model, data_set, 16, cpu, lambda: torch.autocast("cpu", enabled=False)).features
    with torch.no_grad():
        one_by_one = torch.cat([model.backbone(**to_tensors(data_set.collate([i])[0], cpu))["pooled"]
                                for i in range(len(data_set))])
    torch.testing.assert_close(torch.from_numpy(features), one_by_one, rtol=1e-5, atol=1e-6)


def test_epochs_on_cached_features_run_one_thread_and_give_the_threads_back(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    head = torch.nn.Linear(384, 6)
    run = SimpleNamespace(cached=True, device=torch.device("cpu"), model=SimpleNamespace(head=head),
                          config=SimpleNamespace(batch_size=16))
    with loop.head_threads(run):
        assert calls == [1]
    assert calls == [1, 2]
    calls.clear()
    run.cached = False  # the backbone runs: its ops are worth splitting
    with loop.head_threads(run):
        pass
    assert calls == []


def test_per_class_scores_are_scikit_learns():
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    for _ in range(50):
        k, n = int(rng.integers(2, 7)), int(rng.integers(1, 30))
        truth, predicted = rng.integers(0, k, n), rng.integers(0, k, n)
        ours = per_class_scores(truth, predicted, k)
        theirs = precision_recall_fscore_support(truth, predicted, labels=list(range(k)), zero_division=0)
        assert all(np.allclose(a, b) for a, b in zip(ours, theirs))
        assert np.isclose(ours[2].mean(), f1_score(truth, predicted, labels=list(range(k)), average="macro",
                                                   zero_division=0))
