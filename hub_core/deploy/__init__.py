"""Everything after training: ONNX export and validation, int8, the torch-free runtime, one
engine abstraction (``engine``: torch and onnxruntime behind ``run(arrays) -> named outputs``) that
evaluate, predict, bench (``measure``) and the demo share, and serving.

May import: hub_core.train and everything below it.
"""
