"""What trains in a backbone: ``--freeze`` and LoRA adapters (peft), and folding them back.

Each takes a backbone (any ``nn.Module`` with the Backbone methods ``blocks``,
``frozen_by_default`` and ``lora_targets``) and the name to use in messages, so that a
composite backbone (fusion) treats each of its parts like a whole one.
"""
from __future__ import annotations

import sys

from hub_core.common.errors import UsageError


def apply_freeze(backbone, freeze: str, name: str = "backbone") -> list[str]:
    """Set requires_grad as ``--freeze`` says; return what was frozen (for the log)."""
    frozen = []
    if freeze == "backbone":
        backbone.requires_grad_(False)
        frozen.append("backbone")
    elif freeze.startswith("last-"):
        n = int(freeze[5:])
        blocks = backbone.blocks()
        if not blocks:
            raise UsageError(f"--freeze {freeze}: backbone {name!r} does not expose blocks")
        backbone.requires_grad_(False)
        for block in blocks[len(blocks) - n:] if n else []:
            block.requires_grad_(True)
        frozen.append(f"backbone except its last {min(n, len(blocks))} of {len(blocks)} blocks")
    elif freeze == "auto":
        for module in backbone.frozen_by_default():
            module.requires_grad_(False)
            frozen.append(type(module).__name__)
    return frozen


def apply_lora(backbone, rank: int, alpha: float | None, name: str = "backbone"):
    """LoRA adapters of ``rank`` on the backbone's ``lora_targets``; only they train.
    Returns the backbone (peft adapts it in place)."""
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    targets = list(backbone.lora_targets)
    if not targets:
        raise UsageError(f"--lora: backbone {name!r} names no LoRA target modules")
    backbone.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha or 2 * rank, target_modules=targets, lora_dropout=0.0)
    backbone = inject_adapter_in_model(config, backbone)
    for module in backbone.modules():
        if isinstance(module, LoraLayer):  # the adapters train, the base layer they wrap does not
            for layer in module.adapter_layer_names:
                getattr(module, layer).requires_grad_(True)
    return backbone


def merge_lora(backbone) -> None:
    """Fold every LoRA adapter (the engine's, or a fusion part's) into its base weights, so
    that the saved model loads without peft. Nothing to do when peft was never imported."""
    if "peft" not in sys.modules:
        return
    from peft.tuners.lora import LoraLayer

    for name, module in list(backbone.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = backbone.get_submodule(parent_name) if parent_name else backbone
            setattr(parent, child, module.get_base_layer())
