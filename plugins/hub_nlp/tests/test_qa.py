"""Extractive QA's pieces: the readers and their one-line errors, the windows and their
character offsets, the targets, the n-best decoder gathered over windows, SQuAD's EM/F1."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import MINILM
from hub_core.api import DataError, Example, ReadOptions
from hub_core.model.contracts import Batch
from hub_nlp.data import read_examples
from hub_nlp.preprocess import TextPreprocessor
from hub_nlp.qa import ExtractiveQATask, target_span
from hub_nlp.qa_metrics import score
from hub_nlp.qa_windows import QAPreprocessor, Window
from qagen import qa_rows, write_jsonl, write_squad

CONTEXT = ("Python was created by Guido van Rossum. It was first released in 1991. The language is named after "
           "Monty Python, a British comedy group. Its reference implementation is CPython, written in C.")


@pytest.fixture(scope="module")
def minilm_tokenizer():
    """MiniLM's own WordPiece (uncased), from its weights package."""
    from importlib.util import find_spec
    from pathlib import Path

    package, folder = MINILM.removeprefix("package:").split("/")
    return str(Path(find_spec(package).origin).parent / folder / "tokenizer.json")


def qa_preprocessor(tokenizer, **config) -> QAPreprocessor:
    return TextPreprocessor({"tokenizer": tokenizer, "qa": True, **config})


def test_squad_json_and_tables_read_alike(tmp_path):
    rows = qa_rows(20, seed=0, unanswerable=0.3)
    from_squad = read_examples(write_squad(tmp_path / "train.json", rows), ReadOptions())
    from_table = read_examples(write_jsonl(tmp_path / "train.jsonl", rows), ReadOptions())
    assert [e.input for e in from_squad] == [e.input for e in from_table] == [(r["question"], r["context"]) for r in rows]
    assert [e.label for e in from_squad] == [e.label for e in from_table]
    assert any(e.label == [] for e in from_squad) and any(e.label for e in from_squad)  # v2: some unanswerable
    first = next(e for e in from_squad if e.label)
    assert first.input[1][first.label[0]["start"]:].startswith(first.label[0]["text"])
    line = next(n for n, text in enumerate((tmp_path / "train.json").read_text().splitlines(), 1) if '"q3"' in text)
    assert from_squad[3].source == f"{tmp_path / 'train.json'}:{line}"  # errors name the question's line


def test_an_answer_start_that_misses_its_text_is_one_line_naming_file_line_and_value(tmp_path):
    rows = qa_rows(5, seed=1)
    rows[2]["answer_start"] += 1
    with pytest.raises(DataError) as table_error:
        read_examples(write_jsonl(tmp_path / "bad.jsonl", rows), ReadOptions())
    assert "bad.jsonl:3" in str(table_error.value) and "does not point at the answer" in str(table_error.value)
    assert f"value {rows[2]['answer_start']}" in str(table_error.value) and "\n" not in str(table_error.value)
    with pytest.raises(DataError, match=r"bad\.json:\d+: answer_start \d+ does not point at the answer"):
        read_examples(write_squad(tmp_path / "bad.json", rows), ReadOptions())


def test_a_context_longer_than_the_window_budget_is_refused(minilm_tokenizer):
    preprocessor = qa_preprocessor(minilm_tokenizer, max_length=32, doc_stride=8, max_windows=3)
    with pytest.raises(ValueError, match=r"the context needs \d+ windows of 32 tokens .* over max_windows 3"):
        preprocessor.windows(("Who created Python?", CONTEXT * 3))
    with pytest.raises(ValueError, match="the question is .* tokens, over half of a window"):
        preprocessor.windows((CONTEXT, CONTEXT))


def test_windows_overlap_and_their_offsets_point_into_the_whole_context(minilm_tokenizer):
    preprocessor = qa_preprocessor(minilm_tokenizer, max_length=24, doc_stride=8)
    parts = preprocessor.windows(("Who created Python?", CONTEXT))
    assert len(parts) > 2 and all(isinstance(p, Window) for p in parts)
    arrays = [preprocessor(p) for p in parts]
    assert all(len(a["input_ids"]) <= 24 for a in arrays)
    covered = [(a["offset_start"][a["offset_start"] >= 0][0], a["offset_end"].max()) for a in arrays]
    assert covered[0][0] == 0 and covered[-1][1] == len(CONTEXT)
    assert all(nxt[0] < prev[1] for prev, nxt in zip(covered, covered[1:]))  # consecutive windows overlap
    for a in arrays:  # every context token's offsets cut its own text out of the context
        for token, start, end in zip(a["input_ids"], a["offset_start"], a["offset_end"]):
            if start >= 0:
                piece = preprocessor.tokenizer.id_to_token(int(token)).removeprefix("##")
                assert CONTEXT[start:end].lower() == piece
    answer = {"text": "Guido van Rossum", "start": CONTEXT.index("Guido")}
    spans = [target_span(answer, a["offset_start"], a["offset_end"]) for a in arrays]
    assert spans[0] != (0, 0) and spans[-1] == (0, 0)  # the last window does not hold it: [CLS]
    start, end = spans[0]
    assert CONTEXT[arrays[0]["offset_start"][start]:arrays[0]["offset_end"][end]] == "Guido van Rossum"


