"""Token classification (alignment, seqeval metrics, answers) and MLM masking."""
import numpy as np
import pytest
import torch

from hub_core.model.contracts import Batch, Example
from hub_nlp.mlm import IGNORE, MaskedLMTask
from hub_nlp.token_classification import TokenClassificationTask


@pytest.fixture
def ner():
    task = TokenClassificationTask()
    task.fit([Example(["a"], ["B-PER"]), Example(["b"], ["I-PER"]), Example(["c", "d"], "O B-LOC")])
    return task


def test_word_tags_go_to_each_words_first_token(ner):
    # [CLS] john smith ##son lives [SEP]: "smithson" is two tokens; only its first carries I-PER
    arrays = {"word_ids": np.array([-1, 0, 1, 1, 2, -1])}
    target = ner.encode(["B-PER", "I-PER", "O"], arrays)
    index = ner.index
    assert target.tolist() == [IGNORE, index["B-PER"], index["I-PER"], IGNORE, index["O"], IGNORE]
    assert ner.encode("B-PER I-PER O", arrays).tolist() == target.tolist()  # space-separated tags (CSV)


def test_truncated_words_carry_no_loss_and_bad_tags_are_errors(ner):
    assert ner.encode(["B-PER", "O", "O", "O"], {"word_ids": np.array([-1, 0, 1, -1])}).tolist()[1:3] == [
        ner.index["B-PER"], ner.index["O"]]
    with pytest.raises(ValueError, match="tag 'B-ORG' was not seen"):
        ner.encode(["B-ORG"], {"word_ids": np.array([-1, 0, -1])})
    with pytest.raises(ValueError, match="1 tags for 2 words"):
        ner.encode(["O"], {"word_ids": np.array([-1, 0, 1, -1])})


def test_entity_level_metrics_by_seqeval(ner):
    labels = ner.labels
    onehot = np.eye(len(labels))
    truth = ["B-PER", "I-PER", "O", "B-LOC"]
    guess = ["B-PER", "O", "O", "B-LOC"]  # PER span cut short: a wrong entity though 3 of 4 tags are right
    targets = np.array([[IGNORE] + [labels.index(t) for t in truth] + [IGNORE]])
    logits = np.stack([np.zeros(len(labels))] + [onehot[labels.index(t)] for t in guess] + [np.zeros(len(labels))])[None]
    metrics = ner.scores([(logits, targets)])
    assert metrics["precision"] == pytest.approx(0.5) and metrics["recall"] == pytest.approx(0.5)
    assert metrics["token_accuracy"] == pytest.approx(0.75)
    assert metrics["per_type"]["LOC"]["f1"] == 1.0 and metrics["per_type"]["PER"]["f1"] == 0.0


def test_answers_give_tags_per_word_and_entities(ner):
    labels = ner.labels
    word_ids = np.array([[-1, 0, 1, 1, 2, -1, -1]])  # the last position is padding
    tags = ["O", "B-PER", "I-PER", "I-PER", "O", "O", "O"]  # per token: [CLS] john smith ##son lives [SEP] pad
    logits = np.stack([np.eye(len(labels))[labels.index(t)] * 5 for t in tags])[None]
    [answer] = ner.decode({"logits": logits}, Batch({"word_ids": word_ids}))
    assert answer["tags"] == ["B-PER", "I-PER", "O"]
    assert answer["entities"] == [{"type": "PER", "start": 0, "end": 2}]


def test_token_classification_state_round_trip(ner):
    again = TokenClassificationTask.from_state(ner.state())
    assert again.labels == ner.labels and again.num_outputs == 4


class Vocab:
    vocab_size, specials = 1000, {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}


def mlm_batch(task, n=64, length=50):
    rng = np.random.default_rng(0)
    targets = []
    for i in range(n):
        size = length - (i % 7)
        ids = np.concatenate([[2], rng.integers(5, 1000, size - 2), [3]])
        targets.append(task.encode(None, {"input_ids": ids, "word_ids": np.r_[-1, np.arange(size - 2), -1]}))
    targets = torch.from_numpy(task.collate_targets(targets))
    input_ids = torch.where(targets == IGNORE, torch.zeros_like(targets), targets)
    input_ids[:, 0] = 2
    return {"input_ids": input_ids, "attention_mask": (targets != IGNORE).long()}, targets


def test_mlm_masks_15_percent_as_bert_does_and_never_special_tokens():
    task = MaskedLMTask()
    task.fit_to(Vocab())
    assert task.num_outputs == 1000 and task.mask_id == 4
    inputs, targets = mlm_batch(task)
    prepared = task.prepare(Batch(inputs, targets), train=True, generator=torch.Generator().manual_seed(1))
    masked, labels = prepared.inputs, prepared.targets
    chosen = masked["mlm_positions"]  # the head predicts these positions only; labels are theirs, in order
    candidates = targets != IGNORE
    assert not (chosen & ~candidates).any()  # [CLS], [SEP] and padding are never chosen
    assert chosen.sum() / candidates.sum() == pytest.approx(0.15, abs=0.02)
    to_mask = (masked["input_ids"] == 4) & chosen
    kept = (masked["input_ids"] == targets) & chosen
    assert to_mask.sum() / chosen.sum() == pytest.approx(0.8, abs=0.04)
    assert kept.sum() / chosen.sum() == pytest.approx(0.1 + 0.1 / 1000, abs=0.03)
    assert (masked["input_ids"][~chosen] == inputs["input_ids"][~chosen]).all()
    assert torch.equal(labels, targets[chosen])


def test_mlm_masks_are_reproducible_from_the_generator_and_fixed_without_one():
    task = MaskedLMTask(vocab_size=1000, mask_id=4)
    inputs, targets = mlm_batch(task, n=8)

    def draw(generator):
        return task.prepare(Batch(inputs, targets), train=True, generator=generator).inputs["input_ids"]

    assert torch.equal(draw(torch.Generator().manual_seed(5)), draw(torch.Generator().manual_seed(5)))
    assert not torch.equal(draw(torch.Generator().manual_seed(5)), draw(torch.Generator().manual_seed(6)))
    assert torch.equal(draw(None), draw(None))  # validation: the same masks every epoch


def test_mlm_needs_a_mask_token_and_round_trips_its_state():
    class NoMask(Vocab):
        specials = {"pad": 0}

    with pytest.raises(ValueError, match="mask token"):
        MaskedLMTask().fit_to(NoMask())
    task = MaskedLMTask(vocab_size=1000, mask_id=4, probability=0.2)
    again = MaskedLMTask.from_state(task.state())
    assert (again.vocab_size, again.mask_id, again.options["probability"]) == (1000, 4, 0.2)
