"""plughub's core: the plugin contract, the catalogue, the engine and the CLI.

Importing this package is cheap: it never imports torch or any plugin. Plugins import
the public surface, ``hub_core.api``, whose names are also reachable here
(``from hub_core import hookimpl, BackboneSpec``), resolved on first use.
"""
__version__ = "0.1.0"


def __getattr__(name: str):
    import importlib

    api = importlib.import_module("hub_core.api")  # not `from hub_core import api`: that would ask __getattr__ again
    if name in api.EXPORTS:
        return getattr(api, name)
    raise AttributeError(f"module 'hub_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    import importlib

    return sorted(set(globals()) | set(importlib.import_module("hub_core.api").EXPORTS))
