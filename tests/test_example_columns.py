"""ExampleColumns: examples held as Arrow columns, an Example made only on access (issue 16)."""
import tracemalloc

import numpy as np
import pytest

from hub_core.model.contracts import Example
from hub_core.model.examples import CHUNK, ColumnsBuilder, ExampleColumns, take
from hub_core.data.arraycache import data_digest
from hub_core.data.sets import split
from hub_core.train.selection import holdout


def build(n: int, width: int = 1, label=lambda i: "ab"[i % 2], identity="f v1") -> ExampleColumns:
    built = ColumnsBuilder(width, "data.csv")
    for i in range(n):
        built.add(tuple(f"text {i} {c}" for c in range(width)), label(i), i + 2)
    return built.build(identity)


def test_rows_read_back_as_examples_across_chunks():
    examples = build(CHUNK + 10)
    assert len(examples) == CHUNK + 10
    assert examples[CHUNK + 3] == Example("text 65539 0", "b", "data.csv:65541")
    assert examples[-1].input == f"text {CHUNK + 9} 0"
    assert list(examples)[CHUNK] == examples[CHUNK]  # chunked iteration gives the same examples
    with pytest.raises(IndexError):
        examples[len(examples)]


def test_pairs_mixed_labels_and_subsets():
    pairs = build(5, width=2, label=lambda i: i if i % 2 else f"l{i}")  # labels Arrow cannot type: kept as values
    assert pairs[1].input == ("text 1 0", "text 1 1") and pairs[1].label == 1 and pairs[2].label == "l2"
    sub = take(pairs, [4, 0])
    assert [e.label for e in sub] == ["l4", "l0"] and sub[0].source == "data.csv:6"
    assert [e.input for e in take(sub, [1])] == [("text 0 0", "text 0 1")]
    assert [e.label for e in pairs[1:3]] == [1, "l2"]


def test_splits_are_subsets_equal_to_the_list_splits():
    examples = build(300)
    listed = list(examples)
    for cut in (split, holdout):
        columns_train, columns_val = cut(examples, 0.2, 3)
        list_train, list_val = cut(listed, 0.2, 3)
        assert isinstance(columns_train, ExampleColumns)
        assert list(columns_train) == list_train and list(columns_val) == list_val


def test_no_python_object_per_row():
    tracemalloc.start()
    examples = build(100_000)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    as_list = list(examples[:1000])  # the list of objects they replace, for scale
    assert held / len(examples) < 20, f"{held / len(examples):.0f} bytes a row"
    assert len(as_list) == 1000


def test_the_cache_key_of_identified_examples_is_the_file_and_the_rows():
    a, b = build(50), build(50)
    assert data_digest(a, labelled=True) == data_digest(b, labelled=True)
    assert data_digest(a, labelled=True) != data_digest(build(50, identity="f v2"), labelled=True)
    assert data_digest(a.take(np.arange(10)), labelled=True) != data_digest(a.take(np.arange(1, 11)), labelled=True)
    unidentified = build(50, identity=None)  # no identity: every row is hashed, as for a list
    assert data_digest(unidentified, labelled=True) == data_digest(list(unidentified), labelled=True)


def test_the_first_unlabelled_example_is_found_column_wise():
    assert build(10).first_unlabelled() is None
    assert build(10, label=lambda i: "" if i == 7 else "a").first_unlabelled() == 7
    assert build(10, label=lambda i: None if i in (4, 8) else "a").first_unlabelled() == 4
    assert build(10, label=lambda i: None if i == 3 else i).first_unlabelled() == 3  # numbers
    assert build(10, label=lambda i: "" if i == 2 else "a").take([5, 2]).first_unlabelled() == 1
