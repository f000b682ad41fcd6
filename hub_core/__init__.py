"""plughub's core: the plugin contract, the catalogue, the engine and the CLI.

Importing this package is cheap: it never imports torch or any plugin.
"""
import pluggy

__version__ = "0.1.0"

#: The version of the plugin contract. A plugin may declare the versions it
#: supports with a module attribute ``PLUGHUB_API = ">=1,<2"`` (or an int).
API_VERSION = 1

#: Decorate plugin functions with this marker: ``@hookimpl def register_backbones(register): ...``
hookimpl = pluggy.HookimplMarker("plughub")

__all__ = ["API_VERSION", "__version__", "hookimpl"]
