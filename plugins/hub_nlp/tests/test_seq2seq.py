"""Text to text's pieces: the readers and their one-line errors, the tokenizer trained on the
corpus, the teacher-forced arrays, the numpy greedy and beam loops, the text scores."""
from __future__ import annotations

import numpy as np
import pytest

from hub_core.api import DataError, Example, ReadOptions
from hub_nlp.data import read_examples
from hub_nlp.generation import beam, greedy
from hub_nlp.preprocess import TextPreprocessor
from hub_nlp.seq2seq import Seq2SeqTask, TextScores, rouge_l
from s2sgen import pairs, write_csv, write_parallel


def test_tables_and_parallel_files_read_alike(tmp_path):
    rows = pairs(12, seed=0)
    table = read_examples(write_csv(tmp_path / "train.csv", rows), ReadOptions())
    source, target = write_parallel(tmp_path, rows)
    parallel = read_examples(source, ReadOptions(extra={"target": str(target)}))
    assert [(e.input, e.label) for e in table] == [(e.input, e.label) for e in parallel] == rows
    unlabelled = read_examples(source, ReadOptions(labelled=False, extra={"target": str(target)}))
    assert [e.input for e in unlabelled] == [s for s, _ in rows] and unlabelled[0].label is None


def test_bad_pairs_are_one_line_naming_file_line_and_field(tmp_path):
    rows = pairs(6, seed=1)
    rows[3] = (rows[3][0], "")
    with pytest.raises(DataError, match=r"train\.csv:5: empty target — field 'target'"):
        read_examples(write_csv(tmp_path / "train.csv", rows), ReadOptions())
    source, target = write_parallel(tmp_path, pairs(6, seed=1))
    target.write_text(target.read_text() + "extra\n")
    with pytest.raises(DataError, match=r"train\.src\.txt: 6 lines, but the target file .* has 7"):
        read_examples(source, ReadOptions(extra={"target": str(target)}))


@pytest.fixture(scope="module")
def fitted():
    preprocessor = TextPreprocessor({"seq2seq": True, "vocab_size": 60, "max_length": 16, "token_type_ids": False})
    preprocessor.fit([Example(s, t) for s, t in pairs(200, seed=2)])
    return preprocessor


def test_teacher_forcing_shifts_the_target_by_one_and_the_task_spells_it_back(fitted):
    arrays, _ = fitted.with_label("3 1 4", "drei eins vier")
    assert arrays["decoder_input_ids"][0] == fitted.start and arrays["target_ids"][-1] == fitted.end
    assert (arrays["decoder_input_ids"][1:] == arrays["target_ids"][:-1]).all()
    task = Seq2SeqTask()
    task.fit_to(fitted)
    assert task.text(arrays["target_ids"]) == "drei eins vier"  # the pieces decode back to the very text
    batch = fitted.collate([arrays, fitted.with_label("9", "neun")[0]])
    assert batch["target_ids"][1, -1] == -100 and batch["decoder_input_ids"][1, -1] == fitted.specials["pad"]
    with pytest.raises(ValueError, match="empty target"):
        fitted.with_label("3", "  ")


def scripted(table: dict, vocab: int = 5):
    """A step whose next-token scores depend only on the previous token (``table``: token -> scores)."""
    def step(previous, rows):
        return np.stack([np.log(np.asarray(table[int(t)], dtype=np.float64)) for t in previous])
    return step


def test_greedy_takes_the_likeliest_token_and_beam_search_finds_a_better_sequence():
    # end = 0. Greedy takes 1 (p .6) and then is stuck with a poor continuation; the beam keeps 2 (p .4),
    # whose continuation ends the sentence with certainty: .4 x 1 beats .6 x .5
    first = np.log(np.array([[0.0001, 0.6, 0.3999, 0.0, 0.0]]) + 1e-12)
    table = {1: [0.5, 0, 0, 0.5, 0], 2: [1.0, 0, 0, 0, 0], 3: [1.0, 0, 0, 0, 0], 0: [1.0, 0, 0, 0, 0], 4: [0, 0, 0, 0, 1.0]}
    table = {k: np.asarray(v) + 1e-12 for k, v in table.items()}
    tokens, score = greedy(first, scripted(table), end=0, max_new_tokens=5)
    assert tokens[0].tolist()[:2] == [1, 0] and score[0] == pytest.approx((np.log(0.6) + np.log(0.5)) / 2, abs=1e-6)
    best, best_score = beam(first, scripted(table), end=0, max_new_tokens=5, beams=2, length_penalty=1.0)
    assert best[0].tolist()[:2] == [2, 0] and best_score[0] == pytest.approx(np.log(0.3999) / 2, abs=1e-6)
    capped, _ = greedy(np.log(np.array([[1e-9, 0.0, 0.0, 0.0, 1.0]]) + 1e-12), scripted(table), end=0, max_new_tokens=3)
    assert capped.shape == (1, 3)  # a model that never ends stops at max_new_tokens


def test_bleu_chrf_and_rouge_l_are_sacrebleu_s_and_the_lcs():
    import sacrebleu

    task = Seq2SeqTask(pieces=["<pad>", "<unk>", "<s>", "</s>", "▁drei", "▁eins", "▁vier"], start=2, end=3, pad=0)
    metric = TextScores(task)
    from hub_core.model.contracts import Batch

    tokens = np.array([[4, 5, 6, 3], [4, 4, 3, 3]])
    metric.update({"tokens": tokens}, Batch({}, examples=[Example("3 1 4", "drei eins vier"), Example("3", "drei")]))
    got = metric.compute()
    hypotheses, references = ["drei eins vier", "drei drei"], ["drei eins vier", "drei"]
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score / 100)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score / 100)
    assert got["rouge_l"] == pytest.approx(rouge_l(hypotheses, references)) == pytest.approx((1 + 2 / 3) / 2)
