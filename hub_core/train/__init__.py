"""Training: the config, the one loop, model selection, checkpoints, records, tuning.

May import: hub_core.data and everything below it.
"""
