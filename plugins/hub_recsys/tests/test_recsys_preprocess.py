"""The interactions preprocessor: vocabularies with OOV, negatives, side features, save/load."""
import numpy as np
import pytest

from hub_core.model.contracts import Example, ReadOptions
from hub_core.common.errors import DataError, UsageError
from hub_recsys.data import read_examples
from hub_recsys.preprocess import InteractionPreprocessor
from hub_recsys.vocab import History, sample_unseen


@pytest.fixture
def log(table):
    rows = "\n".join(f"u{u},i{i}" for u in range(5) for i in range(8) if (u + i) % 3)
    return read_examples(table("log.csv", "user,item\n" + rows + "\n"), ReadOptions())


def test_vocabularies_map_unknown_ids_to_the_oov_bucket(log):
    pre = InteractionPreprocessor({})
    pre.fit(log)
    assert len(pre.users) == 6 and len(pre.items) == 9  # + the OOV row
    known = pre({"user": "u1", "item": "i3"})
    assert known["user"].dtype == np.int64 and known["user"].shape == () and int(known["user"]) > 0
    assert pre("nobody i3")["user"] == 0 and pre("u1,nothing")["item"] == 0
    assert set(pre.popularity[1:]) and pre.popularity[0] == 0
    same = InteractionPreprocessor({})
    same.fit([Example(e.input) for e in log])  # a plain list of examples gives the same codes
    assert same.users.ids == pre.users.ids and same.items.ids == pre.items.ids


def test_negatives_are_unseen_items_drawn_from_the_engine_generator(log):
    pre = InteractionPreprocessor({"negatives": 6})
    pre.fit(log)
    assert pre.augments
    user = pre.users.code("u1")
    seen = set(pre.history.seen(user).tolist())
    for seed in range(20):
        arrays = pre({"user": "u1", "item": "i1"}, train=True, rng=np.random.default_rng(seed))
        assert arrays["negatives"].shape == (6,) and not seen & set(arrays["negatives"].tolist())
        assert 0 not in arrays["negatives"]
    again = pre({"user": "u1", "item": "i1"}, train=True, rng=np.random.default_rng(3))
    assert (again["negatives"] == pre({"user": "u1", "item": "i1"}, train=True, rng=np.random.default_rng(3))
            ["negatives"]).all()
    assert "negatives" not in pre({"user": "u1", "item": "i1"})  # evaluation and prediction: codes only
    batch = pre.collate([pre("u1 i1", train=True, rng=np.random.default_rng(0)) for _ in range(3)])
    assert batch["user"].shape == (3,) and batch["negatives"].shape == (3, 6)
    assert not InteractionPreprocessor({"negatives": 0}).augments


def test_history_and_sampling():
    history = History.from_pairs(np.array([1, 1, 2, 1]), np.array([3, 1, 2, 3]), num_users=3, num_items=4)
    assert history.seen(1).tolist() == [1, 3] and history.seen(0).tolist() == [] and history.seen(99).tolist() == []
    assert history.contains(np.array([1, 1, 2]), np.array([3, 2, 2])).tolist() == [True, False, True]
    drawn = sample_unseen(np.array([1, 2, 3]), 5, 200, np.random.default_rng(0))
    assert set(drawn.tolist()) == {4}


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="unknown preprocessor option 'negative'"):
        InteractionPreprocessor({"negative": 3})
    with pytest.raises(UsageError, match="negatives=-1"):
        InteractionPreprocessor({"negatives": -1})


def test_side_features_save_and_load(log, table, tmp_path, capsys):
    users = table("users.csv", "user,age,segment\nu0,20,a\nu1,40,b\nu2,,a\nstranger,30,c\n")
    items = table("items.tsv", "item\tgenres\nfoo\tx\n" + "".join(f"i{i}\tg{i % 3}|g{i % 2 + 5}\n" for i in range(8)))
    pre = InteractionPreprocessor({"user_features": str(users), "item_features": str(items)})
    pre.fit(log)
    err = capsys.readouterr().err
    assert "1 user(s) not in the training interactions" in err and "2 training user(s) have no row" in err
    user_side = pre.side["user"]
    assert [f["kind"] for f in user_side.fields] == ["numeric", "categorical"]
    ages = user_side.numeric[:, 0]
    assert ages[pre.users.code("u0")] == pytest.approx(-1.0) and ages[pre.users.code("u2")] == 0.0  # empty: the mean
    genres = pre.side["item"].categorical["genres"]
    assert genres.shape == (9, 2) and (genres[pre.items.code("i4")] > 0).all() and (genres[0] == 0).all()
    schema = pre.schema()
    assert schema["item_fields"] == [{"name": "genres", "kind": "categorical", "size": 6, "width": 2}]
    pre.save(tmp_path)
    loaded = InteractionPreprocessor.load(tmp_path, pre.config)
    assert loaded.schema() == schema and loaded.users.ids == pre.users.ids
    assert (loaded.side["item"].categorical["genres"] == genres).all()
    assert (loaded.history.items == pre.history.items).all() and (loaded.popularity == pre.popularity).all()
    synthetic = loaded.synthetic(4, 1.0, np.random.default_rng(0))
    assert synthetic["user"].shape == (4,) and synthetic["item"].max() < len(loaded.items)


@pytest.mark.parametrize("text,message", [
    ("user,age\nu1,20\nu1,30\n", "duplicate user id"),
    ("user,age\nu1,20\nu2,nan\n", "not a finite number"),
    ("user\nu1\n", "at least one feature column"),
])
def test_bad_feature_tables(log, table, text, message):
    pre = InteractionPreprocessor({"user_features": str(table("users.csv", text))})
    with pytest.raises(DataError, match=message):
        pre.fit(log)
