"""``hub push``'s timm layout of an image model: the backbone's weights as timm names them and
its ``config.json`` (architecture, pretrained_cfg), in ``timm/``, so that ``timm.create_model``
loads them without plughub (the head stays the hub's)."""
from __future__ import annotations

import json
from pathlib import Path

from hub_core.api import PluginError, atomic_write_text

FOLDER = "timm"


def write_timm(model, repository: Path) -> str:
    from safetensors.torch import save_file

    network = getattr(model.backbone, "model", None)
    if network is None or not hasattr(network, "pretrained_cfg"):
        raise PluginError(f"backbone {type(model.backbone).__name__} is not a timm model")
    folder = Path(repository) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in network.state_dict().items()}, str(folder / "model.safetensors"))
    architecture = network.pretrained_cfg.get("architecture") or model.manifest["backbone"]["config"]["model_name"]
    config = {"architecture": architecture, "num_classes": 0, "num_features": network.num_features,
              "pretrained_cfg": {k: v for k, v in network.pretrained_cfg.items() if is_plain(v)}}
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2))
    return ("The backbone loads with timm alone (pooled features; the task's head is the hub's):\n\n"
            f"```python\nimport timm\nmodel = timm.create_model(\"{architecture}\", pretrained=True, num_classes=0,\n"
            f"                          pretrained_cfg_overlay=dict(file=f\"{{PATH}}/{FOLDER}/model.safetensors\"))\n```")


def is_plain(value) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
