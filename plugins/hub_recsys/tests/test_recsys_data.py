"""The interaction reader: columns, labels, timestamps, bad rows, duplicates, splits."""
import numpy as np
import pytest

from hub_core.model.contracts import ReadOptions
from hub_core.common.errors import DataError, UsageError
from hub_recsys.data import InteractionLog, parse_pair, read_examples
from hub_recsys.split import assign, write_splits


def read(path, **extra):
    options = extra.pop("options", {})
    return read_examples(path, ReadOptions(extra=extra, **options))


def test_reads_ratings_timestamps_and_gives_examples(table):
    path = table("log.csv", """
user,item,rating,timestamp
u1,i1,4,100
u1,i2,2.5,2021-01-01T00:00:00
u2,i1,5,300
""")
    log = read(path)
    assert isinstance(log, InteractionLog) and len(log) == 3 and not log.implicit
    first = log[0]
    assert first.input == {"user": "u1", "item": "i1"} and first.label == 4.0 and first.source == f"{path}:2"
    assert log[1].label == 2.5 and log.timestamps[1] == 1609459200.0
    subset = log[np.array([2, 0])]
    assert [e.input["user"] for e in subset] == ["u2", "u1"] and subset.lines.tolist() == [4, 2]


def test_implicit_logs_label_every_interaction_positive_and_columns_are_configurable(table):
    path = table("clicks.tsv", "who\twhat\tsession\nalice\tbook\t1\nbob\tfilm\t2\n")
    log = read(path, user_column="who", item_column="what")
    assert log.implicit and [e.label for e in log] == [True, True]
    same = read(path, options={"input_columns": ("who", "what")})
    assert same[1].input == {"user": "bob", "item": "film"}
    with pytest.raises(DataError, match="missing column 'user'"):
        read(path)
    with pytest.raises(UsageError, match="two input columns"):
        read(path, options={"input_columns": ("who",)})
    with pytest.raises(UsageError, match="unknown reader option 'user_col'"):
        read(path, user_col="who")


def test_jsonl_with_numbers(table):
    path = table("log.jsonl", '{"user": 7, "item": 12, "rating": 3}\n{"user": 8, "item": 12, "rating": 1}\n')
    log = read(path)
    assert log[0].input == {"user": "7", "item": "12"} and log[1].label == 1.0


@pytest.mark.parametrize("cell,message", [("nan", "not a finite number"), ("inf", "not a finite number"),
                                          ("good", "not a number"), ("", "not a number"),
                                          ("9", "outside rating_range")])
def test_bad_ratings_name_file_line_field_and_value(table, cell, message):
    path = table("log.csv", f"user,item,rating\nu1,i1,4\nu2,i2,{cell}\n")
    with pytest.raises(DataError) as caught:
        read(path, rating_range="1:5")
    text = str(caught.value)
    assert message in text and f"{path}:3" in text and "field 'rating'" in text and repr(cell) in text


def test_bad_rows_are_skipped_and_counted_with_skip_bad(table, capsys):
    path = table("log.csv", "user,item,rating,timestamp\nu1,i1,4,1\n,i2,3,2\nu3,i3,x,3\nu4,i4,2,yesterday\nu5,i5,1,5\n")
    log = read(path, options={"skip_bad": True})
    assert [e.input["user"] for e in log] == ["u1", "u5"]
    assert "skipped 3 bad row(s); first:" in capsys.readouterr().err
    with pytest.raises(DataError, match="empty user id"):
        read(path)


def test_duplicates_policies(table, capsys):
    path = table("log.csv", "user,item,rating,timestamp\nu1,i1,1,30\nu1,i1,3,10\nu2,i1,4,5\nu1,i1,5,20\n")
    last = read(path)  # the latest by timestamp wins, not the last line
    assert len(last) == 2 and last[0].label == 1.0 and "2 duplicate (user, item) row(s); kept the last" in \
        capsys.readouterr().err
    assert read(path, duplicates="first")[0].label == 3.0
    assert read(path, duplicates="mean")[0].label == pytest.approx(3.0)
    assert len(read(path, duplicates="keep")) == 4
    with pytest.raises(DataError, match=r"log.csv:\d: duplicate \(user, item\) pair 'u1', 'i1'"):
        read(path, duplicates="error")
    with pytest.raises(UsageError, match="duplicates='sum'"):
        read(path, duplicates="sum")


def test_parse_pair_accepts_what_users_type():
    for typed in ("u1 i2", "u1,i2", "u1\ti2", ("u1", "i2"), {"user": "u1", "item": "i2"}):
        assert parse_pair(typed) == ("u1", "i2")
    for bad in ("u1", "u1 i2 i3", {"user": "u1"}, " , i2", 5):
        with pytest.raises(ValueError):
            parse_pair(bad)


def test_splits(table, tmp_path):
    rows = ["user,item,timestamp"] + [f"u{u},i{i},{100 * i + u}" for u in range(4) for i in range(5)]
    rows.append("u9,i1,7")  # a user with one interaction stays in train
    path = table("log.csv", "\n".join(rows) + "\n")
    log = read(path)
    split = assign(log, "last", 0.1, 0.1)
    for u in range(4):
        mine = split[log.user_codes == log.user_names.index(f"u{u}")]
        assert mine.tolist() == [0, 0, 0, 1, 2]  # rows are in time order per user here
    assert split[-1] == 0
    by_time = assign(log, "time", 0.2, 0.2)
    cut = log.timestamps
    assert cut[by_time == 2].min() > cut[by_time == 1].max() > cut[by_time == 0].max() - 1e-9
    counts = write_splits(log, split, tmp_path / "out")
    assert counts == {"train": 13, "val": 4, "test": 4}
    assert (tmp_path / "out" / "test.csv").read_text().splitlines()[0] == "user,item,timestamp"
    random = assign(log, "random", 0.3, 0.3, seed=1)
    assert set(random.tolist()) == {0, 1, 2}
    with pytest.raises(DataError, match="--by time needs a timestamp"):
        assign(read(table("nots.csv", "user,item\nu1,i1\n")), "time", 0.1, 0.1)
