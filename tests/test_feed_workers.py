"""Data workers only where they pay: none when the batches come from the disk cache and nothing
is augmented; the machine's share when there is preprocessing to do; --workers wins; the run
says which it chose (issue 39)."""
from types import SimpleNamespace

from hub_core.data import loader, passes
from hub_core.data.loader import default_workers, feed_workers
from tests.tinyplug import make_blobs


def test_the_choice_follows_the_work():
    cached = SimpleNamespace(store=object(), augments=False)
    assert feed_workers(cached, None) == (0, "batches from the disk cache, nothing augmented: no worker processes")
    augmented = SimpleNamespace(store=None, augments=True)
    workers, why = feed_workers(augmented, None)
    assert workers == default_workers() and why.startswith("augmented afresh each epoch")
    assert feed_workers(SimpleNamespace(store=None, augments=False), None)[1].startswith("preprocessed on access")
    assert feed_workers(cached, 2) == (2, "2 worker processes (--workers)")


def test_a_cached_run_starts_no_workers_and_says_so(hub_cli, tmp_path, monkeypatch):
    started = []

    class Spy(loader.Loader):
        def __init__(self, data, workers, **options):
            started.append(workers)
            super().__init__(data, workers, **options)

    monkeypatch.setattr(passes, "Loader", Spy)
    data = make_blobs(tmp_path / "train.csv", n=120, seed=0)
    code, _, err = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", tmp_path / "m",
                           "--epochs", "1")
    assert code == 0, err
    assert "data: batches from the disk cache, nothing augmented: no worker processes" in err
    assert started and set(started) == {0}  # the training and validation feeds
    started.clear()
    code, _, err = hub_cli("finetune", "tiny/mlp", "-t", "classification", "-d", data, "-o", tmp_path / "w",
                           "--epochs", "1", "--workers", "1")
    assert code == 0 and "data: 1 worker process (--workers)" in err, err
    assert 1 in started
