"""Text to text (translation, summarisation): teacher-forced training with label smoothing,
generation by greedy or beam search as a numpy loop over two exported graphs (an encoder and a
decoder step with its key/value cache), BLEU and chrF by sacrebleu (ROUGE-L for summaries).

Task options: ``num_beams`` (1: greedy), ``length_penalty``, ``max_new_tokens``,
``label_smoothing``. Scores are fractions like every hub metric (BLEU 0.25 is sacrebleu's 25.0).
The task keeps the tokenizer's pieces (``fit_to``) so that its numpy decoder turns generated
ids back into text without the tokenizer.
"""
from __future__ import annotations

import numpy as np

from hub_core.api import Graph, Metric, Program, Task

from hub_nlp import generation


class Seq2SeqTask(Task):
    name = "seq2seq"
    output_names = ("logits",)  # teacher-forced, for the loss; the program gives "tokens" and "score"
    monitor = "chrf"
    needs_examples = True  # the metrics read the reference texts
    program = "hub_nlp.seq2seq:Seq2SeqProgram"
    preprocess = {"seq2seq": True}

    def __init__(self, num_beams: int = 1, length_penalty: float = 1.0, max_new_tokens: int = 64,
                 label_smoothing: float = 0.1, pieces: list | None = None, start: int | None = None,
                 end: int | None = None, pad: int | None = None):
        super().__init__()
        if not isinstance(num_beams, int) or num_beams < 1 or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError("num_beams and max_new_tokens must be whole numbers >= 1")
        self.num_beams, self.length_penalty, self.max_new_tokens = num_beams, float(length_penalty), max_new_tokens
        self.label_smoothing = float(label_smoothing)
        self.pieces, self.start, self.end, self.pad = pieces, start, end, pad

    def fit_to(self, preprocessor) -> None:
        tokenizer = preprocessor.tokenizer
        self.pieces = [tokenizer.id_to_token(i) or "" for i in range(tokenizer.get_vocab_size())]
        self.start, self.end, self.pad = int(preprocessor.start), int(preprocessor.end), int(preprocessor.specials["pad"])

    @property
    def num_outputs(self) -> int:
        return len(self.pieces or ())

    def encode(self, label, arrays) -> np.ndarray:
        return arrays["target_ids"]

    def collate_targets(self, targets: list[np.ndarray]) -> np.ndarray:
        out = np.full((len(targets), max(len(t) for t in targets)), -100, dtype=np.int64)
        for row, target in enumerate(targets):
            out[row, :len(target)] = target
        return out

    def loss(self, outputs, batch):
        import torch.nn.functional as F

        logits = outputs["logits"]
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1), ignore_index=-100,
                               label_smoothing=self.label_smoothing)

    def text(self, tokens) -> str:
        """Generated ids up to the end token, as text (the Metaspace pieces spell it, "▁" a space)."""
        kept = []
        for token in tokens:
            if token == self.end:
                break
            if token != self.pad and token != self.start:
                kept.append(self.pieces[int(token)])
        return "".join(kept).replace("▁", " ").strip()

    def decode(self, outputs, batch, top_k: int = 1) -> list:
        return [{"text": self.text(tokens), "score": round(float(np.exp(score)), 6)}
                for tokens, score in zip(outputs["tokens"], outputs["score"])]

    def metrics(self) -> list:
        return [TextScores(self)]

    def state(self) -> dict:
        return {"options": {"num_beams": self.num_beams, "length_penalty": self.length_penalty,
                            "max_new_tokens": self.max_new_tokens, "label_smoothing": self.label_smoothing,
                            "pieces": self.pieces, "start": self.start, "end": self.end, "pad": self.pad}}


class TextScores(Metric):
    """Corpus BLEU and chrF (sacrebleu, its default settings) and ROUGE-L F (rouge-score) of the
    generated texts against the references."""

    directions = {"bleu": True, "chrf": True, "rouge_l": True}

    def __init__(self, task: Seq2SeqTask):
        self.task, self.hypotheses, self.references = task, [], []

    def update(self, outputs, batch) -> None:
        if batch.examples is None:
            raise ValueError("text-to-text scores need each row's reference text (a batch without them: --skip-bad?)")
        self.hypotheses.extend(self.task.text(tokens) for tokens in outputs["tokens"])
        self.references.extend(str(e.label) for e in batch.examples)

    def compute(self) -> dict:
        import sacrebleu

        if not self.hypotheses:
            return {"bleu": 0.0, "chrf": 0.0, "rouge_l": 0.0}
        return {"bleu": sacrebleu.corpus_bleu(self.hypotheses, [self.references]).score / 100,
                "chrf": sacrebleu.corpus_chrf(self.hypotheses, [self.references]).score / 100,
                "rouge_l": rouge_l(self.hypotheses, self.references), "generated": len(self.hypotheses)}


