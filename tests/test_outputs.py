"""An evaluation pass's outputs, joined as they come, give the metrics the batches give."""
import numpy as np

from hub_core.tasks.classification import ClassificationTask, softmax
from hub_core.model.metrics import MERGE, OutputBatches


def test_pairs_are_joined_in_order_and_other_shapes_kept_apart():
    rng = np.random.default_rng(0)
    given = [(rng.standard_normal((32, 3), dtype=np.float32), rng.integers(0, 3, 32)) for _ in range(MERGE + 40)]
    given[10] = (rng.standard_normal((5, 4), dtype=np.float32), rng.integers(0, 3, 5))  # another width: its own pair
    batches = OutputBatches()
    for outputs, targets in given:
        batches.add(outputs, targets)
    pairs = batches.pairs()
    assert len(pairs) == 4  # [0:10], [10], [11:256] (joined at MERGE), then [256:296]
    assert [len(p[0]) for p in pairs] == [10 * 32, 5, 245 * 32, 40 * 32]
    assert np.array_equal(np.concatenate([p[0] for p in pairs if p[0].shape[1] == 3]),
                          np.concatenate([g[0] for g in given if g[0].shape[1] == 3]))
    assert np.array_equal(np.concatenate([p[1] for p in pairs]), np.concatenate([g[1] for g in given]))
    assert pairs[1][0].shape == (5, 4)


def test_binary_ranking_metrics_are_scikit_learns_on_the_probabilities():
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(1)
    task = ClassificationTask(["neg", "pos"], positive="pos")
    logits = rng.standard_normal((3000, 2)).astype(np.float32)
    targets = (rng.random(3000) < 0.3 + 0.4 * (logits[:, 1] > logits[:, 0])).astype(np.int64)
    ours = task.scores([(logits[:1000], targets[:1000]), (logits[1000:], targets[1000:])])
    probability = softmax(logits.astype(np.float64))[:, 1]
    assert np.isclose(ours["roc_auc"], roc_auc_score(targets == 1, probability))
    assert np.isclose(ours["pr_auc"], average_precision_score(targets == 1, probability))
