"""What this plugin registers. Imported at every ``hub`` start, so it stays light:
no torch here, factories are named by import path and imported only when used."""
from hub_core.api import BackboneSpec, HeadSpec, InputSpec, ModalitySpec, hookimpl

PLUGHUB_API = ">=2,<3"  # the core plugin-contract versions this plugin was written for


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="tabular",
        inputs=(InputSpec("numeric", "float32", ("batch", "numeric_columns")),
                InputSpec("categorical", "int64", ("batch", "categorical_columns"))),
        reader="hub_tabular.data:read_examples",
        preprocessor="hub_tabular.preprocess:TabularPreprocessor",
        file_types=(".csv", ".tsv", ".jsonl"),
        description="rows of numeric and categorical columns (CSV/TSV/JSONL); standardised, vocabularies fitted",
    ))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("tabular/mlp", "tabular", "hub_tabular.backbone:build", ("pooled",),
                          "category embeddings + standardised numbers -> residual MLP (sized on your columns)",
                          {"hidden": [64, 64], "dropout": 0.1, "max_embedding_dim": 16}))


@hookimpl
def register_heads(register):
    register(HeadSpec("cosine", "pooled", "hub_tabular.heads:CosineHead",
                      "cosine similarity to learned class prototypes, times a learned scale"))
