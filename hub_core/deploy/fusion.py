"""Transformer graphs fused by onnxruntime's transformer optimizer before validation.

onnxruntime's own session optimisations are generic; its transformer optimizer
(``onnxruntime.transformers.optimizer.optimize_model``) rewrites the subgraphs of a known
family into its fused CPU kernels: LayerNorm after a residual add into SkipLayerNormalization,
the MatMul bias + GELU into BiasGelu, and, where the mask subgraph is the one it knows,
attention into Attention and the embeddings into EmbedLayerNormalization. A backbone names
its family with ``Backbone.onnx_fusion()`` ({"model_type": "bert", "num_heads": ...,
"hidden_size": ...}); others are left as exported. The fused graph is then validated exactly
as any export (hub_core.deploy.export), so a fusion that changed the numbers is rejected.

Exporter: a family's hints may name the exporter whose graph fuses best ("exporter"), which
hub_core.deploy.export tries first, in the backbone's export form (``Backbone.exporting()``).
For transformers 5 BERT-like encoders that is TorchScript over eager attention: the only
graph whose attention and embeddings onnxruntime 1.32 fuses (Attention, EmbedLayerNormalization).
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

FUSED_OPS = ("Attention", "MultiHeadAttention", "EmbedLayerNormalization", "SkipLayerNormalization",
             "LayerNormalization", "BiasGelu", "FastGelu", "Gelu", "GemmFastGelu", "SkipSimplifiedLayerNormalization")


def fuse(path: Path, hints: dict | None) -> dict:
    """Rewrite ``path`` in place with the family's fusions; returns the report's "fusion" entry:
    {model_type, ops: {fused operator: count}} or {skipped: why} / {error: why}."""
    if not hints or not hints.get("model_type"):
        return {"skipped": "the backbone names no transformer family onnxruntime's optimizer knows"}
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    logging.disable(logging.WARNING)  # the optimizer logs its progress and advice on the root logger
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            original = onnx.load(str(path))
            metadata = {p.key: p.value for p in original.metadata_props}
            optimized = optimize_model(original, model_type=hints["model_type"], num_heads=int(hints.get("num_heads", 0)),
                                       hidden_size=int(hints.get("hidden_size", 0)), opt_level=0)
            ops = {op: count for op, count in optimized.get_fused_operator_statistics().items()
                   if count and op in FUSED_OPS}
            onnx.helper.set_model_props(optimized.model, metadata)
            optimized.save_model_to_file(str(path))
    except Exception as err:  # noqa: BLE001 - the optimizer's passes raise what they raise: keep the plain graph
        return {"model_type": hints["model_type"], "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
    finally:
        logging.disable(logging.NOTSET)
    return {"model_type": hints["model_type"], "ops": ops}
