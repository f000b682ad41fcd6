"""Head-only runs on cached backbone features (#19): a second run never runs the backbone, the
features are the backbone's whatever order they were computed in, the epochs run one thread,
and the classification metrics (counted with numpy) are scikit-learn's."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from hub_core.model.build import load_model
from hub_core.model.contracts import ReadOptions
from hub_core.tasks.classification import per_class_scores
from hub_core.train import loop
from hub_core.train.config import TrainConfig
from hub_core.train.data import ExampleSet, read_examples, to_tensors
from tests.tinyplug import build_mlp, make_blobs

ARCH = {"inputs": 8, "width": 64, "depth": 2, "dropout": 0.0}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PLUGHUB_CACHE_LIMIT", raising=False)


@pytest.fixture
def counted(tiny_hub):
    """The tiny backbone, counting the examples its forward sees."""
    seen = {"examples": 0}

    def build(config, weights):
        backbone = build_mlp(config, weights)
        backbone.register_forward_hook(lambda module, args, kwargs, out: seen.update(
            examples=seen["examples"] + len(out["pooled"])), with_kwargs=True)
        return backbone

    spec = tiny_hub.catalogue.entries["backbone"]["tiny/mlp"].spec
    object.__setattr__(spec, "default_config", ARCH)
    object.__setattr__(spec, "factory", build)
    return tiny_hub, seen


def head_only(hub, data, out, **config):
    config = TrainConfig(**{"epochs": 3, "batch_size": 16, "freeze": "backbone", "val_split": 0.2, "preprocess": {},
                            **config})
    return loop.run(hub.catalogue, loop.Job(model="tiny/mlp", task="classification", data=str(data), out=str(out),
                                            quiet=True, read=ReadOptions()), config)


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
    features = loop.FeatureCache(model, data_set, 16, cpu, lambda: torch.autocast("cpu", enabled=False)).features
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
