"""The nlp plugin's registrations. Light: heavy imports live in the factories."""
from hub_core import hookimpl
from hub_core.specs import BackboneSpec, InputSpec, ModalitySpec

PLUGHUB_API = ">=1,<2"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="text",
        inputs=(InputSpec("input_ids", "int64", ("batch", "sequence")), InputSpec("attention_mask", "int64", ("batch", "sequence"))),
        reader="hub_nlp.data:read_examples",
        preprocessor="hub_nlp.preprocess:TextPreprocessor",
        file_types=(".csv", ".tsv", ".jsonl", ".txt", ".conll"),
        description="texts (and text pairs) from CSV/TSV/JSONL/CoNLL, tokenized",
    ))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("nlp/hf", "text", "hub_nlp.backbone:build", ("pooled", "sequence"),
                          "a transformers encoder (AutoModel) from a config, a local directory or a weights package"))
