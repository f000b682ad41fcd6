"""Tokenizers: load a model's own (tokenizer.json or a BERT vocab.txt), or train a
WordPiece on the training corpus. The Rust ``tokenizers`` library only: no torch, so
the same code serves training and the torch-free ONNX runtime.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from hub_core.api import HubError

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# The names special tokens go by in the tokenizer families we meet (BERT, RoBERTa, T5...).
SPECIAL_CANDIDATES = {
    "pad": ("[PAD]", "<pad>"),
    "unk": ("[UNK]", "<unk>"),
    "cls": ("[CLS]", "<s>"),
    "sep": ("[SEP]", "</s>"),
    "mask": ("[MASK]", "<mask>"),
}


def _bert_pipeline(model, lowercase: bool) -> Tokenizer:
    """BERT's normaliser, pre-tokeniser, [CLS] A [SEP] B [SEP] template and decoder."""
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _add_template(tokenizer: Tokenizer) -> Tokenizer:
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def train_wordpiece(texts: Iterable[str], vocab_size: int, lowercase: bool = True, min_frequency: int = 2) -> Tokenizer:
    """A BERT-style WordPiece tokenizer learnt from ``texts``, the same every run.

    The trainer breaks ties between equally frequent merges by token id, and numbers the
    "##x" continuation tokens in hash-map order (huggingface/tokenizers#1794), so the
    vocabulary changed from run to run -- and across DDP ranks. Giving the continuation
    tokens fixed ids up front (as reserved tokens), then rebuilding the tokenizer from the
    learnt vocabulary with only BERT's specials, makes it deterministic.
    """
    texts = list(texts)
    trainee = _bert_pipeline(models.WordPiece(unk_token="[UNK]"), lowercase)
    characters = sorted({c for text in texts for c in trainee.normalizer.normalize_str(text) if not c.isspace()})
    reserved = list(BERT_SPECIALS) + [f"##{c}" for c in characters]
    trainer = trainers.WordPieceTrainer(
        vocab_size=max(vocab_size, len(reserved) + 1), min_frequency=min_frequency, special_tokens=reserved,
        show_progress=False,
    )
    trainee.train_from_iterator(texts, trainer=trainer)
    tokenizer = _bert_pipeline(models.WordPiece(trainee.get_vocab(), unk_token="[UNK]"), lowercase)
    tokenizer.add_special_tokens(list(BERT_SPECIALS))
    return _add_template(tokenizer)


def load_tokenizer(source: str | Path) -> Tokenizer:
    """A model's tokenizer: ``tokenizer.json`` (file or in a directory), else a BERT ``vocab.txt``."""
    path = Path(source)
    file = path / "tokenizer.json" if path.is_dir() else path
    if file.name == "tokenizer.json" and file.is_file():
        try:
            tokenizer = Tokenizer.from_file(str(file))
        except Exception as err:  # noqa: BLE001 - the Rust library raises plain Exceptions
            raise HubError(f"{file}: not a valid tokenizer.json ({err})") from None
    elif path.is_dir() and (path / "vocab.txt").is_file():
        tokenizer = _add_template(_bert_pipeline(
            models.WordPiece.from_file(str(path / "vocab.txt"), unk_token="[UNK]"), _lowercase(path)
        ))
    else:
        raise HubError(f"{path}: no tokenizer.json or vocab.txt; a model's directory must include its tokenizer")
    # Our collate pads per batch and the preprocessor truncates; undo saved fixed-length settings.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _lowercase(directory: Path) -> bool:
    config = directory / "tokenizer_config.json"
    if config.is_file():
        return bool(json.loads(config.read_text(encoding="utf-8")).get("do_lower_case", True))
    return True


def special_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """The ids of pad/unk/cls/sep/mask that this tokenizer has (missing ones are left out)."""
    found = {}
    for role, names in SPECIAL_CANDIDATES.items():
        for name in names:
            token_id = tokenizer.token_to_id(name)
            if token_id is not None:
                found[role] = token_id
                break
    return found


SEQ2SEQ_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")


def train_unigram(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """A SentencePiece-style Unigram tokenizer learnt from ``texts`` (sources and targets: one
    shared vocabulary, as Marian's), for generation: the Metaspace pre-tokeniser keeps every space
    as "▁", so a generated token sequence decodes back to exactly the text it spells; a source
    ends with ``</s>``."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(SEQ2SEQ_SPECIALS), unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B:1 </s>:1",
                                                             special_tokens=[("</s>", eos)])
    return tokenizer
