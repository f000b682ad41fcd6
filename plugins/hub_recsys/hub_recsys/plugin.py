"""The recsys plugin's registrations. Light: heavy imports live in the factories."""
from pathlib import Path

from hub_core.api import BackboneSpec, DemoSpec, HeadSpec, InputSpec, ModalitySpec, TaskSpec, hookimpl, read_presets

PLUGHUB_API = ">=2,<3"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="interactions",
        inputs=(InputSpec("user", "int64", ("batch",)), InputSpec("item", "int64", ("batch",))),
        reader="hub_recsys.data:read_examples",
        preprocessor="hub_recsys.preprocess:InteractionPreprocessor",
        file_types=(".csv", ".tsv", ".jsonl"),
        args_per_input=2,  # hub predict DIR USER ITEM [USER ITEM ...]
        ranker="hub_recsys.recommend:UserRanker",  # hub serve: {"user": ID} -> the top-K items
        description="user-item interactions (CSV/TSV/JSONL) with optional ratings, timestamps, side features",
    ))


@hookimpl
def register_backbones(register):
    for name, what in [("mf", "matrix factorisation with user/item biases"),
                       ("two-tower", "two towers: ID embeddings + side-feature MLPs"),
                       ("neumf", "NeuMF: GMF + MLP"), ("deepfm", "DeepFM: FM + deep MLP over ID and side fields")]:
        register(BackboneSpec(f"recsys/{name}", "interactions", "hub_recsys.backbones:build_" + name.replace("-", "_"),
                              ("pooled",), what))


@hookimpl
def register_heads(register):
    register(HeadSpec("recsys/score", "pooled", "hub_recsys.heads:ScoreHead",
                      "one score: linear in the interaction features plus the backbone's biases"))


@hookimpl
def register_tasks(register):
    interactions = ("interactions",)
    register(TaskSpec("recsys/rating", "recsys/score", "hub_recsys.rating:RatingTask",
                      "rating prediction (MSE; MAE, RMSE)", modalities=interactions))
    register(TaskSpec("recsys/ctr", "recsys/score", "hub_recsys.ctr:CtrTask",
                      "click / implicit binary prediction (BCE; AUC, log-loss)", modalities=interactions))
    register(TaskSpec("recsys/retrieval", "recsys/score", "hub_recsys.retrieval:RetrievalTask",
                      "top-K retrieval over all items (BPR; Recall/NDCG/Hit/MRR@10 vs popularity)",
                      modalities=interactions))


@hookimpl
def register_commands(cli):
    from hub_recsys.commands import add_commands

    add_commands(cli)


@hookimpl
def register_demos(register):
    register(DemoSpec("interactions", "interactions", "recsys/mf", "retrieval", "hub_recsys.demo:make_data",
                      {"epochs": 5, "batch_size": 256, "lr": 0.02},
                      "an interaction log with planted taste clusters, generated, split leave-last-out"))


@hookimpl
def register_presets(register):
    for preset in read_presets(Path(__file__).with_name("presets.toml")):
        register(preset)
