"""plughub vision plugin: every timm architecture as a backbone."""
__version__ = "0.1.0"
