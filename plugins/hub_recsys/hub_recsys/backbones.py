"""The recommender backbones: MF, two-tower, NeuMF and DeepFM.

Each maps ``user`` and ``item`` codes (B,) to ``pooled`` interaction features (B, D) and,
where the model has them, ``bias`` (B,) terms; ``hub_recsys.heads.ScoreHead`` turns them
into one score. Factorised backbones (MF, two-tower) also expose ``user_vectors`` /
``item_vectors`` with ``pooled = user_vectors * item_vectors``, so all items can be scored
by a matrix product and exported as two towers.

The vocabulary sizes and side-feature fields come from the fitted preprocessor
(``fit_to``) and are kept in ``hub_config``, so a saved model rebuilds without data.
"""
from __future__ import annotations

import difflib

import torch
from torch import nn

from hub_core.api import Backbone, ConfigError, UsageError

from hub_recsys.layers import SideFeatures, id_embedding, mlp

COMMON = {"dim": 32, "hidden": [64], "dropout": 0.0, "num_users": 1, "num_items": 1, "user_fields": [],
          "item_fields": []}


class RecsysBackbone(Backbone):
    factorised = False

    def __init__(self, config: dict):
        super().__init__()
        unknown = sorted(set(config) - set(COMMON))
        if unknown:
            hint = difflib.get_close_matches(unknown[0], COMMON, n=1)
            raise ConfigError(f"{type(self).__name__}: unknown config key {unknown[0]!r}"
                              + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(COMMON)}"))
        self.config = {**COMMON, **config}
        if int(self.config["dim"]) < 1 or any(int(h) < 1 for h in self.config["hidden"]):
            raise ConfigError(f"{type(self).__name__}: dim and hidden sizes must be positive")
        self.build()

    def build(self) -> None:
        """(Re)create the layers from ``self.config``."""
        raise NotImplementedError

    def fit_to(self, preprocessor) -> None:
        """Size the ID tables to the fitted vocabularies and take in the side features."""
        self.config.update(preprocessor.schema())
        self.build()
        for side in ("user", "item"):
            module = getattr(self, f"{side}_features", None)
            if module is not None:
                module.load_tables(preprocessor.side[side])

    def hub_config(self) -> dict:
        return dict(self.config)

    def preprocessor_config(self) -> dict:
        return {}

    def id_tables(self, dim: int):
        """(user, item) ID embeddings of width ``dim``, sized to the vocabularies."""
        return id_embedding(self.config["num_users"], dim), id_embedding(self.config["num_items"], dim)

    def side_features(self):
        """(user, item) SideFeatures modules for the configured fields."""
        c = self.config
        return (SideFeatures(c["user_fields"], c["num_users"], c["dim"]),
                SideFeatures(c["item_fields"], c["num_items"], c["dim"]))


class MatrixFactorization(RecsysBackbone):
    """score = <p_u, q_i> + b_u + b_i (+ the head's global bias); side features unused."""

    factorised = True

    def build(self):
        c = self.config
        self.feature_dim = c["dim"]
        self.user_embedding, self.item_embedding = self.id_tables(c["dim"])
        self.user_bias, self.item_bias = self.id_tables(1)

    def user_vectors(self, user):
        return self.user_embedding(user), self.user_bias(user)[:, 0]

    def item_vectors(self, item):
        return self.item_embedding(item), self.item_bias(item)[:, 0]

    def forward(self, user, item, **_):
        (p, b_u), (q, b_i) = self.user_vectors(user), self.item_vectors(item)
        return {"pooled": p * q, "bias": b_u + b_i}

    def blocks(self):
        return [nn.ModuleList([self.user_bias, self.item_bias]),
                nn.ModuleList([self.user_embedding, self.item_embedding])]


