"""plughub speech plugin: torchaudio wav2vec2/HuBERT and log-mel backbones on raw waveforms."""
__version__ = "0.1.0"
