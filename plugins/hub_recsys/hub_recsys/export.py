"""``hub export-towers``: a factorised model (MF, two-tower) as two ONNX towers plus the item
matrix, for serving with an approximate-nearest-neighbour index.

    user_tower.onnx       user (batch,) int64 -> user_vector (batch, D + 2)
    item_tower.onnx       item (batch,) int64 -> item_vector (batch, D + 2)
    item_embeddings.npy   (items, D + 2) float32: item_tower of every known item, in the order
    item_ids.json         of these raw item IDs; score = user_vector · item_vector

Each tower goes through the core's exporter (dynamo, dynamic batch, weights inside the
file) and is validated against torch with onnxruntime at several batch sizes; the report
is written to towers.json. The scorer graph itself is ``hub export``'s job.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hub_core.api import (ATOL, ExportError, OnnxGraph, RTOL, UsageError, annotate, atomic_path, atomic_publish,
                          atomic_write_bytes, atomic_write_json, compare, export_graph, load_model, package_versions,
                          worst)

from hub_recsys.recommend import ITEM_MATRIX, USER_TOWER
from hub_recsys.scoring import towers

REPORT = "towers.json"
BATCHES = (1, 7, 300)


class TowerGraph(nn.Module):
    """A tower as the core's exporter expects: positional tensors in, a tuple out."""

    def __init__(self, tower: nn.Module, output_name: str):
        super().__init__()
        self.tower, self.output_names = tower, (output_name,)

    def forward(self, *tensors):
        return (self.tower(tensors[0]),)


def export_tower(tower: nn.Module, side: str, rows: int, target: Path, rng, atol: float, rtol: float) -> dict:
    spec = [{"name": side, "dtype": "int64", "axes": ["batch"]}]
    graph_module = TowerGraph(tower, f"{side}_vector").eval()
    tmp = atomic_path(target, ".onnx")
    try:
        record = export_graph(graph_module, spec, {side: rng.integers(0, rows, size=2)}, tmp, None)
        annotate(tmp, spec, {"plughub.tower": side})
        graph = OnnxGraph(tmp)
        cases = []
        for batch in BATCHES:
            codes = rng.integers(0, rows, size=batch)
            with torch.no_grad():
                expected = {f"{side}_vector": tower(torch.from_numpy(codes)).numpy()}
            outputs, ok = compare(expected, graph.run({side: codes}), atol, rtol)
            cases.append({"name": f"{side} codes (batch {batch})", "ok": ok, "outputs": outputs})
        if not all(c["ok"] for c in cases):
            raise ExportError(f"the {side} tower's ONNX graph does not match torch: {worst(cases)}")
        atomic_publish(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": target.name, **record, "size_bytes": target.stat().st_size, "validation": cases}


def export_towers(catalogue, directory, atol: float = ATOL, rtol: float = RTOL, seed: int = 0) -> dict:
    directory = Path(directory)
    model = load_model(catalogue, directory)
    pair = towers(model)
    if pair is None:
        parts = f"{model.manifest['backbone']['name']} with head {model.manifest['head']['name']}"
        raise UsageError(f"{directory}: {parts} "
                         "does not factorise into towers (recsys/mf and recsys/two-tower with the recsys/score head "
                         "do); export its scorer with 'hub export'")
    preprocessor, rng = model.preprocessor, np.random.default_rng(seed)
    num_users, num_items = len(preprocessor.users), len(preprocessor.items)
    report = {"model": str(directory), "backbone": model.manifest["backbone"]["name"],
              "score": "user_vector · item_vector (equals the model's score)",
              "versions": package_versions(model.manifest.get("plugins", ())),
              "user_tower": export_tower(pair[0], "user", num_users, directory / USER_TOWER, rng, atol, rtol),
              "item_tower": export_tower(pair[1], "item", num_items, directory / "item_tower.onnx", rng, atol, rtol)}
    with torch.no_grad():
        matrix = pair[1](torch.arange(1, num_items)).numpy().astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    atomic_write_bytes(directory / ITEM_MATRIX, buffer.getvalue())
    atomic_write_json(directory / "item_ids.json", preprocessor.items.ids)
    report["item_matrix"] = {"file": ITEM_MATRIX, "shape": list(matrix.shape), "ids": "item_ids.json"}
    report["status"] = "ok"
    atomic_write_json(directory / REPORT, report)
    return report
