"""plughub recommender plugin: MF, two-tower, NeuMF, DeepFM; rating, CTR and top-K retrieval."""
__version__ = "0.1.0"
