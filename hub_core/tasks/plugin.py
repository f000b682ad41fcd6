"""The core's own plugin: tasks and heads tied to no modality.

It is registered through the very same hooks as any third-party plugin, and like one it
imports only ``hub_core.api`` (``tests/test_architecture.py`` checks it).
"""
from hub_core.api import HeadSpec, TaskSpec, hookimpl


@hookimpl
def register_heads(register):
    register(HeadSpec("linear", "pooled", "hub_core.tasks.heads:LinearHead", "dropout + linear layer on pooled features"))
    register(HeadSpec("mlp", "pooled", "hub_core.tasks.heads:MLPHead", "two-layer MLP on pooled features"))
    register(HeadSpec("token-linear", "sequence", "hub_core.tasks.heads:TokenLinearHead", "linear layer per token"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("classification", "linear", "hub_core.tasks.classification:ClassificationTask",
                      "single-label classification (cross-entropy; accuracy, macro-F1)"))
    register(TaskSpec("multilabel", "linear", "hub_core.tasks.multilabel:MultiLabelTask",
                      "multi-label classification (sigmoid per label; micro/macro F1, mAP)"))
    register(TaskSpec("regression", "linear", "hub_core.tasks.regression:RegressionTask",
                      "regression of one number (MSE; MAE, RMSE, R²)"))
