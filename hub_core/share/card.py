"""The model card's YAML header: the metadata the Hugging Face Hub reads (library, base model,
datasets, pipeline tag, license, tags, and a model-index of the measured metrics)."""
from __future__ import annotations

import json
import numbers

def header(manifest: dict, name: str, *, tag: str | None, base_model: str | None, datasets: list[str],
           license: str) -> str:
    """The ``---``-fenced YAML header of a model directory's card (JSON scalars are YAML);
    ``tag``: the Hub's pipeline tag, as the modality's plugin names it for this task."""
    modality, task = manifest.get("modality", ""), manifest.get("task", {}).get("name", "")
    lines = ["---", "library_name: plughub", f"license: {json.dumps(license)}"]
    if tag:
        lines.append(f"pipeline_tag: {tag}")
    if base_model:
        lines.append(f"base_model: {json.dumps(base_model)}")
    if datasets:
        lines += ["datasets:"] + [f"- {json.dumps(d)}" for d in datasets]
    lines += ["tags:"] + [f"- {json.dumps(t)}" for t in ("plughub", modality, task) if t]
    results = metric_entries(manifest.get("metrics") or {})
    if results:
        lines += ["model-index:", f"- name: {json.dumps(name)}", "  results:", "  - task:",
                  f"      type: {json.dumps(tag or task)}", "    dataset:",
                  f"      name: {json.dumps(datasets[0] if datasets else 'held-out validation split')}",
                  f"      type: {json.dumps(datasets[0] if datasets else 'validation')}", "    metrics:"]
        for key, value in results:
            lines += [f"    - type: {json.dumps(key)}", f"      value: {value!r}",
                      f"      name: {json.dumps('validation ' + key)}"]
    return "\n".join(lines + ["---", ""])


def metric_entries(metrics: dict) -> list[tuple[str, float]]:
    """The scalar metrics (per-class tables and matrices stay in the card's body)."""
    return [(key, round(float(value), 6)) for key, value in metrics.items()
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and key != "loss"]


def carded(readme: str, head: str) -> str:
    """A card with ``head`` as its YAML header (one it already had is replaced)."""
    if readme.startswith("---\n"):
        end = readme.find("\n---\n", 4)
        if end >= 0:
            readme = readme[end + 5:]
    return head + readme.lstrip("\n")
