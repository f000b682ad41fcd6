"""A transformers encoder (``AutoModel``) as a hub Backbone.

Where it comes from (``build(config, weights)``):
  config only                    ``model_type`` + HF config keys (hidden_size, ...): random
                                 init; the tokenizer is trained on the corpus, then
                                 ``fit_to`` resizes the embeddings to its vocabulary
  weights = a directory          ``save_pretrained`` format (config.json, weights, tokenizer)
  weights = package:MOD/path     such a directory inside an installed weights package
  weights = hf:ORG/NAME          a model in the local Hugging Face cache (never downloaded)
  nlp/hf:ORG/NAME or nlp/hf:DIR  the same, named on the command line (``variant``)

Hub-only config keys: ``pooling`` ("cls": the first token's state, "mean": masked mean of
the token states) and ``max_length``. Every other key is a transformers config field.
"""
from __future__ import annotations

import contextlib
import pickle
from pathlib import Path

import torch

from hub_core.api import Backbone, HubError, UsageError, downloads_allowed, locate, unpickling_refused

POOLINGS = ("cls", "mean")
# Attention projections LoRA adapts, by model family (BERT, DistilBERT, most others, T5).
LORA_CANDIDATES = (("query", "value"), ("q_lin", "v_lin"), ("q_proj", "v_proj"), ("q", "v"))
# Config fields that describe where a model came from rather than what it is.
PROVENANCE_KEYS = ("transformers_version", "_name_or_path", "architectures")


def locate_pretrained(source: str) -> Path:
    """A directory in save_pretrained format from a path, a package or the offline HF cache."""
    if source.startswith("hf:"):
        return _from_hf_cache(source[3:])
    if not source.startswith("package:") and not Path(source).expanduser().exists():
        return _from_hf_cache(source)  # nlp/hf:ORG/NAME
    path = locate(source)
    if not path.is_dir() or not (path / "config.json").is_file():
        raise HubError(f"{source}: expected a directory in save_pretrained format (with config.json)")
    return path


def _from_hf_cache(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    fetch = downloads_allowed()  # --download: the user asked; otherwise the local cache only
    try:
        return Path(snapshot_download(repo_id, local_files_only=not fetch))
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise HubError(f"{repo_id!r} is neither a local directory nor in the local Hugging Face cache "
                       f"(nothing is downloaded unless asked: --download, or 'hf download {repo_id}' once)") from None
    except Exception as err:  # noqa: BLE001 - with --download, the hub's own errors (404, auth, network): one line
        if not fetch:
            raise
        raise HubError(f"--download: cannot fetch {repo_id!r} from the Hugging Face Hub "
                       f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})") from None


BERT_LIKE = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "distilbert")  # onnxruntime's "bert" optimizer


