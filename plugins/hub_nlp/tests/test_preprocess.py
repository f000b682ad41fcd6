"""The text preprocessor: trained or loaded tokenizers, truncation, pairs, words, padding."""
import subprocess
import sys

import numpy as np
import pytest

from hub_core.model.weights import locate
from hub_nlp.preprocess import TextPreprocessor

from conftest import MINILM


def test_trained_wordpiece_has_bert_specials_and_a_corpus_vocabulary(fitted):
    assert fitted.specials == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert 100 < fitted.vocab_size <= 500
    arrays = fitted("the guitar and the piano")
    assert arrays["input_ids"][0] == 2 and arrays["input_ids"][-1] == 3
    assert 1 not in arrays["input_ids"]  # every corpus word is known: no [UNK]
    assert set(arrays) == {"input_ids", "attention_mask", "token_type_ids", "word_ids"}
    assert all(a.dtype == np.int64 for a in arrays.values())


def test_truncation_to_max_length(topic_examples):
    preprocessor = TextPreprocessor({"vocab_size": 500, "max_length": 8})
    preprocessor.fit(topic_examples)
    arrays = preprocessor(" ".join(["guitar piano"] * 50))
    assert len(arrays["input_ids"]) == 8 and arrays["input_ids"][-1] == preprocessor.specials["sep"]
    pair = preprocessor(("guitar " * 20, "rain"))
    assert len(pair["input_ids"]) == 8 and pair["token_type_ids"][-2:].tolist() == [1, 1]  # longest side cut first


def test_text_pairs_from_tuples_and_cli_strings(fitted):
    as_tuple = fitted(("the rain fell", "a storm came"))
    as_string = fitted("the rain fell ||| a storm came")
    assert as_tuple["input_ids"].tolist() == as_string["input_ids"].tolist()
    types = as_tuple["token_type_ids"]
    assert types[0] == 0 and types[-1] == 1 and (as_tuple["input_ids"] == fitted.specials["sep"]).sum() == 2


def test_word_ids_follow_whitespace_words_for_strings_and_lists(fitted):
    from_words = fitted(["guitarist", "plays", "."])
    from_text = fitted("guitarist plays.")  # "plays." is one whitespace word: its "." belongs to word 1
    assert from_words["word_ids"][0] == -1 and from_words["word_ids"][-1] == -1
    assert sorted(set(from_words["word_ids"].tolist())) == [-1, 0, 1, 2]
    assert sorted(set(from_text["word_ids"].tolist())) == [-1, 0, 1]


def test_collate_pads_each_batch_to_its_longest(fitted):
    items = [fitted("rain"), fitted("the guitar and the piano were loud")]
    batch = fitted.collate(items)
    longest = len(items[1]["input_ids"])
    assert batch["input_ids"].shape == (2, longest)
    short = len(items[0]["input_ids"])
    assert batch["attention_mask"][0].tolist() == [1] * short + [0] * (longest - short)
    assert (batch["input_ids"][0, short:] == fitted.specials["pad"]).all()
    assert (batch["word_ids"][0, short:] == -1).all()
    assert fitted.length(items[1]) == longest


def test_synthetic_batches_vary_in_length(fitted):
    batch = fitted.synthetic(4, 2.0, np.random.default_rng(0))
    assert batch["input_ids"].shape == (4, 64)
    lengths = batch["attention_mask"].sum(1)
    assert lengths.max() == 64 and lengths.min() < 64
    assert batch["input_ids"].max() < fitted.vocab_size


def test_save_and_load_give_identical_ids(fitted, tmp_path):
    fitted.save(tmp_path)
    loaded = TextPreprocessor.load(tmp_path, fitted.config)
    text = "the drummer played in the storm"
    assert loaded(text)["input_ids"].tolist() == fitted(text)["input_ids"].tolist()


@pytest.mark.parametrize("raw, message", [("   ", "empty text"), ([], "no words"), (("a", "b", "c"), "two texts"),
                                          (3.5, "expected text")])
def test_bad_inputs_are_value_errors(fitted, raw, message):
    with pytest.raises(ValueError, match=message):
        fitted(raw)


def test_a_models_own_tokenizer_overrides_its_saved_fixed_padding():
    preprocessor = TextPreprocessor({"tokenizer": str(locate(MINILM))})
    arrays = preprocessor("Hello world")
    assert arrays["input_ids"].tolist() == [101, 7592, 2088, 102]  # bert-base-uncased ids; no padding to 128


def test_vocab_txt_directories_load_as_bert_wordpiece(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]))
    preprocessor = TextPreprocessor({"tokenizer": str(tmp_path)})
    assert preprocessor("Hello worlds")["input_ids"].tolist() == [2, 5, 6, 7, 3]


def test_the_preprocessor_never_imports_torch():
    code = "import sys, hub_nlp.preprocess, hub_nlp.data; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_wordpiece_training_is_the_same_in_every_process(tmp_path, generate):
    """Each DDP rank and a resumed run train the tokenizer again: they must get the same one."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(text for text, _ in generate.topic_rows(300, seed=0)) + "\n" + "Noah Müller’s café!\n")
    code = ("import hashlib, sys; from hub_nlp.tokenizer import train_wordpiece; "
            "lines = open(sys.argv[1], encoding='utf-8').read().splitlines(); "
            "print(hashlib.sha256(train_wordpiece(lines, 2000).to_str().encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code, str(corpus)], check=True, capture_output=True,
                              text=True).stdout for _ in range(3)}
    assert len(digests) == 1


def test_a_tokenizer_that_panics_is_a_clear_error_for_that_text():
    """A tokenizer.json whose pre-tokenizer regex backtracks past onig's limit panics in Rust
    (a BaseException): it becomes a ValueError for that text (a DataError naming file and line
    when read from data), never an internal error."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    from hub_nlp.preprocess import TextPreprocessor

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "[PAD]": 1, "a": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("((a+)+)+b"), behavior="isolated")
    pre = TextPreprocessor({"max_length": 16}, tokenizer=tokenizer)
    with pytest.raises(ValueError, match="the tokenizer failed on this text .*backtracks too far"):
        pre("a" * 5000 + "!")
