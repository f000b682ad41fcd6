"""The nlp plugin's registrations. Light: heavy imports live in the factories."""
from hub_core import hookimpl
from hub_core.specs import BackboneSpec, HeadSpec, InputSpec, ModalitySpec, TaskSpec

PLUGHUB_API = ">=1,<2"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="text",
        inputs=(InputSpec("input_ids", "int64", ("batch", "sequence")),
                InputSpec("attention_mask", "int64", ("batch", "sequence")),
                InputSpec("token_type_ids", "int64", ("batch", "sequence"), optional=True)),
        reader="hub_nlp.data:read_examples",
        preprocessor="hub_nlp.preprocess:TextPreprocessor",
        file_types=(".csv", ".tsv", ".jsonl", ".txt", ".conll"),
        description="texts (and text pairs) from CSV/TSV/JSONL/CoNLL, tokenized",
    ))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("nlp/hf", "text", "hub_nlp.backbone:build", ("pooled", "sequence"),
                          "a transformers encoder (AutoModel) from a config, a local directory, the offline HF cache "
                          "(nlp/hf:ORG/NAME) or a weights package"))


@hookimpl
def register_heads(register):
    register(HeadSpec("mlm", "sequence", "hub_nlp.heads:MaskedLMHead",
                      "BERT's masked-LM head: dense + GELU + LayerNorm, then a decoder to the vocabulary"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("token-classification", "token-linear", "hub_nlp.token_classification:TokenClassificationTask",
                      "a tag per word, e.g. NER with BIO tags (entity-level F1 by seqeval)", modalities=("text",)))
    register(TaskSpec("mlm", "mlm", "hub_nlp.mlm:MaskedLMTask",
                      "masked-language-model pre-training (BERT's dynamic 15 % masking)", modalities=("text",),
                      pretraining=True))
