"""Everything after training: evaluation, ONNX export and validation, int8, the torch-free
runtime, bench, and the demo job that chains them.

May import: hub_core.train and everything below it.
"""
