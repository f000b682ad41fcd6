"""Layer-wise learning-rate decay (``--layer-decay F``): lower layers of a pretrained encoder
change less. The head trains at its own rate; the backbone's top block at ``lr * F``, the one
below at ``lr * F**2``, down to the embeddings at ``lr * F**(L + 1)``, as ELECTRA (Clark et
al. 2020, appendix A: 0.8 base, 0.9 large) and BEiT (Bao et al. 2021: 0.65 base, 0.75 large)
fine-tune. Depths come from ``Backbone.layer_depths``; 1.0 (the default) is off.
"""
from __future__ import annotations


def decayed(groups: list[dict], backbone, decay: float) -> list[dict]:
    """The backbone's optimizer groups split by depth, each at its group's lr times decay**(top + 1 - depth)."""
    if decay == 1.0:
        return groups
    depths, top = backbone.layer_depths()
    out = []
    for group in groups:
        by_depth: dict[int, list] = {}
        for parameter in group["params"]:
            by_depth.setdefault(depths.get(id(parameter), 0), []).append(parameter)
        out += [{"params": params, "lr": group["lr"] * decay ** (top + 1 - depth), "depth": depth}
                for depth, params in sorted(by_depth.items())]
    return out
