"""A transformers encoder-decoder (``AutoModelForSeq2SeqLM``: BART, Marian, T5...) as a hub
backbone, and the two graphs its generation runs as.

  config only               ``model_type`` + its config keys (d_model, encoder_layers...): random
                            init; the preprocessor trains a Unigram tokenizer on the corpus and
                            ``fit_to`` sizes the vocabulary and the special tokens to it
  weights = a directory     a local checkpoint in ``save_pretrained`` format (with its tokenizer)

Training is teacher-forced: given ``decoder_input_ids`` the backbone yields the decoder's
next-token scores (feature ``lm_logits``), which the head passes on. Generation runs two graphs
(``graphs``): the encoder, which also takes the first decoder step, and a decoder step whose
self-attention key/value cache is explicit: ``past_keys`` / ``past_values`` (layers, batch,
heads, steps so far, head size) in, the same grown by one step out. Cross-attention is
recomputed from ``memory`` at each step, so the graphs carry one cache, not two.
"""
from __future__ import annotations

import torch
from torch import nn

from hub_core.api import Backbone, Head, HubError, UsageError

from hub_nlp.backbone import PROVENANCE_KEYS, locate_pretrained

DEFAULT = {"model_type": "bart", "d_model": 256, "encoder_layers": 3, "decoder_layers": 3,
           "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 1024,
           "decoder_ffn_dim": 1024, "max_position_embeddings": 256}


class Seq2SeqBackbone(Backbone):
    def __init__(self, model, max_length: int, tokenizer_dir=None):
        super().__init__()
        self.model, self.max_length, self.tokenizer_dir = model, max_length, tokenizer_dir
        self.feature_dim = model.config.d_model if hasattr(model.config, "d_model") else model.config.hidden_size

    def forward(self, input_ids, attention_mask, decoder_input_ids=None, **ignored):
        if decoder_input_ids is None:
            memory = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return {"memory": memory}
        # no decoder mask: padding ends each target, and causal attention never looks ahead at it
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids)
        return {"lm_logits": out.logits}

    def hub_config(self) -> dict:
        config = {k: v for k, v in self.model.config.to_diff_dict().items() if k not in PROVENANCE_KEYS}
        return {**config, "model_type": self.model.config.model_type, "max_length": self.max_length}

    def preprocessor_config(self) -> dict:
        config = {"max_length": self.max_length, "token_type_ids": False, "lowercase": False,
                  "decoder_start": self.model.config.decoder_start_token_id if self.tokenizer_dir else None}
        if self.tokenizer_dir is not None:
            config["tokenizer"] = str(self.tokenizer_dir)
        else:
            config["vocab_size"] = self.model.config.vocab_size
        return config

    def fit_to(self, preprocessor) -> None:
        """The vocabulary and special tokens of the preprocessor's tokenizer (one trained on the corpus)."""
        size = preprocessor.vocab_size
        if size != self.model.get_input_embeddings().num_embeddings:
            self.model.resize_token_embeddings(size)
            for module in self.model.modules():  # BART's final_logits_bias is left a view of the old one:
                for name, buffer in module._buffers.items():  # safetensors saves whole tensors only
                    if buffer is not None:
                        module._buffers[name] = buffer.clone()
        config = self.model.config
        config.pad_token_id, config.eos_token_id = preprocessor.specials["pad"], preprocessor.end
        config.decoder_start_token_id = config.bos_token_id = preprocessor.start
        config.forced_eos_token_id = None
        for generation in (getattr(self.model, "generation_config", None),):
            if generation is not None:
                generation.pad_token_id, generation.eos_token_id = config.pad_token_id, config.eos_token_id
                generation.decoder_start_token_id = generation.bos_token_id = config.decoder_start_token_id
                generation.forced_eos_token_id = None


def build(config: dict, weights: str | None = None) -> Seq2SeqBackbone:
    from transformers import AutoConfig, AutoModelForSeq2SeqLM
    from transformers.utils import logging

    config = dict(config)
    max_length = config.pop("max_length", 128)
    logging.set_verbosity_error()
    try:
        if weights:
            directory = locate_pretrained(str(weights))
            model = AutoModelForSeq2SeqLM.from_pretrained(directory, **config)
            has_tokenizer = (directory / "tokenizer.json").is_file()
            return Seq2SeqBackbone(model, max_length, directory if has_tokenizer else None)
        config = {**DEFAULT, **config} if config.get("model_type", "bart") == "bart" else config
        model_type = config.pop("model_type", None)
        if not model_type:
            raise UsageError("nlp/seq2seq needs config model_type (bart, marian, t5...) or weights (a directory)")
        config.setdefault("vocab_size", 8000)  # replaced by fit_to once the tokenizer is trained
        return Seq2SeqBackbone(AutoModelForSeq2SeqLM.from_config(AutoConfig.for_model(model_type, **config)), max_length)
    except (ValueError, KeyError, OSError, RuntimeError) as err:
        raise HubError(f"nlp/seq2seq: cannot build the model ({type(err).__name__}: {' '.join(str(err).split())})") \
            from None


class Seq2SeqLMHead(Head):
    """The decoder is the backbone's own (a transformers model is one module); this head passes its
    teacher-forced next-token scores on."""

    consumes = "lm_logits"

    def __init__(self, in_features: int, num_outputs: int, **options):
        super().__init__(in_features, num_outputs)

    def forward(self, features: dict):
        return features["lm_logits"]


def decoder_step(model, previous, memory, attention_mask, past_keys=None, past_values=None):
    """(next-token logits (B, V), keys, values (layers, B, heads, steps, head size)) of one decoder step."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    layers = None if past_keys is None else [(past_keys[i], past_values[i]) for i in range(past_keys.shape[0])]
    cache = EncoderDecoderCache(DynamicCache(layers), DynamicCache())
    out = model(encoder_outputs=(memory,), attention_mask=attention_mask, decoder_input_ids=previous[:, None],
                cache=cache, use_cache=True)
    grown = (getattr(out, "cache", None) or out.past_key_values).self_attention_cache
    return out.logits[:, -1], torch.stack([layer.keys for layer in grown.layers]), \
        torch.stack([layer.values for layer in grown.layers])


class EncoderGraph(nn.Module):
    """Source -> memory, and the first decoder step from the start token (the cache then never starts empty)."""

    def __init__(self, model, start: int):
        super().__init__()
        self.model, self.start = model, start

    def forward(self, input_ids, attention_mask):
        memory = self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        first = torch.full_like(input_ids[:, 0], self.start)
        logits, keys, values = decoder_step(self.model, first, memory, attention_mask)
        return memory, logits, keys, values


class StepGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, previous, memory, attention_mask, past_keys, past_values):
        return decoder_step(self.model, previous, memory, attention_mask, past_keys, past_values)
