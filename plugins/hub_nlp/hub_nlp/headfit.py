"""The masked-LM head made to fit the corpus before training moves the encoder.

A new MLM head on an encoder knows nothing of the corpus: its first predictions are noise
(with real weights, worse than uniform: all-MiniLM-L6-v2 starts at a held-out perplexity
above its vocabulary size), and the first optimizer steps push that noise's gradients
back into the encoder, undoing what it knew before the corpus can teach anything. So,
before the run (``MaskedLMTask.prepare_run``):

  prior        the decoder's bias is the log frequency of each token in the training
               corpus (add-one smoothed): a head that ignores its input predicts the
               unigram distribution, not a uniform one (Karpathy's "init well": the last
               layer's bias set to the data's prior);
  temperature  for a head whose decoder starts from the input embeddings (``init_from``),
               the LayerNorm's scale is chosen from a grid that includes 0 (the prior
               alone) by the loss on a few masked training batches: the starting head is
               never worse than the prior, and the perplexity before training is sane;
  head fit     with ``head_fit_batches`` N > 0 (the recipe's default when continuing from
               real weights), the encoder's states at the masked positions of N training
               batches are computed once, with the encoder frozen, and the transform and
               decoder bias train on them for a few epochs: linear probing before fine-tuning
               (LP-FT, Kumar et al. 2022, "Fine-tuning can distort pretrained features"), so
               the encoder's first gradients come from a head that already reads it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

TEMPERATURES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
FIT_EPOCHS, FIT_BATCH, FIT_LR = 4, 256, 1e-3


def token_prior(data, vocab_size: int) -> torch.Tensor:
    """log P(token) over the maskable tokens of ``data`` (an encoded set), add-one smoothed."""
    counts = np.ones(vocab_size, dtype=np.float64)
    for item in data.items:
        ids = item["input_ids"][item["word_ids"] >= 0]
        counts += np.bincount(ids, minlength=vocab_size)[:vocab_size]
    return torch.from_numpy(np.log(counts / counts.sum())).float()


def masked_states(model, task, data, batches: int, batch_size: int, seed: int):
    """(states at the chosen positions, their tokens) for ``batches`` masked training batches,
    the encoder frozen and in eval mode (no dropout)."""
    from hub_core.api import Batch, plan_batches, to_tensors

    generator = torch.Generator().manual_seed(seed)
    states, tokens = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for indices in plan_batches(len(data), batch_size, shuffle=True, seed=seed, epoch=0)[:batches]:
            arrays, targets = data.collate(indices)
            batch = task.prepare(Batch(to_tensors(arrays, "cpu"), torch.from_numpy(targets)), train=False,
                                 generator=generator)
            sequence = model.backbone(**batch.inputs)["sequence"]
            states.append(sequence[batch.inputs["mlm_positions"]])
            tokens.append(batch.targets)
    model.train(was_training)
    return torch.cat(states), torch.cat(tokens)


def calibrate(head, states: torch.Tensor, tokens: torch.Tensor) -> float:
    """Set the LayerNorm scale to the grid value with the lowest loss on (states, tokens)."""
    norm = head.transform[2]
    with torch.no_grad():
        normed = F.layer_norm(head.transform[1](head.transform[0](states)), norm.normalized_shape, eps=norm.eps)
        scores = normed @ head.decoder.weight.T  # logits = t * scores + bias
        losses = [float(F.cross_entropy(t * scores + head.decoder.bias, tokens)) for t in TEMPERATURES]
        best = TEMPERATURES[int(np.argmin(losses))]
        norm.weight.fill_(best)
        norm.bias.zero_()
    return best


def fit_head(head, states: torch.Tensor, tokens: torch.Tensor, seed: int) -> float:
    """Train the transform and the decoder bias on cached states; returns the last epoch's mean loss."""
    parameters = [*head.transform.parameters(), head.decoder.bias]
    optimizer = torch.optim.AdamW(parameters, lr=FIT_LR, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    head.decoder.weight.requires_grad_(False)  # the embeddings' copy stays; the main run trains it
    loss_sum = 0.0
    try:
        for _ in range(FIT_EPOCHS):
            loss_sum, order = 0.0, torch.randperm(len(tokens), generator=generator)
            for start in range(0, len(order), FIT_BATCH):
                chosen = order[start:start + FIT_BATCH]
                loss = F.cross_entropy(head.decoder(head.transform(states[chosen])), tokens[chosen])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(chosen)
    finally:
        head.decoder.weight.requires_grad_(True)
    return loss_sum / max(1, len(tokens))


def start_head(model, task, data, *, batch_size: int, fit_batches: int, seed: int):
    """For a new head: the prior and the temperature; returns (temperature or None, the cached masked states
    and tokens for ``fit_head``, or None when ``fit_batches`` is 0)."""
    head = model.head
    if not getattr(head, "new", False):  # a head trained before (hub pretrain DIR): already fits
        return None, None
    with torch.no_grad():
        head.decoder.bias.copy_(token_prior(data, head.decoder.bias.shape[0]))
    tied = getattr(head, "tied_init", False)
    if not tied and not fit_batches:
        return None, None
    states = masked_states(model, task, data, max(4, fit_batches), batch_size, seed)
    return (calibrate(head, *states) if tied else None), (states if fit_batches else None)
