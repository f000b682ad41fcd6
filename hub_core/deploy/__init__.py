"""Everything after training: ONNX export and validation, int8, the torch-free runtime, one
engine abstraction (``engine``: torch and onnxruntime behind ``run(arrays) -> named outputs``) that
evaluate, predict, bench (``measure``) and the demo share, and serving.

May import: hub_core.data and everything below it; nothing of hub_core.train (training and
deployment are siblings over the data stage).
"""