class TransformerBackbone(Backbone):
    def __init__(self, model, pooling: str, max_length: int | None, tokenizer_dir: Path | None):
        super().__init__()
        if pooling not in POOLINGS:
            raise UsageError(f"pooling {pooling!r} must be one of {', '.join(POOLINGS)}")
        if getattr(model, "pooler", None) is not None:
            model.pooler = None  # BERT's dense+tanh pooler: unused by both poolings, and DDP dislikes unused weights
        self.model = model
        self.pooling = pooling
        self.max_length = max_length or min(512, getattr(model.config, "max_position_embeddings", 512))
        self.tokenizer_dir = tokenizer_dir
        self.feature_dim = model.config.hidden_size
        self.uses_token_types = getattr(model.config, "type_vocab_size", 0) > 1
        names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
        self.lora_targets = next((pair for pair in LORA_CANDIDATES if set(pair) <= names), ())

    def forward(self, input_ids, attention_mask, token_type_ids=None, **ignored):
        extra = {"token_type_ids": token_type_ids} if token_type_ids is not None and self.uses_token_types else {}
        sequence = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        mask = attention_mask.bool()
        if self.pooling == "cls":
            pooled = sequence[:, 0]
        else:
            weights = attention_mask.unsqueeze(-1).to(sequence.dtype)
            pooled = (sequence * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        features = {"pooled": pooled, "sequence": sequence, "mask": mask}
        if ignored.get("mlm_positions") is not None:  # masked-LM training: the head predicts these only
            features["mlm_positions"] = ignored["mlm_positions"]
        return features

    def onnx_fusion(self) -> dict | None:
        """BERT-like encoders get onnxruntime's "bert" fusions (hub_core.deploy.fusion), from
        the TorchScript graph of eager attention (``exporting``): the one graph whose attention
        and embeddings onnxruntime 1.32 fuses (Attention, EmbedLayerNormalization); the dynamo
        graph, and sdpa attention under either exporter, fuse only LayerNorm and GELU."""
        config = self.model.config
        if config.model_type not in BERT_LIKE:
            return None
        return {"model_type": "bert", "num_heads": getattr(config, "num_attention_heads", 0),
                "hidden_size": config.hidden_size, "exporter": "torchscript"}

    @contextlib.contextmanager
    def exporting(self):
        """Eager attention while exporting (see ``onnx_fusion``); training keeps its own."""
        before = self.model.config._attn_implementation
        switch = before != "eager" and self.model._can_set_attn_implementation()
        if switch:
            self.model.set_attn_implementation("eager")
        try:
            yield
        finally:
            if switch:
                self.model.set_attn_implementation(before)

    def hub_config(self) -> dict:
        config = {k: v for k, v in self.model.config.to_diff_dict().items() if k not in PROVENANCE_KEYS}
        return {**config, "model_type": self.model.config.model_type, "pooling": self.pooling, "max_length": self.max_length}

    def preprocessor_config(self) -> dict:
        config = {"max_length": self.max_length, "token_type_ids": self.uses_token_types}
        if self.tokenizer_dir is not None:
            config["tokenizer"] = str(self.tokenizer_dir)
        else:  # the size of the WordPiece vocabulary to train
            config["vocab_size"] = self.model.config.vocab_size
        return config

    def fit_to(self, preprocessor) -> None:
        """Match the embedding table to the preprocessor's tokenizer (one trained on the corpus);
        refuse a --max-length past the positions the model has embeddings for (an index error
        deep in the first batch otherwise)."""
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions and preprocessor.config.get("max_length", 0) > positions:
            raise UsageError(f"--max-length {preprocessor.config['max_length']} is beyond the {positions} positions "
                             f"this {self.model.config.model_type} model has embeddings for; use --max-length "
                             f"{min(positions, 512)} or less")
        size = preprocessor.vocab_size
        if size != self.model.get_input_embeddings().num_embeddings:
            self.model.resize_token_embeddings(size)
        self.model.config.pad_token_id = preprocessor.specials["pad"]

    def blocks(self) -> list:
        """The encoder's layers: the largest ModuleList of num_hidden_layers entries."""
        layers = getattr(self.model.config, "num_hidden_layers", None)
        for module in self.model.modules():
            if isinstance(module, torch.nn.ModuleList) and len(module) == layers:
                return list(module)
        return []


def build(config: dict, weights: str | None = None) -> TransformerBackbone:
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging

    config = dict(config)
    pooling = config.pop("pooling", "cls")
    max_length = config.pop("max_length", None)
    variant = config.pop("variant", None)
    source = weights or variant
    logging.set_verbosity_error()  # "some weights were not used (pooler...)" is expected, not news
    logging.disable_progress_bar()
    try:
        if source:
            directory = locate_pretrained(str(source))
            hf_config = AutoConfig.from_pretrained(directory, **config)
            model = AutoModel.from_pretrained(directory, config=hf_config)
            has_tokenizer = (directory / "tokenizer.json").is_file() or (directory / "vocab.txt").is_file()
            backbone = TransformerBackbone(model, pooling, max_length, directory if has_tokenizer else None)
            backbone.weights_from = str(source) if str(directory) == str(source) else f"{source} ({directory})"
            return backbone
        model_type = config.pop("model_type", None)
        if not model_type:
            raise UsageError("nlp/hf needs config model_type (e.g. 'bert') or weights (a directory, package: or hf:)")
        config.setdefault("vocab_size", 8000)  # replaced by fit_to once the tokenizer is trained
        model = AutoModel.from_config(AutoConfig.for_model(model_type, **config))
        return TransformerBackbone(model, pooling, max_length, None)
    except pickle.UnpicklingError as err:  # a pytorch_model.bin holding more than tensors: refused, never run
        raise unpickling_refused(source, err) from None
    except (ValueError, KeyError, OSError, RuntimeError) as err:  # RuntimeError: torch refusing the config's sizes
        raise HubError(f"nlp/hf: cannot build the model ({type(err).__name__}: {' '.join(str(err).split())})") from None
