"""What was accepted without a word: a CSV whose header names a column twice (the reader
kept one of them silently) is refused with one line at line 1; an automatic --val-split
that leaves a label only in validation says that the split did it, not the data.
(Malformed hub.json fields: test_bad_input.py's manifest-* cases.)
"""
from __future__ import annotations

from tests.robustness.helpers import run_hub

HEADER = ",".join(f"x{i}" for i in range(8))


def rows(labels) -> str:
    return "".join(",".join(str((n * 7 + i) % 5) for i in range(8)) + f",{label}\n" for n, label in enumerate(labels))


def one_line(code, err, expected_code, says):
    assert code == expected_code and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("hub: error: ") and says in err, err


def test_a_duplicated_header_is_refused(workdir):
    (workdir / "t.csv").write_text(f"{HEADER},x3,label\n" + "".join(
        ",".join(["1"] * 9) + f",{label}\n" for label in "abab"))
    code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", "t.csv", "-o", "out")
    one_line(code, err, 1, "t.csv:1: the header names column 'x3' 2 times")
    assert not (workdir / "out").exists()


def test_a_class_only_in_the_automatic_validation_split_is_blamed_on_the_split(workdir):
    (workdir / "t.csv").write_text(f"{HEADER},label\n" + rows(["a", "b"] * 3 + [f"u{i}" for i in range(14)]))
    code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", "t.csv", "-o", "out")
    one_line(code, err, 2, "the automatic --val-split held out every example of label 'u")
    assert "the data is not at fault" in err and "--val" in err
    assert not (workdir / "out").exists()
    code, _, err = run_hub("finetune", "tiny/mlp", "-t", "classification", "-d", "t.csv", "-o", "out", "--val-split",
                           "0", "--epochs", "1", "--quiet")
    assert code == 0, err
