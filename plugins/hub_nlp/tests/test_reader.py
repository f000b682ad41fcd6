"""The text reader: tables, pairs, CoNLL, corpora, and clear errors for bad files."""
import json

import pytest

from hub_core.model.contracts import ReadOptions
from hub_core.common.errors import DataError
from hub_nlp.data import read_examples


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_default_columns(tmp_path):
    examples = read_examples(write(tmp_path / "a.csv", 'text,label\nhello there,pos\n"a, b",neg\n'), ReadOptions())
    assert [(e.input, e.label) for e in examples] == [("hello there", "pos"), ("a, b", "neg")]
    assert examples[1].source.endswith("a.csv:3")


def test_tsv_named_columns_and_text_pairs(tmp_path):
    path = write(tmp_path / "p.tsv", "premise\thypothesis\tgold\nit rains\tit is wet\tyes\nit rains\tit is dry\tno\n")
    examples = read_examples(path, ReadOptions(input_columns=("premise", "hypothesis"), label_column="gold"))
    assert examples[0].input == ("it rains", "it is wet") and examples[1].label == "no"


def test_jsonl_words_and_tags_fall_back_to_tokens_and_tags(tmp_path):
    rows = [{"tokens": ["John", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]}]
    path = write(tmp_path / "ner.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    [example] = read_examples(path, ReadOptions())
    assert example.input == ["John", "lives", "in", "Paris"] and example.label[-1] == "B-LOC"


def test_conll_sentences(tmp_path):
    path = write(tmp_path / "x.conll", "-DOCSTART- O\n\nJohn NNP B-PER\nruns VB O\n\n\nParis NNP B-LOC\n.  . O\n")
    examples = read_examples(path, ReadOptions())
    assert [e.input for e in examples] == [["John", "runs"], ["Paris", "."]]
    assert [e.label for e in examples] == [["B-PER", "O"], ["B-LOC", "O"]]
    assert examples[1].source.endswith("x.conll:7")


def test_corpus_file_and_folder(tmp_path):
    write(tmp_path / "a.txt", "first line\n\n  second line  \n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b.txt", "third\n")
    unlabelled = ReadOptions(labelled=False)
    assert [e.input for e in read_examples(tmp_path / "a.txt", unlabelled)] == ["first line", "second line"]
    assert [e.input for e in read_examples(tmp_path, unlabelled)] == ["first line", "second line", "third"]


@pytest.mark.parametrize("name, text, options, message", [
    ("a.csv", "text,label\nhello,pos\n", ReadOptions(input_columns=("body",)), "missing column 'body'"),
    ("a.csv", "text,label\n   ,pos\n", ReadOptions(), "a.csv:2: empty or missing text"),
    ("a.jsonl", '{"tokens": ["a", "b"], "tags": ["O"]}\n', ReadOptions(), "2 words but 1 tags"),
    ("a.txt", "some text\n", ReadOptions(), "a .txt corpus has no labels"),
    ("a.conll", "John\nruns O\n", ReadOptions(), "a.conll:1: expected 'WORD ... TAG'"),
    ("a.xml", "<a/>", ReadOptions(), "cannot read .xml as text"),
    ("a.csv", "text,label,x\n1,2\n", ReadOptions(), "a.csv:2: fewer cells than the 3 header columns"),
])
def test_bad_files_name_file_and_line(tmp_path, name, text, options, message):
    with pytest.raises(DataError, match=message.replace(".", r"\.").replace("(", r"\(")):
        read_examples(write(tmp_path / name, text), options)


def test_skip_bad_counts_and_keeps_the_rest(tmp_path, capsys):
    path = write(tmp_path / "a.csv", "text,label\ngood one,pos\n ,neg\nanother,neg\n")
    examples = read_examples(path, ReadOptions(skip_bad=True))
    assert [e.input for e in examples] == ["good one", "another"]
    assert "skipped 1 bad example" in capsys.readouterr().err
