"""Registers the `multimodal` modality and the `fusion` backbone, like any plugin."""
from hub_core.api import BackboneSpec, ModalitySpec, hookimpl


@hookimpl
def register_modalities(register):
    register(ModalitySpec("multimodal", (), "hub_fusion.modality:read_examples", "hub_fusion.modality:FusionPreprocessor",
                          (".csv", ".tsv", ".jsonl"),
                          "rows with one column per part (a text, an image path, an audio path...) for a fusion model",
                          needs_catalogue=True))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("fusion", "multimodal", "hub_fusion.backbone:build", ("pooled",),
                          "backbones of several modalities fused into one (--model text=MODEL --model image=MODEL)",
                          needs_catalogue=True))