def window_logits(arrays: dict, first: int, last: int, strength: float) -> dict:
    """Start/end logits of one window that point at characters [first, last) with ``strength``."""
    start, end = np.full(len(arrays["input_ids"]), -5.0), np.full(len(arrays["input_ids"]), -5.0)
    for position, (a, b) in enumerate(zip(arrays["offset_start"], arrays["offset_end"])):
        start[position] += strength * (a == first)
        end[position] += strength * (b == last)
    return {"start_logits": start, "end_logits": end}


def test_the_decoder_gathers_the_best_span_over_windows_and_cuts_it_from_the_context(minilm_tokenizer):
    preprocessor = qa_preprocessor(minilm_tokenizer, max_length=24, doc_stride=8)
    parts = preprocessor.windows(("Which language is CPython written in?", CONTEXT))
    arrays = preprocessor.collate([preprocessor(p) for p in parts])
    first = CONTEXT.index("CPython")
    per_window = [window_logits({k: v[row] for k, v in arrays.items()}, first, first + 7, 12.0)
                  for row in range(len(parts))]
    per_window[0] = window_logits({k: v[0] for k, v in arrays.items()}, 0, 6, 6.0)  # a weaker "Python" there
    outputs = {name: np.stack([w[name] for w in per_window]) for name in ("start_logits", "end_logits")}
    task = ExtractiveQATask(max_answer_tokens=10, unanswerable=False)
    batch = Batch(arrays, examples=[Example(p) for p in parts], owners=np.zeros(len(parts), dtype=np.int64))
    answer = task.gather(task.decode(outputs, batch, top_k=3))
    assert (answer["text"], answer["start"], answer["end"]) == ("CPython", first, first + 7)
    assert answer["score"] > 0.9 and len(answer["n_best"]) == 3
    assert answer["n_best"][0]["text"] == "CPython" and len({(s["start"], s["end"]) for s in answer["n_best"]}) == 3
    short = ExtractiveQATask(max_answer_tokens=1, unanswerable=False)
    assert short.gather(short.decode(outputs, batch))["text"] != "CPython"  # CPython is 2 tokens: out of reach


def test_a_model_trained_with_unanswerable_questions_abstains_when_the_null_score_wins(minilm_tokenizer):
    preprocessor = qa_preprocessor(minilm_tokenizer, max_length=64)
    raw = ("Who founded Rome?", CONTEXT)
    arrays = preprocessor.collate([preprocessor(raw)])
    outputs = window_logits({k: v[0] for k, v in arrays.items()}, 0, 6, 3.0)
    outputs = {k: v[None].copy() for k, v in outputs.items()}
    outputs["start_logits"][0, 0] = outputs["end_logits"][0, 0] = 8.0  # [CLS]: no answer
    batch = Batch(arrays, examples=[Example(raw)])
    v1, v2 = ExtractiveQATask(unanswerable=False), ExtractiveQATask()
    v2.fit([Example(raw, []), Example(raw, [{"text": "Python", "start": 0}])])
    assert v1.gather(v1.decode(outputs, batch))["text"] == "Python"
    assert v2.unanswerable and v2.gather(v2.decode(outputs, batch)) == {
        "text": "", "start": -1, "end": -1, "score": pytest.approx(0.99, abs=0.01), "null_score": pytest.approx(0.99, abs=0.01)}


def test_exact_match_and_f1_agree_with_torchmetrics_squad():
    from torchmetrics.functional.text import squad

    predictions = ["Guido van Rossum", "the 1991 release", "Monty", "C", "a British comedy group"]
    references = [["Guido van Rossum"], ["1991"], ["Monty Python"], ["C", "the C language"], ["British comedy group."]]
    ours = score(predictions, references)
    theirs = squad([{"prediction_text": p, "id": str(i)} for i, p in enumerate(predictions)],
                   [{"answers": {"answer_start": [0] * len(r), "text": r}, "id": str(i)} for i, r in enumerate(references)])
    assert ours["exact_match"] * 100 == pytest.approx(float(theirs["exact_match"]))
    assert ours["f1"] * 100 == pytest.approx(float(theirs["f1"]))
    assert score(["", "x"], [[], []]) == {"exact_match": 0.5, "f1": 0.5}  # v2: "" is right only when unanswerable
