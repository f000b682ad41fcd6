"""Training: the config, reading and splitting data, the one loop, checkpoints, records.

May import: hub_core.tasks, hub_core.model, hub_core.plugin, hub_core.common.
"""