class TwoTower(RecsysBackbone):
    """Each tower: ID embedding + side-feature vectors -> MLP -> ``dim``; score = <u, v>."""

    factorised = True

    def build(self):
        c = self.config
        self.feature_dim = c["dim"]
        self.user_embedding, self.item_embedding = self.id_tables(c["dim"])
        self.user_features, self.item_features = self.side_features()
        width = lambda features: c["dim"] * (1 + features.count)  # noqa: E731
        self.user_tower = mlp([width(self.user_features), *c["hidden"], c["dim"]], c["dropout"], last_activation=False)
        self.item_tower = mlp([width(self.item_features), *c["hidden"], c["dim"]], c["dropout"], last_activation=False)

    def _tower(self, codes, embedding, features, tower):
        parts = torch.cat([embedding(codes).unsqueeze(1), features(codes)], 1)
        return tower(parts.flatten(1))

    def user_vectors(self, user):
        vectors = self._tower(user, self.user_embedding, self.user_features, self.user_tower)
        return vectors, vectors.new_zeros(vectors.shape[0])

    def item_vectors(self, item):
        vectors = self._tower(item, self.item_embedding, self.item_features, self.item_tower)
        return vectors, vectors.new_zeros(vectors.shape[0])

    def forward(self, user, item, **_):
        return {"pooled": self.user_vectors(user)[0] * self.item_vectors(item)[0]}

    def blocks(self):
        return [nn.ModuleList([self.user_embedding, self.item_embedding, self.user_features, self.item_features]),
                nn.ModuleList([self.user_tower, self.item_tower])]


class NeuMF(RecsysBackbone):
    """He et al. 2017: GMF (p_u * q_i) beside an MLP over [p'_u, q'_i]; features concatenated."""

    def build(self):
        c = self.config
        half = max(1, c["hidden"][0] // 2)
        self.feature_dim = c["dim"] + c["hidden"][-1]
        self.gmf_user, self.gmf_item = self.id_tables(c["dim"])
        self.mlp_user, self.mlp_item = self.id_tables(half)
        self.mlp = mlp([2 * half, *c["hidden"]], c["dropout"])

    def forward(self, user, item, **_):
        gmf = self.gmf_user(user) * self.gmf_item(item)
        deep = self.mlp(torch.cat([self.mlp_user(user), self.mlp_item(item)], -1))
        return {"pooled": torch.cat([gmf, deep], -1)}

    def blocks(self):
        return [nn.ModuleList([self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item]), self.mlp]


class DeepFM(RecsysBackbone):
    """Guo et al. 2017: fields = user ID, item ID and every side feature; an FM (first-order
    weights + pairwise interactions) beside a deep MLP over the same field embeddings."""

    def build(self):
        c = self.config
        self.user_embedding, self.item_embedding = self.id_tables(c["dim"])
        self.user_features, self.item_features = self.side_features()
        self.user_weight, self.item_weight = self.id_tables(1)
        self.user_feature_weights = SideFeatures(c["user_fields"], c["num_users"], 1)
        self.item_feature_weights = SideFeatures(c["item_fields"], c["num_items"], 1)
        fields = 2 + self.user_features.count + self.item_features.count
        self.deep = mlp([fields * c["dim"], *c["hidden"]], c["dropout"])
        self.feature_dim = c["dim"] + c["hidden"][-1]

    def fit_to(self, preprocessor):
        super().fit_to(preprocessor)
        self.user_feature_weights.load_tables(preprocessor.side["user"])
        self.item_feature_weights.load_tables(preprocessor.side["item"])

    def forward(self, user, item, **_):
        fields = torch.cat([self.user_embedding(user).unsqueeze(1), self.item_embedding(item).unsqueeze(1),
                            self.user_features(user), self.item_features(item)], 1)  # (B, F, dim)
        pairwise = 0.5 * (fields.sum(1).pow(2) - fields.pow(2).sum(1))  # sums to the FM's second-order term
        first_order = (self.user_weight(user)[:, 0] + self.item_weight(item)[:, 0]
                       + self.user_feature_weights(user).sum((1, 2)) + self.item_feature_weights(item).sum((1, 2)))
        return {"pooled": torch.cat([pairwise, self.deep(fields.flatten(1))], -1), "bias": first_order}

    def blocks(self):
        return [nn.ModuleList([self.user_embedding, self.item_embedding, self.user_features, self.item_features,
                               self.user_weight, self.item_weight, self.user_feature_weights,
                               self.item_feature_weights]), self.deep]


def _build(cls, config: dict, weights):
    if weights is not None:
        raise UsageError("recommender backbones train from scratch on your interactions and take no --weights; "
                         "to continue training a model, pass its model directory as MODEL")
    return cls(dict(config))


def build_mf(config: dict, weights=None) -> MatrixFactorization:
    return _build(MatrixFactorization, config, weights)


def build_two_tower(config: dict, weights=None) -> TwoTower:
    return _build(TwoTower, config, weights)


def build_neumf(config: dict, weights=None) -> NeuMF:
    return _build(NeuMF, config, weights)


def build_deepfm(config: dict, weights=None) -> DeepFM:
    return _build(DeepFM, config, weights)
