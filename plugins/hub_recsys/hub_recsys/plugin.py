"""The recsys plugin's registrations. Light: heavy imports live in the factories."""
from hub_core import hookimpl
from hub_core.specs import BackboneSpec, InputSpec, ModalitySpec

PLUGHUB_API = ">=1,<2"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="interactions",
        inputs=(InputSpec("user", "int64", ("batch",)), InputSpec("item", "int64", ("batch",))),
        reader="hub_recsys.data:read_examples",
        preprocessor="hub_recsys.preprocess:InteractionPreprocessor",
        file_types=(".csv", ".tsv"),
        description="user-item interactions (CSV/TSV) with optional ratings, timestamps, side features",
    ))


@hookimpl
def register_backbones(register):
    for name, what in [("mf", "matrix factorisation with user/item biases"),
                       ("two-tower", "two towers: ID embeddings + side-feature MLPs"),
                       ("neumf", "NeuMF: GMF + MLP"), ("deepfm", "DeepFM: FM + deep MLP over ID and side fields")]:
        register(BackboneSpec(f"recsys/{name}", "interactions", "hub_recsys.backbones:build_" + name.replace("-", "_"),
                              ("pooled",), what))
