"""Text heads: the masked-LM head (BERT's transform, then a decoder to the vocabulary) and the
extractive-QA span head."""
from __future__ import annotations

import torch
from torch import nn

from hub_core.api import Head

POSITIONS = "mlm_positions"  # (B, T) bool: the positions to predict (training); absent: all of them
SHIFT = 10.0  # the dense bias at init: GELU(h + 10) is h + 10 for all but outlying states, and LayerNorm removes the 10


class MaskedLMHead(Head):
    consumes = "sequence"

    def __init__(self, in_features: int, num_outputs: int, **options):
        super().__init__(in_features, num_outputs)
        self.transform = nn.Sequential(nn.Linear(in_features, in_features), nn.GELU(), nn.LayerNorm(in_features, eps=1e-12))
        self.decoder = nn.Linear(in_features, num_outputs)

    def forward(self, features: dict):
        sequence = features["sequence"]
        if features.get(POSITIONS) is not None:  # (N, vocab) for the N chosen positions only
            sequence = sequence[features[POSITIONS]]
        return self.decoder(self.transform(sequence))

    def init_from(self, backbone) -> None:
        """Start the decoder from the backbone's input embeddings (BERT ties the two), and
        the transform as LayerNorm(hidden state): the dense layer is the identity shifted
        into GELU's linear range, so the hidden state's direction reaches the decoder
        unchanged. With real weights the head then scores real tokens from the first step
        instead of noise whose gradients the first steps would push back into the encoder.
        The LayerNorm's scale (a temperature) and the decoder's bias (the corpus' token
        prior) are set from data by ``hub_nlp.headfit`` before the run starts."""
        self.new = True  # hub_nlp.headfit prepares new heads only, never a trained one continued from a directory
        embeddings = backbone.model.get_input_embeddings() if hasattr(backbone, "model") else None
        if embeddings is None or tuple(embeddings.weight.shape) != tuple(self.decoder.weight.shape):
            return
        with torch.no_grad():
            self.transform[0].weight.copy_(torch.eye(self.in_features))
            self.transform[0].bias.fill_(SHIFT)
            self.decoder.weight.copy_(embeddings.weight)
            self.decoder.bias.zero_()
        self.tied_init = True  # hub_nlp.headfit calibrates the temperature of such a head only


class SpanHead(Head):
    """Extractive QA: a start and an end score per token (BERT's SQuAD head, one linear layer)."""

    consumes = "sequence"

    def __init__(self, in_features: int, num_outputs: int = 2, **options):
        super().__init__(in_features, num_outputs)
        self.out = nn.Linear(in_features, 2)

    def forward(self, features: dict):
        start, end = self.out(features["sequence"]).unbind(-1)
        return {"start_logits": start, "end_logits": end}
