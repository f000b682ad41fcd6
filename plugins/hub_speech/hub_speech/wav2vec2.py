"""wav2vec 2.0 / HuBERT / WavLM backbones from torchaudio.models, on raw waveforms.

Config: either ``architecture`` (a torchaudio factory: wav2vec2_base, hubert_base,
wavlm_base, ...; dropouts may be overridden), or the keyword arguments of
``torchaudio.models.wav2vec2_model`` (defaults: the base architecture's). Plus
``sample_rate`` (16000), ``normalize`` (per-clip zero mean, unit variance: true) and
``freeze_feature_encoder`` (default: frozen when starting from pre-trained weights, as is
customary; a randomly initialised encoder left frozen learns nothing, so it trains).

Weights: a local state dict (safetensors or .pth) in torchaudio's, fairseq's or Hugging
Face's naming; keys used only in pre-training (quantizer, CTC head...) are dropped.

The feature encoder runs with a padding-aware first GroupNorm (see ``encode_features``), so
batched and single-clip features agree; on unpadded input it is torchaudio's computation.
"""
from __future__ import annotations

import difflib
import re

import torch
import torchaudio
from torch import nn

from hub_core.api import Backbone, HubError, UsageError
from hub_speech.pooling import frame_mask, masked_mean
from hub_speech.state_dict import load_into, read_state_dict

ARCHITECTURES = (
    "wav2vec2_base", "wav2vec2_large", "wav2vec2_large_lv60k", "wav2vec2_xlsr_300m", "wav2vec2_xlsr_1b",
    "wav2vec2_xlsr_2b", "hubert_base", "hubert_large", "hubert_xlarge", "wavlm_base", "wavlm_large",
)
DROPOUTS = ("encoder_projection_dropout", "encoder_attention_dropout", "encoder_ff_interm_dropout",
            "encoder_dropout", "encoder_layer_drop")
# torchaudio.models.wav2vec2_model's arguments, at the base architecture's values.
CUSTOM_DEFAULTS = {
    "extractor_mode": "group_norm",
    "extractor_conv_layer_config": [[512, 10, 5]] + [[512, 3, 2]] * 4 + [[512, 2, 2]] * 2,
    "extractor_conv_bias": False,
    "encoder_embed_dim": 768,
    "encoder_projection_dropout": 0.1,
    "encoder_pos_conv_kernel": 128,
    "encoder_pos_conv_groups": 16,
    "encoder_num_layers": 12,
    "encoder_num_heads": 12,
    "encoder_attention_dropout": 0.1,
    "encoder_ff_interm_features": 3072,
    "encoder_ff_interm_dropout": 0.0,
    "encoder_dropout": 0.1,
    "encoder_layer_norm_first": False,
    "encoder_layer_drop": 0.05,
}
COMMON = {"sample_rate": 16000, "normalize": True, "freeze_feature_encoder": None}
# Tensors only pre-training or an earlier task's head uses; a backbone for new heads drops them.
UNUSED_KEYS = re.compile(r"^(aux\.|lm_head\.|projector\.|classifier\.|label_embs_concat|mask_emb|masked_spec_embed|"
                         r"quantizer\.|project_q\.|project_hid\.|final_proj\.)")


def _unknown_key(config: dict, allowed) -> None:
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], allowed, n=1)
        raise UsageError(f"speech/wav2vec2: unknown config key {unknown[0]!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(sorted(allowed))}"))


def resolve_config(config: dict) -> dict:
    """The complete config: named architecture + dropouts, or every wav2vec2_model argument."""
    config = dict(config)
    if "variant" in config:  # "speech/wav2vec2:hubert_base"
        config["architecture"] = config.pop("variant")
    common = {key: config.pop(key, value) for key, value in COMMON.items()}
    if "architecture" in config:
        name = config.pop("architecture")
        if name not in ARCHITECTURES:
            hint = difflib.get_close_matches(str(name), ARCHITECTURES, n=1)
            raise UsageError(f"speech/wav2vec2: unknown architecture {name!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(ARCHITECTURES)}"))
        _unknown_key(config, DROPOUTS)
        return {"architecture": name, **config, **common}
    _unknown_key(config, CUSTOM_DEFAULTS)
    resolved = {**CUSTOM_DEFAULTS, **config, **common}
    resolved["extractor_conv_layer_config"] = [list(map(int, layer)) for layer in resolved["extractor_conv_layer_config"]]
    return resolved


def receptive_field(conv_layers) -> int:
    """Samples the convolutional feature encoder needs to produce one frame (400 for base)."""
    field = 1
    for _, kernel, stride in reversed(conv_layers):
        field = (field - 1) * stride + kernel
    return field


def torchaudio_keys(state: dict) -> dict:
    """Rename fairseq or Hugging Face keys to torchaudio's; drop pre-training-only tensors."""
    if any(k.startswith(("w2v_model.", "post_extract_proj.")) or re.match(r"feature_extractor\.conv_layers\.\d+\.0\.", k)
           for k in state):
        from torchaudio.models.wav2vec2.utils.import_fairseq import _map_key  # torchaudio's own fairseq mapping

        try:
            state = {new: v for k, v in state.items() if (new := _map_key(k)) is not None}
        except ValueError as err:
            raise HubError(f"a fairseq-style checkpoint with a key torchaudio does not know ({err})") from None
    elif any(k.startswith(("wav2vec2.", "hubert.", "feature_projection.")) for k in state):
        state = {_from_hugging_face(k): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not UNUSED_KEYS.match(k)}
    # Checkpoints saved before torch's weight-norm parametrisation name the pos-conv weight g and v.
    return {k.replace("conv.weight_g", "conv.parametrizations.weight.original0")
             .replace("conv.weight_v", "conv.parametrizations.weight.original1"): v for k, v in state.items()}


