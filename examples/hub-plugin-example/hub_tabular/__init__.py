"""hub-plugin-example: a 'tabular' modality, an MLP backbone over it and a cosine head for plughub."""
__version__ = "0.1.0"
