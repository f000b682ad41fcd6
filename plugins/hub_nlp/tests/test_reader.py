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


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_missing_column_names_the_flag_that_names_another(tmp_path, suffix):
    """A newcomer's table with its own column names: the error says which flag fixes it (issue 39)."""
    text = "review,label\ngreat film,pos\n" if suffix == ".csv" else '{"review": "great film", "label": "pos"}\n'
    with pytest.raises(DataError) as caught:
        read_examples(write(tmp_path / f"a{suffix}", text), ReadOptions())
    assert "missing column 'text' (columns: review, label); name the text column with --input-column " \
           "(e.g. --input-column review)" in str(caught.value)
    text = "text,sentiment\ngreat film,pos\n"
    with pytest.raises(DataError, match=r"missing column 'rating' .*name the label column with --label-column "
                                        r"\(e\.g\. --label-column sentiment\)"):
        read_examples(write(tmp_path / "b.csv", text), ReadOptions(label_column="rating"))


def test_skip_bad_counts_and_keeps_the_rest(tmp_path, capsys):
    path = write(tmp_path / "a.csv", "text,label\ngood one,pos\n ,neg\nanother,neg\n")
    examples = read_examples(path, ReadOptions(skip_bad=True))
    assert [e.input for e in examples] == ["good one", "another"]
    assert "skipped 1 bad example" in capsys.readouterr().err


def test_a_table_is_held_as_columns_without_an_object_per_row(tmp_path):
    import tracemalloc

    n = 30_000
    path = write(tmp_path / "big.csv", "text,label\n" + "".join(f"text number {i} here,{'ab'[i % 2]}\n"
                                                                 for i in range(n)))
    tracemalloc.start()
    examples = read_examples(path, ReadOptions())
    held, _ = tracemalloc.get_traced_memory()  # Arrow's buffers are outside Python's allocator: the rest is per-row
    tracemalloc.stop()
    assert len(examples) == n and held / n < 20, f"{held / n:.0f} bytes of Python objects a row"
    assert examples[n - 1].input == f"text number {n - 1} here" and examples[-1].label == "b"
    assert examples[7].source.endswith("big.csv:9")
    assert [e.label for e in examples][:3] == ["a", "b", "a"]
    sub = examples.take([5, 2])
    assert [e.input for e in sub] == ["text number 5 here", "text number 2 here"]
    assert examples.identity is not None and sub.identity == examples.identity
    assert list(sub.rows()) == [5, 2]


def test_a_fitted_tokenizer_is_reused_for_the_same_file_and_refitted_when_it_changes(tmp_path, monkeypatch):
    from hub_core.model import fitcache
    from hub_core.plugin.specs import ModalitySpec
    import hub_nlp.preprocess as preprocess
    from hub_nlp.preprocess import TextPreprocessor

    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))
    trained = []
    real = preprocess.train_wordpiece
    monkeypatch.setattr(preprocess, "train_wordpiece", lambda *a: trained.append(1) or real(*a))
    path = write(tmp_path / "t.csv", "text,label\n" + "".join(f"the cat sat {i},x\n" for i in range(50)))
    modality = ModalitySpec("text", (), "hub_nlp.data:read_examples", "hub_nlp.preprocess:TextPreprocessor")

    def fit():
        return fitcache.fitted(modality, TextPreprocessor({"vocab_size": 60}), read_examples(path, ReadOptions()))

    first, second = fit(), fit()
    assert len(trained) == 1 and first.tokenizer.to_str() == second.tokenizer.to_str()
    assert second(["the", "cat"])["input_ids"].tolist() == first(["the", "cat"])["input_ids"].tolist()
    write(path, path.read_text() + "a dog barked loudly,y\n")
    fit()
    assert len(trained) == 2  # another size and mtime: another key


@pytest.mark.parametrize("rows, blank", [
    ([{"text": "good film", "label": "pos", "extra": {"a": 1}}, {"text": "bad plot", "label": "neg"}], False),
    ([{"text": "good film", "label": 1}, {"text": "bad plot", "label": 0}], False),  # class numbers
    ([{"text": "good film", "label": 1.5}, {"text": "bad plot", "label": 0}], False),  # floats: row by row
    ([{"text": "good film", "label": "pos"}, {"text": "bad plot", "label": "neg"}], True),  # a blank line: row by row
])
def test_jsonl_columns_read_by_arrow_are_the_rows(tmp_path, rows, blank):
    """Plain JSON Lines of texts and labels are read column-wise (no object per row); any file
    the fast path cannot type as the row reader does gives the same examples row by row."""
    from hub_core.common.arrowread import read_columns

    lines = [json.dumps(r) for r in rows * 50]
    if blank:
        lines.insert(3, "")
    path = write(tmp_path / "a.jsonl", "\n".join(lines) + "\n")
    fast = read_columns(path, lambda names: ("text", "label"))
    assert (fast is not None) == (not blank and not isinstance(rows[0]["label"], float))
    examples = read_examples(path, ReadOptions())
    assert [(e.input, e.label) for e in examples] == [(r["text"], r["label"]) for r in rows * 50]
    assert examples[4].source.endswith(f"a.jsonl:{6 if blank else 5}")
