"""Reading audio and preprocessing it: formats, rates, channels, lengths and bad files."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from hub_core.model.contracts import Example, ReadOptions
from hub_core.common.errors import DataError, UsageError
from hub_speech.audio import read_audio
from hub_speech.data import read_examples
from hub_speech.preprocess import AudioPreprocessor


def test_every_format_rate_and_channel_count_becomes_mono_at_the_model_rate(clips):
    pre = AudioPreprocessor({"sample_rate": 16000})
    expected = {"stereo": 16000, "rate8k": 16000, "rate44k": 16000, "flac": 8000, "ogg": 8000}
    for name, samples in expected.items():
        arrays = pre(str(clips[name]))
        assert arrays["waveform"].dtype == np.float32 and arrays["waveform"].ndim == 1
        assert abs(arrays["waveform"].size - samples) <= 1, name
        assert int(arrays["lengths"]) == arrays["waveform"].size


def test_stereo_is_averaged_and_resampling_keeps_the_pitch(clips):
    samples, rate = read_audio(clips["stereo"])
    left, _ = soundfile.read(str(clips["stereo"]), dtype="float32")
    np.testing.assert_allclose(samples, left[:, 0] / 2, atol=1e-4)  # the right channel is silent
    # A 8 kHz clip upsampled to 16 kHz keeps its spectral peak.
    original, rate = read_audio(clips["rate8k"])
    resampled = AudioPreprocessor({"sample_rate": 16000})(str(clips["rate8k"]))["waveform"]
    peak = lambda x, r: np.argmax(np.abs(np.fft.rfft(x))) * r / len(x)  # noqa: E731
    assert abs(peak(original, 8000) - peak(resampled, 16000)) < 5


def test_very_short_clips_are_padded_to_the_backbones_receptive_field(clips):
    arrays = AudioPreprocessor({"sample_rate": 16000, "min_samples": 400})(str(clips["short"]))
    assert arrays["waveform"].size == 400 and int(arrays["lengths"]) == 400
    assert np.abs(arrays["waveform"][80:]).max() == 0  # zero padding after the 80 real samples


def test_a_text_file_named_wav_and_an_empty_file_are_errors_naming_the_file(clips):
    pre = AudioPreprocessor({})
    with pytest.raises(DataError, match=r"notes\.wav: not a readable audio file \(Format not recognised\)"):
        pre(str(clips["text"]))
    with pytest.raises(DataError, match=r"empty\.wav: the audio file holds zero samples"):
        pre(str(clips["empty"]))
    with pytest.raises(DataError, match=r"missing\.wav: no such audio file"):
        pre(str(clips["text"].parent / "missing.wav"))


def test_crop_is_random_in_training_and_centred_otherwise(clips):
    pre = AudioPreprocessor({"sample_rate": 16000, "max_seconds": 0.25})
    whole = pre.read(str(clips["rate44k"]))
    centred = pre(str(clips["rate44k"]))["waveform"]
    start = (whole.size - 4000) // 2
    np.testing.assert_array_equal(centred, whole[start:start + 4000])
    crops = {pre(str(clips["rate44k"]), train=True, rng=np.random.default_rng(seed))["waveform"][:8].tobytes()
             for seed in range(4)}
    assert len(crops) == 4


def test_fixed_length_pads_every_clip_and_keeps_the_true_length(clips):
    pre = AudioPreprocessor({"sample_rate": 16000, "max_seconds": 2, "fixed_length": True})
    arrays = pre(str(clips["flac"]))
    assert arrays["waveform"].size == 32000 and int(arrays["lengths"]) == 8000


def test_normalize_gives_zero_mean_unit_variance_before_padding(clips):
    arrays = AudioPreprocessor({"normalize": True, "max_seconds": 2, "fixed_length": True})(str(clips["ogg"]))
    real = arrays["waveform"][:int(arrays["lengths"])]
    assert abs(real.mean()) < 1e-4 and abs(real.std() - 1) < 1e-3
    assert not arrays["waveform"][int(arrays["lengths"]):].any()


def test_collate_pads_per_batch_and_stacks_lengths(clips):
    pre = AudioPreprocessor({})
    items = [pre(str(clips["flac"])), pre(str(clips["rate8k"]))]
    batch = pre.collate(items)
    assert batch["waveform"].shape == (2, 16000) and batch["lengths"].tolist() == [8000, 16000]
    assert batch["lengths"].dtype == np.int64 and not batch["waveform"][0, 8000:].any()
    assert pre.length(items[0]) == 8000


def test_a_waveform_array_is_accepted_as_raw_input():
    pre = AudioPreprocessor({"sample_rate": 16000})
    arrays = pre(np.zeros((1600, 2), dtype=np.float32))
    assert arrays["waveform"].shape == (1600,)
    with pytest.raises(DataError, match="file path or a float waveform"):
        pre(42)


def test_synthetic_batches_scale_with_duration():
    pre = AudioPreprocessor({"sample_rate": 16000, "min_samples": 400})
    for scale in (0.5, 1, 3):
        batch = pre.synthetic(3, scale, np.random.default_rng(0))
        assert batch["waveform"].shape == (3, int(16000 * scale))
        assert batch["lengths"][0] == 16000 * scale and batch["lengths"].min() >= 8000 * scale


def test_options_from_the_command_line_are_checked_and_typed():
    pre = AudioPreprocessor({"max_seconds": "2.5", "fixed_length": "true", "sample_rate": 8000})
    assert pre.config["max_seconds"] == 2.5 and pre.config["fixed_length"] is True and pre.max_samples == 20000
    assert AudioPreprocessor({"max_seconds": 0}).max_samples is None
    with pytest.raises(UsageError, match="did you mean 'max_seconds'"):
        AudioPreprocessor({"max_second": 3})
    with pytest.raises(UsageError, match="max_seconds = 'long' is not a number"):
        AudioPreprocessor({"max_seconds": "long"})
    with pytest.raises(UsageError, match="fixed_length needs max_seconds"):
        AudioPreprocessor({"fixed_length": True, "max_seconds": None})


def test_fit_turns_on_per_epoch_arrays_only_when_some_clip_gets_cropped(clips):
    short = [Example(str(clips["flac"]), "a")]
    long = short + [Example(str(clips["rate44k"]), "b")]
    pre = AudioPreprocessor({"max_seconds": 0.75})
    pre.fit(short)
    assert not pre.augments
    pre.fit(long)
    assert pre.augments


# ----------------------------------------------------------------------------- the reader
def test_a_folder_per_class(tone_set):
    examples = read_examples(tone_set, ReadOptions())
    assert len(examples) == 90 and {e.label for e in examples} == {"low", "high", "up"}
    assert all(e.input.endswith(".wav") and e.source == e.input for e in examples)


def test_csv_and_jsonl_tables_with_relative_paths_and_labels(clips, tmp_path):
    (tmp_path / "clips.csv").write_text("path,label\nclips/stereo.wav,low\nclips/rate8k.wav,high\n")
    (tmp_path / "clips.jsonl").write_text(json.dumps({"file": "clips/flac.flac", "tags": ["down", "soft"]}) + "\n")
    from_csv = read_examples(tmp_path / "clips.csv", ReadOptions())
    assert [(e.label, e.source) for e in from_csv] == [("low", f"{tmp_path}/clips.csv:2"), ("high", f"{tmp_path}/clips.csv:3")]
    assert from_csv[0].input == str(clips["stereo"])
    from_jsonl = read_examples(tmp_path / "clips.jsonl", ReadOptions(input_columns=("file",), label_column="tags"))
    assert from_jsonl[0].label == ["down", "soft"]


def test_a_bad_file_in_a_table_names_the_line_and_the_file_or_is_skipped(clips, tmp_path, capsys):
    table = tmp_path / "clips.csv"
    table.write_text("path,label\nclips/stereo.wav,low\nclips/notes.wav,high\nclips/empty.wav,high\n")
    with pytest.raises(DataError, match=r"clips\.csv:3: .*notes\.wav: not a readable audio file"):
        read_examples(table, ReadOptions())
    kept = read_examples(table, ReadOptions(skip_bad=True))
    assert [e.label for e in kept] == ["low"]
    assert "skipped 2 unreadable audio file(s)" in capsys.readouterr().err


def test_a_bad_file_in_a_class_folder_is_named(tmp_path):
    (tmp_path / "yes").mkdir()
    (tmp_path / "yes" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match=r"yes/broken\.wav: not a readable audio file"):
        read_examples(tmp_path, ReadOptions())


def test_folder_layout_errors_are_explained(tmp_path, clips):
    with pytest.raises(DataError, match="audio file outside any class folder"):
        read_examples(clips["stereo"].parent, ReadOptions())
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(DataError, match="has no class folders"):
        read_examples(empty, ReadOptions())
    with pytest.raises(DataError, match="a single audio file has no label"):
        read_examples(clips["stereo"], ReadOptions())
    with pytest.raises(DataError, match="expected a folder of class folders"):
        read_examples(tmp_path / "data.xlsx", ReadOptions())


def test_unlabelled_reading_for_prediction(clips):
    examples = read_examples(clips["stereo"].parent, ReadOptions(labelled=False, skip_bad=True))
    assert {e.label for e in examples} == {None} and len(examples) == 6
    assert read_examples(clips["stereo"], ReadOptions(labelled=False))[0].input == str(clips["stereo"])


def test_paths_may_not_escape_the_data_root(clips, tmp_path):
    table = tmp_path / "clips.csv"
    table.write_text("path,label\n../outside.wav,x\n")
    with pytest.raises(DataError, match="escapes --data-root"):
        read_examples(table, ReadOptions(data_root=str(tmp_path)))
