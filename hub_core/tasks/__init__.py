"""The core's built-in plugin: the tasks and heads that belong to no modality (classification,
multi-label, regression). Registered through the same hooks as any plugin (``plugin.py``) and,
like one, importing only ``hub_core.api``."""
