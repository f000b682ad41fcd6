"""plughub's core: the plugin contract, the catalogue, the engine and the CLI.

Importing this package is cheap: it never imports torch or any plugin. Users' Python
(``hub_core.python``) is reachable here: ``import hub_core as hub; hub.load("runs/cls",
onnx=True).predict([...])``, ``hub.finetune``, ``hub.evaluate``, ``hub.export``. Plugins
import the public surface, ``hub_core.api``, whose names are also reachable here
(``from hub_core import hookimpl, BackboneSpec``). Both resolve on first use.
"""
__version__ = "0.1.0"

USER_API = ("load", "finetune", "evaluate", "export", "Model")  # hub_core.python: for users, not plugins


def __getattr__(name: str):
    import importlib

    if name in USER_API:
        return getattr(importlib.import_module("hub_core.python"), name)
    api = importlib.import_module("hub_core.api")  # not `from hub_core import api`: that would ask __getattr__ again
    if name in api.EXPORTS:
        return getattr(api, name)
    raise AttributeError(f"module 'hub_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    import importlib

    return sorted(set(globals()) | set(USER_API) | set(importlib.import_module("hub_core.api").EXPORTS))
