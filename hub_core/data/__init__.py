"""Data: reading and splitting examples, preprocessed sets and their batches, the worker
loader, the disk cache of arrays, and a torch model's pass over a set (feeds, evaluation).
Training and deployment both stand on it; neither imports the other.

May import: hub_core.model, hub_core.plugin, hub_core.common.
"""
