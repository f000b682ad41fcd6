"""speech-recognition's pieces one by one: text normalisation and the vocabulary, the numpy
CTC decoders, the loss over ragged targets, WER/CER, transcribed data and clip lengths."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from hub_core.api import Batch, DataError, Example, ReadOptions
from hub_speech.ctc import WordList, greedy, prefix_beam, tidy, words_with_times
from hub_speech.data import read_examples
from hub_speech.preprocess import AudioPreprocessor
from hub_speech.recognition import SpeechRecognition
from hub_speech.spelled import spell, write_transcribed
from hub_speech.transcripts import Vocabulary, normalise


def test_normalisation_keeps_letters_digits_and_apostrophes():
    assert normalise("Don't PANIC -- it’s 4:20!") == "don't panic it's 4 20"
    assert normalise("  Ça   va,\tÉMILE? ") == "ça va émile"
    assert normalise("well-known e-mail") == "well known e mail"


def test_the_vocabulary_is_fitted_on_training_transcripts_and_names_strangers():
    vocabulary = Vocabulary.fit(["Hello, world.", "Odd dog"])
    assert vocabulary.characters == [" ", "d", "e", "g", "h", "l", "o", "r", "w"] and len(vocabulary) == 10
    assert vocabulary.decode(vocabulary.encode("HELLO dog!")) == "hello dog"
    with pytest.raises(ValueError, match=r"'Wordy box' has character\(s\) outside the vocabulary .*: 'b', 'x', 'y'$"):
        vocabulary.encode("Wordy box")
    with pytest.raises(ValueError, match="empty transcript"):
        vocabulary.encode("?!")


def frames_of(path: list[int], vocabulary_size: int, sure: float = 0.9) -> np.ndarray:
    """log-probabilities whose best path is ``path`` (one token a frame)."""
    probabilities = np.full((len(path), vocabulary_size), (1 - sure) / (vocabulary_size - 1))
    probabilities[np.arange(len(path)), path] = sure
    return np.log(probabilities)


def test_greedy_merges_repeats_keeps_doubles_split_by_blanks_and_times_words():
    # "see it": s e e(blank between) space i t, with repeats and blanks around
    s, e, i, t, space = 1, 2, 3, 4, 5
    path = [0, s, s, e, 0, e, e, space, space, 0, i, t, t, 0]
    tokens, spans, score = greedy(frames_of(path, 6))
    assert tokens == [s, e, e, space, i, t]
    assert spans == [(1, 2), (3, 3), (5, 6), (7, 8), (10, 10), (11, 12)]
    assert score == pytest.approx(0.9)
    words = words_with_times("see it", spans, 0.04)
    assert words == [{"word": "see", "start": 0.04, "end": 0.28}, {"word": "it", "start": 0.4, "end": 0.52}]


def test_tidy_drops_leading_trailing_and_repeated_spaces():
    space = 9
    assert tidy([space, 1, space, space, 2, space], [(0, 0), (1, 1), (2, 2), (4, 4), (5, 5), (6, 6)], space) == \
        ([1, space, 2], [(1, 1), (2, 2), (5, 5)])


def test_beam_search_sums_paths_that_greedy_does_not():
    # Two frames over {blank, a}: each frame's best is blank (0.6), so greedy says nothing,
    # but "a" has three paths (a-, -a, aa) of total 1 - 0.36 = 0.64 > 0.36.
    log_probs = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy(log_probs)[0] == []
    tokens, log_probability = prefix_beam(log_probs, 4, space=5)
    assert tokens == [1] and np.exp(log_probability) == pytest.approx(0.64)


def test_a_word_list_keeps_the_beam_to_listed_words():
    vocabulary = Vocabulary.fit(["cat cot"])
    c, a, o, t, space = (vocabulary.index[ch] for ch in "caot ")
    # the acoustics lean to "cot" (o 0.55 against a 0.45); only "cat" is listed
    probabilities = np.full((3, len(vocabulary)), 1e-4)
    probabilities[0, c], probabilities[2, t] = 1.0, 1.0
    probabilities[1, o], probabilities[1, a] = 0.55, 0.45
    log_probs = np.log(probabilities / probabilities.sum(1, keepdims=True))
    assert vocabulary.decode(prefix_beam(log_probs, 4, space)[0]) == "cot"
    allowed = WordList([vocabulary.encode("cat")], space)
    assert vocabulary.decode(prefix_beam(log_probs, 4, space, allowed)[0]) == "cat"


def task_for(transcripts: list[str], **options) -> SpeechRecognition:
    task = SpeechRecognition(**options)
    task.fit([Example(f"clip{i}.wav", text, f"train.csv:{i + 2}") for i, text in enumerate(transcripts)])
    return task


def test_the_ctc_loss_reads_ragged_targets_and_each_clips_frames():
    import torch

    task = task_for(["a cab", "bad"])
    targets = task.collate_targets([task.encode("a cab", {}), task.encode("bad", {})])
    assert isinstance(targets, list) and [len(t) for t in targets] == [5, 3]
    logits = torch.zeros(2, 12, task.num_outputs, requires_grad=True)
    outputs = {"log_probs": logits.log_softmax(-1), "frames": torch.tensor([12, 7])}
    loss = task.loss(outputs, Batch({}, [torch.from_numpy(t) for t in targets]))
    loss.backward()
    assert loss.item() > 0 and logits.grad[1, 7:].abs().sum() == 0  # nothing flows from past a clip's frames
    assert logits.grad[1, :7].abs().sum() > 0


def test_error_rates_per_utterance_name_the_clip():
    task = task_for(["the cat sat", "a dog"])
    references = ["the cat sat", "a dog"]
    said = ["the cat at", "a dog"]
    outputs = {"log_probs": np.stack([frames_of(_path(task, text, 24), len(task.vocabulary)) for text in said]),
               "frames": np.array([24, 24])}
    batch = Batch({}, [task.encode(r, {}) for r in references], examples=[Example("x", None, "test.csv:2"),
                                                                             Example("y", None, "test.csv:3")])
    [metric] = task.metrics()
    metric.update(outputs, batch)
    scores = metric.compute()
    assert scores["wer"] == pytest.approx(1 / 5) and scores["cer"] == pytest.approx(1 / 16)
    assert scores["worst_utterances"] == [{"source": "test.csv:2", "reference": "the cat sat", "hypothesis": "the cat at",
                                           "word_errors": 1, "words": 3, "wer": 0.3333}]
    assert metric.directions == {"wer": False, "cer": False}  # lower is better


def _path(task: SpeechRecognition, text: str, frames: int = 12) -> list[int]:
    """A frame path spelling ``text`` (blank between letters), padded with blanks to ``frames``."""
    path = []
    for index in task.vocabulary.encode(text):
        path += [index, 0]
    return (path + [0] * frames)[:max(frames, len(path))]


def test_decode_gives_text_word_times_and_round_trips_through_state(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("Cat\nsat, the\n")
    task = task_for(["the cat sat"], decoder="beam", beam_width=4, words=str(words))
    again = SpeechRecognition.from_state(json.loads(json.dumps(task.state())))
    assert again.words == ["cat", "sat", "the"] and again.vocabulary.characters == task.vocabulary.characters
    log_probs = frames_of(_path(task, "the cat sat", 24), len(task.vocabulary))[None]
    batch = Batch({"lengths": np.array([16000])})
    [answer] = again.decode({"log_probs": log_probs, "frames": np.array([24])}, batch)
    assert answer["text"] == "the cat sat"
    greedy_task = task_for(["the cat sat"])
    [answer] = greedy_task.decode({"log_probs": log_probs, "frames": np.array([24])}, batch)
    assert answer["text"] == "the cat sat" and [w["word"] for w in answer["words"]] == ["the", "cat", "sat"]
    assert answer["words"][0]["start"] == 0 and answer["words"][-1]["end"] <= 1.0  # 24 frames in one second


def test_a_word_the_vocabulary_cannot_spell_is_refused_at_training(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("zebra\n")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        task_for(["the cat sat"], words=str(words))


def test_transcribed_folders_and_manifests_are_read(tmp_path):
    clips = write_transcribed(tmp_path / "set", 3, seed=0)
    examples = read_examples(tmp_path / "set", ReadOptions())
    assert [e.label for e in examples] == [c.with_suffix(".txt").read_text().strip() for c in clips]
    rows = [{"path": str(c), "text": c.with_suffix(".txt").read_text().strip()} for c in clips]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "m.csv").write_text("path,text\n" + "".join(f"{r['path']},{r['text']}\n" for r in rows))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    for name in ("m.jsonl", "m.csv", "m.parquet"):
        assert [e.label for e in read_examples(tmp_path / name, ReadOptions())] == [e.label for e in examples], name


def test_a_clip_without_its_transcript_and_a_missing_clip_are_one_line_each(tmp_path):
    clips = write_transcribed(tmp_path / "set", 2, seed=0)
    clips[1].with_suffix(".txt").unlink()
    with pytest.raises(DataError, match=r"clip_0001\.wav: no transcript clip_0001\.txt beside this clip"):
        read_examples(tmp_path / "set", ReadOptions())
    (tmp_path / "m.csv").write_text(f"path,text\n{clips[0]},cat\ngone.wav,dog\n")
    with pytest.raises(DataError) as err:
        read_examples(tmp_path / "m.csv", ReadOptions())
    assert str(err.value).startswith(f"{tmp_path / 'm.csv'}:3: ") and "gone.wav: no such audio file" in str(err.value)
    assert "\n" not in str(err.value)


def test_long_and_too_short_clips_are_refused_never_cut(tmp_path):
    rng = np.random.default_rng(0)
    long_clip, short_clip = tmp_path / "long.wav", tmp_path / "short.wav"
    soundfile.write(str(long_clip), spell("hello world apple", 16000, rng), 16000)
    soundfile.write(str(short_clip), np.zeros(100, np.float32), 16000)
    pre = AudioPreprocessor({"max_seconds": 1.0, "min_samples": 400, "long_clips": "refuse"})
    with pytest.raises(DataError, match=r"long\.wav: the clip is \d\.\d\d s, longer than --max-seconds 1 "):
        pre(str(long_clip))
    with pytest.raises(DataError, match=r"short\.wav: the clip is 100 samples \(6\.2 ms at 16000 Hz\), shorter than "
                                         r"the model's receptive field \(400 samples\)"):
        pre(str(short_clip))
    assert AudioPreprocessor({"max_seconds": 1.0})(str(long_clip))["waveform"].size == 16000  # classification crops


def test_the_task_makes_the_preprocessor_refuse_long_clips():
    task, pre = task_for(["a cat"]), AudioPreprocessor({"sample_rate": 8000})
    task.fit_to(pre)
    assert pre.config["long_clips"] == "refuse" and task.sample_rate == 8000


def test_the_conformer_counts_its_frames_and_checks_its_config():
    import torch

    from hub_core.api import UsageError
    from hub_speech.conformer import ConformerBackbone

    backbone = ConformerBackbone({"n_mels": 40, "conv_channels": 8, "d_model": 32, "num_layers": 1, "num_heads": 2,
                                  "ffn_dim": 64}).eval()
    waveform = torch.randn(2, 16000)
    with torch.no_grad():
        features = backbone(waveform, torch.tensor([16000, 8000]))
    # 101 and 51 STFT frames (10 ms hop, centred), halved twice: 26 and 13 frames of 40 ms
    assert features["mask"].sum(1).tolist() == [26, 13] and features["sequence"].shape == (2, 26, 32)
    assert backbone.preprocessor_config()["min_samples"] == 400  # one STFT window: the receptive field's floor
    for bad, message in (({"d_model": 30, "num_heads": 4}, "multiple of num_heads"), ({"subsampling": 3}, "2 or 4"),
                         ({"kernel_size": 14}, "odd"), ({"layers": 2}, "did you mean 'num_layers'")):
        with pytest.raises(UsageError, match=message):
            ConformerBackbone(bad)
