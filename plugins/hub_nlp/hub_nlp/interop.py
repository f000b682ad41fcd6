"""``hub push``'s transformers layout of a text model: the encoder as ``save_pretrained`` writes
it and the tokenizer as a fast tokenizer (pad token set), in ``transformers/``, so that
``AutoModel`` and ``AutoTokenizer`` load them without plughub (the head stays the hub's)."""
from __future__ import annotations

from pathlib import Path

from hub_core.api import PluginError

FOLDER = "transformers"
ROLES = {"pad": "pad_token", "unk": "unk_token", "cls": "cls_token", "sep": "sep_token", "mask": "mask_token"}


def write_transformers(model, repository: Path) -> str:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from hub_nlp.tokenizer import special_ids

    encoder = getattr(model.backbone, "model", None)
    tokenizer = getattr(model.preprocessor, "tokenizer", None)
    if encoder is None or not hasattr(encoder, "save_pretrained") or tokenizer is None:
        raise PluginError(f"backbone {type(model.backbone).__name__} is not a transformers encoder with a tokenizer")
    folder = Path(repository) / FOLDER
    encoder.save_pretrained(folder, safe_serialization=True)
    plain = Tokenizer.from_str(tokenizer.to_str())  # the hub truncates and pads per batch itself
    plain.no_truncation()
    plain.no_padding()
    specials = {ROLES[role]: plain.id_to_token(i) for role, i in special_ids(plain).items() if role in ROLES}
    fast = PreTrainedTokenizerFast(tokenizer_object=plain, model_max_length=model.backbone.max_length, **specials)
    fast.save_pretrained(folder)
    return ("The encoder and its tokenizer load with transformers alone (the task's head is the hub's):\n\n"
            "```python\nfrom transformers import AutoModel, AutoTokenizer\n"
            f"model = AutoModel.from_pretrained(PATH, subfolder=\"{FOLDER}\")\n"
            f"tokenizer = AutoTokenizer.from_pretrained(PATH, subfolder=\"{FOLDER}\")\n```")
