"""--layer-decay: each backbone layer down trains at the factor below the one above; the head keeps its rate."""
from types import SimpleNamespace

import pytest
from torch import nn

from hub_core.common.errors import ConfigError
from hub_core.model.modules import Backbone
from hub_core.train.config import TrainConfig, check
from hub_core.train.loop import make_optimizer


class Stacked(Backbone):
    """embedding -> 3 blocks -> final norm, registered in that order."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 4)
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.norm = nn.LayerNorm(4)

    def blocks(self):
        return list(self.layers)


def lr_of(optimizer, parameter) -> float:
    return next(g["lr"] for g in optimizer.param_groups if any(p is parameter for p in g["params"]))


def test_each_layer_down_trains_at_the_decay_factor_of_the_one_above():
    backbone, head = Stacked(), nn.Linear(4, 2)
    model = SimpleNamespace(backbone=backbone, head=head)
    optimizer, _ = make_optimizer(model, TrainConfig(lr=1e-3, head_lr=1e-2, layer_decay=0.5), total_steps=10)
    assert lr_of(optimizer, head.weight) == pytest.approx(1e-2)  # the head: its own rate
    assert lr_of(optimizer, backbone.norm.weight) == pytest.approx(1e-3 * 0.5)  # after the top block: its depth
    for k, layer in enumerate(backbone.layers):  # top block lr * 0.5, the next lr * 0.25, ...
        assert lr_of(optimizer, layer.weight) == pytest.approx(1e-3 * 0.5 ** (3 - k))
    assert lr_of(optimizer, backbone.embedding.weight) == pytest.approx(1e-3 * 0.5 ** 4)
    plain, _ = make_optimizer(model, TrainConfig(lr=1e-3), total_steps=10)
    assert {g["lr"] for g in plain.param_groups} == {1e-3}  # 1.0, the default: one rate
    with pytest.raises(ConfigError, match="layer_decay must be above 0 and at most 1, got 1.5"):
        check(TrainConfig(layer_decay=1.5))