def _from_hugging_face(key: str) -> str:
    """transformers' Wav2Vec2Model/HubertModel names -> torchaudio's (as its import_huggingface maps them)."""
    key = re.sub(r"^(wav2vec2|hubert)\.", "", key)
    if key.startswith("feature_projection."):
        return "encoder." + key
    if key.startswith("encoder."):
        return "encoder.transformer." + key.removeprefix("encoder.")
    return key


def masked_instance_norm(x: torch.Tensor, mask: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """``norm`` (one group per channel, as wav2vec2's first conv layer has) over real frames only."""
    count = mask.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (x * mask).sum(-1, keepdim=True) / count
    variance = (((x - mean) * mask) ** 2).sum(-1, keepdim=True) / count
    normalised = (x - mean) / torch.sqrt(variance + norm.eps)
    return normalised * norm.weight[None, :, None] + norm.bias[None, :, None]


class Wav2Vec2Backbone(Backbone):
    lora_targets = ("q_proj", "v_proj")

    def __init__(self, config: dict, pretrained: bool = False):
        super().__init__()
        self.config = resolve_config(config)
        if self.config["freeze_feature_encoder"] is None:
            self.config["freeze_feature_encoder"] = pretrained  # resolved, so a saved model keeps the choice
        model_args = {k: v for k, v in self.config.items() if k not in COMMON}
        if "architecture" in model_args:
            self.model = getattr(torchaudio.models, model_args.pop("architecture"))(**model_args)
        else:
            model_args["extractor_conv_layer_config"] = [tuple(x) for x in model_args["extractor_conv_layer_config"]]
            self.model = torchaudio.models.wav2vec2_model(**model_args, aux_num_out=None)
        self.feature_dim = self.model.encoder.feature_projection.projection.out_features
        layers = self.model.feature_extractor.conv_layers
        first = layers[0].layer_norm
        if isinstance(first, nn.GroupNorm) and first.num_groups != first.num_channels:
            raise UsageError("speech/wav2vec2: the first conv layer's GroupNorm must have one group per channel")
        self.min_samples = receptive_field([(0, block.kernel_size, block.stride) for block in layers])

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> dict:
        if lengths is None:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long, device=waveform.device)
        features, frames = self.encode_features(waveform, lengths)
        sequence = self.model.encoder(features, frames)
        mask = frame_mask(frames, sequence.shape[1])
        return {"pooled": masked_mean(sequence, mask), "sequence": sequence, "mask": mask}

    def encode_features(self, waveform: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """torchaudio's convolutional feature encoder, except that the base models' GroupNorm
        counts only the frames of real samples and padding frames are zeroed: a clip's features
        do not depend on how much its batch was padded (torchaudio's and Hugging Face's do)."""
        x = waveform.unsqueeze(1)
        for block in self.model.feature_extractor.conv_layers:
            x = block.conv(x)
            lengths = (torch.div(lengths - block.kernel_size, block.stride, rounding_mode="floor") + 1).clamp(min=0)
            mask = frame_mask(lengths, x.shape[-1]).unsqueeze(1).to(x.dtype)
            if isinstance(block.layer_norm, nn.GroupNorm):
                x = masked_instance_norm(x, mask, block.layer_norm)
            elif block.layer_norm is not None:
                x = block.layer_norm(x)
            x = nn.functional.gelu(x) * mask
        return x.transpose(1, 2), lengths

    def hub_config(self) -> dict:
        return dict(self.config)

    def preprocessor_config(self) -> dict:
        return {"sample_rate": self.config["sample_rate"], "normalize": self.config["normalize"],
                "min_samples": self.min_samples}

    def blocks(self) -> list:
        """Feature encoder, projection, positional conv, then each transformer layer; the
        transformer's layer norm goes with the block it follows (first layer if pre-LN, last if post-LN)."""
        transformer = self.model.encoder.transformer
        layers = list(transformer.layers)
        if transformer.layer_norm_first:
            entry, layers = nn.ModuleList([transformer.pos_conv_embed, transformer.layer_norm]), layers
        else:
            entry, layers = transformer.pos_conv_embed, [*layers[:-1], nn.ModuleList([layers[-1], transformer.layer_norm])]
        return [self.model.feature_extractor, self.model.encoder.feature_projection, entry, *layers]

    def frozen_by_default(self) -> list:
        return [self.model.feature_extractor] if self.config["freeze_feature_encoder"] else []

    def load_weights(self, source: str) -> None:
        state, path = read_state_dict(source)
        load_into(self.model, torchaudio_keys(state), path)


def build_wav2vec2(config: dict, weights: str | None = None) -> Wav2Vec2Backbone:
    backbone = Wav2Vec2Backbone(config, pretrained=bool(weights))
    if weights:
        backbone.load_weights(weights)
    return backbone
