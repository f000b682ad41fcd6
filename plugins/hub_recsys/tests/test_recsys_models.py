"""Backbones, the score head, towers, ranking metrics and the tasks' losses."""
import numpy as np
import pytest
import torch

from hub_core.model.contracts import ReadOptions
from hub_core.common.errors import ConfigError, UsageError
from hub_core.model.directory import HubModel
from hub_recsys.backbones import build_deepfm, build_mf, build_neumf, build_two_tower
from hub_recsys.data import read_examples
from hub_recsys.heads import ScoreHead
from hub_recsys.metrics import per_user
from hub_recsys.preprocess import InteractionPreprocessor
from hub_recsys.rank import leave_out, popularity_scores, top_items
from hub_recsys.retrieval import RetrievalTask
from hub_recsys.scoring import Scorer, towers

BUILDERS = {"mf": build_mf, "two-tower": build_two_tower, "neumf": build_neumf, "deepfm": build_deepfm}


@pytest.fixture
def fitted(table):
    rows = "\n".join(f"u{u},i{i},{1 + (u * i) % 5}" for u in range(12) for i in range(9) if (u + 2 * i) % 4)
    log = read_examples(table("log.csv", "user,item,rating\n" + rows + "\n"), ReadOptions())
    users = table("users.csv", "user,age,tier\n" + "".join(f"u{u},{20 + u},t{u % 3}\n" for u in range(12)))
    items = table("items.csv", "item,genres,price\n"
                  + "".join(f"i{i},g{i % 4}|g{i % 3 + 4},{i * 1.5}\n" for i in range(9)))
    pre = InteractionPreprocessor({"user_features": str(users), "item_features": str(items)})
    pre.fit(log)
    return pre


def model_for(name, pre, **config):
    torch.manual_seed(0)
    backbone = BUILDERS[name]({"dim": 8, "hidden": [16, 8], **config}, None)
    backbone.fit_to(pre)
    head = ScoreHead(backbone.feature_dim, 1)
    return HubModel(backbone, head, RetrievalTask(), pre, {}).eval()


@pytest.mark.parametrize("name", list(BUILDERS))
def test_backbones_score_pairs_and_rebuild_from_their_config(name, fitted):
    model = model_for(name, fitted)
    user, item = torch.tensor([1, 2, 0, 5]), torch.tensor([3, 0, 1, 8])
    features = model.backbone(user=user, item=item)
    assert features["pooled"].shape == (4, model.backbone.feature_dim)
    scores = model(user=user, item=item)["score"]
    assert scores.shape == (4, 1) and torch.isfinite(scores).all()
    rebuilt = BUILDERS[name](model.backbone.hub_config(), None)  # what loading a model directory does
    rebuilt.load_state_dict(model.backbone.state_dict())
    assert torch.allclose(rebuilt.eval()(user=user, item=item)["pooled"], features["pooled"])
    assert model.backbone.blocks()
    params = sum(p.numel() for p in model.parameters())
    assert params < 20_000


def test_oov_rows_stay_zero_under_training(fitted):
    model = model_for("mf", fitted).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = model(user=torch.tensor([1, 2]), item=torch.tensor([3, 4]))["score"].pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.backbone.user_embedding.weight[0].abs().sum() == 0
    assert model.backbone.item_bias.weight[0].abs().sum() == 0


@pytest.mark.parametrize("name", ["mf", "two-tower"])
def test_towers_give_exactly_the_models_scores(name, fitted):
    model = model_for(name, fitted)
    with torch.no_grad():
        model.head.proj.weight.normal_()
        model.head.proj.bias.fill_(0.3)
    assert towers(model) is not None
    users = np.array([0, 1, 4, 11])
    factorised = Scorer(model, len(fitted.items))(users)
    pairwise = Scorer(model, len(fitted.items))._pairwise(torch.from_numpy(users))
    assert np.allclose(factorised, pairwise, atol=1e-5)


def test_factorised_only_where_it_holds(fitted):
    assert towers(model_for("neumf", fitted)) is None and towers(model_for("deepfm", fitted)) is None


def test_bad_configs(fitted):
    with pytest.raises(ConfigError, match="unknown config key 'dims' \\(did you mean 'dim'\\?\\)"):
        build_mf({"dims": 8})
    with pytest.raises(UsageError, match="take no --weights"):
        build_mf({}, "some/weights.safetensors")


def test_ranking_metrics_match_torchmetrics():
    from torchmetrics.functional.retrieval import (retrieval_hit_rate, retrieval_normalized_dcg, retrieval_precision,
                                                   retrieval_recall, retrieval_reciprocal_rank)

    reference = {"recall": retrieval_recall, "ndcg": retrieval_normalized_dcg, "hit": retrieval_hit_rate,
                 "mrr": retrieval_reciprocal_rank, "precision": retrieval_precision}
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(40, 60))
    relevant = rng.random((40, 60)) < 0.05
    relevant[np.arange(40), rng.integers(0, 60, 40)] = True
    scores[rng.random((40, 60)) < 0.2] = -np.inf  # left out: seen in training
    relevant &= np.isfinite(scores)
    ours = per_user(scores, relevant, 10)
    for row in range(40):
        keep = np.isfinite(scores[row])
        if not relevant[row, keep].any():
            continue
        preds = torch.from_numpy(scores[row, keep] - scores[row, keep].min() + 1)
        target = torch.from_numpy(relevant[row, keep])
        for name, function in reference.items():
            assert ours[name][row] == pytest.approx(float(function(preds, target, top_k=10)), abs=1e-6), name


def test_top_items_leave_out_and_popularity(fitted):
    scores = np.array([[9.0, 1.0, 5.0, 5.0, 7.0, -1.0, 0.0, 2.0, 3.0, 4.0]])
    user = fitted.users.code("u0")
    ranked = leave_out(scores, np.array([user]), fitted.history)[0]
    assert ranked[0] == -np.inf and np.isneginf(ranked[fitted.history.seen(user)]).all()
    best = top_items(ranked, 3)
    assert len(best) == 3 and not set(best) & set(fitted.history.seen(user).tolist()) and 0 not in best
    assert top_items(np.array([-np.inf, 1.0, 1.0, 2.0]), 5).tolist() == [3, 1, 2]  # ties: lower code first
    assert top_items(popularity_scores(np.array([0, 3, 5, 3])), 3).tolist() == [2, 1, 3]
