"""plughub NLP plugin: transformers encoders, text tasks, MLM pre-training."""
__version__ = "0.1.0"
