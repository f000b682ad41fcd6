"""The speech plugin's registrations. Light: heavy imports live in the factories."""
from pathlib import Path

from hub_core.api import (BackboneSpec, CliOption, DemoSpec, HeadSpec, InputSpec, ModalitySpec, TaskSpec, hookimpl,
                          read_presets)

PLUGHUB_API = ">=2,<3"


@hookimpl
def register_modalities(register):
    register(ModalitySpec(
        name="audio",
        inputs=(InputSpec("waveform", "float32", ("batch", "samples")), InputSpec("lengths", "int64", ("batch",))),
        reader="hub_speech.data:read_examples",
        preprocessor="hub_speech.preprocess:AudioPreprocessor",
        file_types=(".wav", ".flac", ".ogg", ".csv", ".jsonl"),
        description="waveforms (WAV, FLAC, OGG) from class folders or CSV/JSONL",
        file_inputs=True,
        options=(CliOption("--max-seconds", float, "Audio: crop/pad clips to this length in seconds (speech "
                                                       "recognition: longer clips are refused, never cut)."),),
        pipeline_tags=(("classification", "audio-classification"), ("multilabel", "audio-classification"),
                       ("speech-recognition", "automatic-speech-recognition")),
    ))


@hookimpl
def register_backbones(register):
    register(BackboneSpec("speech/wav2vec2", "audio", "hub_speech.wav2vec2:build_wav2vec2", ("pooled", "sequence"),
                          "torchaudio wav2vec2 / HuBERT architecture on raw 16 kHz waveforms"))
    register(BackboneSpec("speech/logmel-cnn", "audio", "hub_speech.logmel:build_logmel_cnn", ("pooled", "sequence"),
                          "a light CNN over a log-mel spectrogram computed inside the module"))
    register(BackboneSpec("speech/conformer", "audio", "hub_speech.conformer:build_conformer", ("pooled", "sequence"),
                          "a Conformer (torchaudio) over log-mel features computed in the graph, 40 ms frames"))


@hookimpl
def register_heads(register):
    register(HeadSpec("speech/ctc", "sequence", "hub_speech.ctc_head:CTCHead",
                      "per-frame log-probabilities over characters and a blank, with each clip's frame count"))


@hookimpl
def register_tasks(register):
    register(TaskSpec("speech-recognition", "speech/ctc", "hub_speech.recognition:SpeechRecognition",
                      "transcripts (CTC over characters), WER and CER; numpy greedy or beam decoding",
                      modalities=("audio",)))


@hookimpl
def register_demos(register):
    register(DemoSpec("audio", "audio", "speech/logmel-tiny", "classification", "hub_speech.demo:make_data",
                      {"epochs": 8, "batch_size": 16, "lr": 3e-3, "preprocess": {"max_seconds": 2.0}},
                      "tones, chirps and noise at 8-44.1 kHz, generated"))
    register(DemoSpec("speech-recognition", "audio", "speech/conformer-tiny", "speech-recognition",
                      "hub_speech.spelled:make_data", {"epochs": 12, "batch_size": 16, "lr": 3e-3},
                      "words spelt in two-tone letters at 8-22 kHz, generated (a mechanism check)"))


@hookimpl
def register_presets(register):
    for preset in read_presets(Path(__file__).with_name("presets.toml")):
        register(preset)