def rouge_l(hypotheses: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 over whitespace tokens (the longest common subsequence)."""
    total = 0.0
    for hypothesis, reference in zip(hypotheses, references):
        a, b = hypothesis.split(), reference.split()
        if not a or not b:
            continue
        table = np.zeros((len(a) + 1, len(b) + 1), dtype=np.int32)
        for i, word in enumerate(a):
            for j, other in enumerate(b):
                table[i + 1, j + 1] = table[i, j] + 1 if word == other else max(table[i, j + 1], table[i + 1, j])
        common = table[-1, -1]
        if common:
            precision, recall = common / len(a), common / len(b)
            total += 2 * precision * recall / (precision + recall)
    return total / len(hypotheses)


class Seq2SeqProgram(Program):
    """The encoder graph once (it takes the first step too), then the decoder-step graph per token,
    greedy or beam search (``hub_nlp.generation``) over its explicit key/value cache."""

    def graphs(self, model) -> dict:
        from hub_nlp.seq2seq_model import EncoderGraph, StepGraph

        hf = model.backbone.model
        config = hf.config
        width = model.backbone.feature_dim
        layers = config.decoder_layers if hasattr(config, "decoder_layers") else config.num_decoder_layers
        heads = config.decoder_attention_heads if hasattr(config, "decoder_attention_heads") else config.num_heads
        cache = {"dtype": "float32", "axes": [layers, "batch", heads, "steps", width // heads]}
        source = [{"name": "input_ids", "dtype": "int64", "axes": ["batch", "source"]},
                  {"name": "attention_mask", "dtype": "int64", "axes": ["batch", "source"]}]
        return {
            "encoder": Graph(EncoderGraph(hf, self.task.start).eval(), source, ("memory", "logits", "keys", "values")),
            "decoder": Graph(StepGraph(hf).eval(), [
                {"name": "previous", "dtype": "int64", "axes": ["batch"]},
                {"name": "memory", "dtype": "float32", "axes": ["batch", "source", width]}, source[1],
                {"name": "past_keys", **cache}, {"name": "past_values", **cache}], ("logits", "keys", "values")),
        }

    def examples(self, model, arrays) -> dict:
        """The encoder's inputs, and a decoder step two tokens in (a cache of 2 steps: no axis of size 0 or 1)."""
        source = {"input_ids": arrays["input_ids"], "attention_mask": arrays["attention_mask"]}
        graphs = self.on_torch(model)
        encoded = graphs["encoder"](source)
        previous = encoded["logits"].argmax(-1).astype(np.int64)
        second = graphs["decoder"]({"previous": previous, "memory": encoded["memory"],
                                    "attention_mask": source["attention_mask"], "past_keys": encoded["keys"],
                                    "past_values": encoded["values"]})
        return {"encoder": source,
                "decoder": {"previous": second["logits"].argmax(-1).astype(np.int64), "memory": encoded["memory"],
                            "attention_mask": source["attention_mask"], "past_keys": second["keys"],
                            "past_values": second["values"]}}

    def run(self, graphs, arrays) -> dict:
        task = self.task
        encoded = graphs["encoder"]({"input_ids": arrays["input_ids"], "attention_mask": arrays["attention_mask"]})
        beams = task.num_beams
        state = {"memory": np.repeat(encoded["memory"], beams, 0), "attention_mask":
                 np.repeat(arrays["attention_mask"], beams, 0), "keys": np.repeat(encoded["keys"], beams, 1),
                 "values": np.repeat(encoded["values"], beams, 1)}

        def step(previous, rows):
            out = graphs["decoder"]({"previous": previous, "memory": state["memory"][rows],
                                     "attention_mask": state["attention_mask"][rows],
                                     "past_keys": state["keys"][:, rows], "past_values": state["values"][:, rows]})
            state.update(memory=state["memory"][rows], attention_mask=state["attention_mask"][rows],
                         keys=out["keys"], values=out["values"])
            return out["logits"]

        if beams == 1:
            tokens, score = generation.greedy(encoded["logits"], step, task.end, task.max_new_tokens)
        else:
            tokens, score = generation.beam(encoded["logits"], step, task.end, task.max_new_tokens, beams,
                                            task.length_penalty)
        return {"tokens": tokens, "score": score}
