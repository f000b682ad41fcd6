"""The plugin contract and its machinery: hook specifications, the specs plugins register,
the plugin manager (entry points, isolation), and the catalogue (lookup by name, presets).

May import: hub_core.common. Never imports torch: `hub --help` and `hub list` live here.
Lookup only: constructing a model is hub_core.model.build's job.
"""
