"""End to end through the ``hub`` command line: fine-tune, predict, NER, pre-train -> transfer, MiniLM."""
import csv
import json
import random

import pytest

from conftest import TINY

pytestmark = pytest.mark.slow
FAST = ("--batch-size", "16", "--lr", "2e-3", "-q")


def write_csv(path, rows, columns=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([columns, *rows])
    return path


def manifest(directory):
    return json.loads((directory / "hub.json").read_text())


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory):
    """A preset smaller than bert-tiny, so these runs take seconds."""
    path = tmp_path_factory.mktemp("registry") / "registry.toml"
    config = ", ".join(f"{k} = {json.dumps(v)}" for k, v in TINY.items())
    path.write_text(f'[presets."test/bert-micro"]\nbackbone = "nlp/hf"\nconfig = {{ {config} }}\n')
    return path


def test_finetune_learns_a_generated_text_task_and_predict_prints_label_and_score(hub, generate, tmp_path):
    train = write_csv(tmp_path / "train.csv", generate.topic_rows(300, seed=0))
    code, _, err = hub("finetune", "nlp/bert-tiny", "--task", "classification", "--data", train, "--out",
                       tmp_path / "m", "--epochs", "3", "--val-split", "0.2", *FAST)
    assert code == 0, err
    written = manifest(tmp_path / "m")
    assert written["metrics"]["accuracy"] >= 0.9
    assert (tmp_path / "m" / "preprocessor" / "tokenizer.json").is_file()  # the WordPiece trained on train.csv
    # Unseen sentences of the task's own words, one per topic. (Words the generator never uses,
    # like "cold" or "heavy", become WordPiece fragments of other topics' words: what a model
    # trained from scratch on 240 sentences makes of them varied with the seed and the split.)
    rng = random.Random(123)
    held_out = {topic: generate.topic_sentence(rng, topic) for topic in sorted(generate.TOPICS)}
    code, out, err = hub("predict", tmp_path / "m", "the drummer and the violin played a ballad", *held_out.values())
    assert code == 0, err
    first, *rest = [line.split("\t") for line in out.strip().splitlines()]
    assert first[1] == "music" and 0.5 < float(first[2]) <= 1.0
    assert [label for _, label, _ in rest] == list(held_out) and all(float(score) > 0.5 for *_, score in rest), rest


def test_an_exported_encoder_has_fused_attention_and_answers_like_torch(hub, generate, tmp_path, tiny_registry):
    train = write_csv(tmp_path / "train.csv", generate.topic_rows(120, seed=0))
    code, _, err = hub("--registry", tiny_registry, "finetune", "test/bert-micro", "--task", "classification", "--data",
                       train, "--out", tmp_path / "m", "--epochs", "1", *FAST)
    assert code == 0, err
    code, _, err = hub("export", tmp_path / "m", "--quantize", "int8", "--int8-min-agreement", "0", "--int8-max-loss", "100")
    assert code == 0, err
    report = json.loads((tmp_path / "m" / "export.json").read_text())
    assert report["status"] == "ok" and report["exporter"] == "torchscript"
    assert report["fusion"]["ops"]["Attention"] == 2 and report["fusion"]["ops"]["EmbedLayerNormalization"] == 1
    padded = [c for c in report["validation"]["cases"] if c["shapes"]["input_ids"][0] > 1]
    assert padded and all(c["ok"] for c in report["validation"]["cases"])  # batches of sentences of several lengths
    assert (tmp_path / "m" / "model.int8.onnx").is_file()  # the fused graph quantizes


def test_token_classification_reports_entity_f1(hub, generate, tmp_path):
    generate.write_conll(tmp_path / "train.conll", generate.ner_rows(300, seed=1))
    generate.write_jsonl(tmp_path / "val.jsonl", generate.ner_rows(80, seed=2))
    code, _, err = hub("finetune", "nlp/bert-tiny", "--task", "token-classification", "--data", tmp_path / "train.conll",
                       "--val", tmp_path / "val.jsonl", "--out", tmp_path / "ner", "--epochs", "4", *FAST)
    assert code == 0, err
    metrics = manifest(tmp_path / "ner")["metrics"]
    assert metrics["f1"] >= 0.85 and set(metrics["per_type"]) == {"LOC", "ORG", "PER"}
    code, out, err = hub("predict", tmp_path / "ner", "Maria Garcia flew to Buenos Aires on Monday .", "--json")
    assert code == 0, err
    answer = json.loads(out)[0]["answer"]
    assert answer["tags"][:2] == ["B-PER", "I-PER"] and answer["tags"][4:6] == ["B-LOC", "I-LOC"]
    assert {"type": "LOC", "start": 4, "end": 6} in answer["entities"]


def test_pretrain_then_finetune_the_pretrained_directory(hub, generate, tmp_path, tiny_registry):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(text for text, _ in generate.topic_rows(400, seed=3)) + "\n")
    code, _, err = hub("--registry", tiny_registry, "pretrain", "test/bert-micro", "--objective", "mlm",
                       "--data", corpus, "--val", corpus, "--out", tmp_path / "mlm", "--epochs", "1", *FAST)
    assert code == 0, err
    pretrained = manifest(tmp_path / "mlm")
    assert pretrained["task"]["name"] == "mlm" and pretrained["head"]["name"] == "mlm"
    assert pretrained["metrics"]["perplexity"] < pretrained["task"]["state"]["vocab_size"]  # better than uniform
    train = write_csv(tmp_path / "train.csv", generate.topic_rows(120, seed=4))
    code, _, err = hub("finetune", tmp_path / "mlm", "--task", "classification", "--data", train,
                       "--out", tmp_path / "cls", "--epochs", "1", *FAST)
    assert code == 0, err
    transferred = manifest(tmp_path / "cls")
    assert transferred["backbone"]["config"]["vocab_size"] == pretrained["backbone"]["config"]["vocab_size"]
    assert (tmp_path / "cls" / "preprocessor" / "tokenizer.json").read_text() == \
        (tmp_path / "mlm" / "preprocessor" / "tokenizer.json").read_text()


def test_pretrain_rejects_a_labelled_task(hub, tmp_path):
    (tmp_path / "c.txt").write_text("some text\n")
    code, _, err = hub("pretrain", "nlp/bert-tiny", "--objective", "classification", "--data", tmp_path / "c.txt",
                       "--out", tmp_path / "x")
    assert code == 2 and "not a pre-training objective (pre-training objectives: mlm" in err


def test_minilm_finetunes_offline_on_its_real_features(hub, generate, tmp_path):
    train = write_csv(tmp_path / "train.csv", generate.topic_rows(120, seed=5))
    code, _, err = hub("finetune", "minilm-l6", "--task", "classification", "--data", train, "--out", tmp_path / "m",
                       "--freeze", "backbone", "--epochs", "3", "--val-split", "0.25", "--head-lr", "1e-2", *FAST)
    assert code == 0, err
    assert manifest(tmp_path / "m")["metrics"]["accuracy"] >= 0.9  # a linear probe on real sentence embeddings
    code, out, err = hub("predict", tmp_path / "m", "The chef added garlic and basil to the sauce.")
    assert code == 0 and out.split("\t")[1] == "food", err


def test_text_pairs_multilabel_and_regression_read_from_tables(hub, generate, tmp_path, tiny_registry):
    rng = random.Random(0)
    rows = generate.topic_rows(400, seed=6)
    pairs = [(a, b, "same" if la == lb else "different") for (a, la), (b, lb) in zip(rows, rng.sample(rows, len(rows)))]
    (tmp_path / "pairs.tsv").write_text("first\tsecond\tverdict\n" + "".join(f"{a}\t{b}\t{v}\n" for a, b, v in pairs))
    code, _, err = hub("--registry", tiny_registry, "finetune", "test/bert-micro", "--task", "classification",
                       "--data", tmp_path / "pairs.tsv", "--input-column", "first", "--input-column", "second",
                       "--label-column", "verdict", "--out", tmp_path / "pair", "--epochs", "1", *FAST)
    assert code == 0, err
    code, out, err = hub("predict", tmp_path / "pair", "rain and snow ||| a guitar solo")
    assert code == 0 and out.split("\t")[1] in ("same", "different"), err

    counted = [(text, text.split().count("the")) for text, _ in rows]
    write_csv(tmp_path / "reg.csv", counted, ("text", "value"))
    code, _, err = hub("--registry", tiny_registry, "finetune", "test/bert-micro", "--task", "regression", "--data",
                       tmp_path / "reg.csv", "--label-column", "value", "--out", tmp_path / "reg", "--epochs", "3", *FAST)
    assert code == 0, err
    assert manifest(tmp_path / "reg")["metrics"]["r2"] > 0.3

    two_topics = [(f"{a} {b}", "|".join(sorted({la, lb}))) for (a, la), (b, lb) in zip(rows[::2], rows[1::2])]
    write_csv(tmp_path / "multi.csv", two_topics)
    code, _, err = hub("--registry", tiny_registry, "finetune", "test/bert-micro", "--task", "multilabel", "--data",
                       tmp_path / "multi.csv", "--out", tmp_path / "multi", "--epochs", "1", *FAST)
    assert code == 0, err
    assert manifest(tmp_path / "multi")["task"]["state"]["labels"] == ["food", "music", "sport", "weather"]


def test_bad_text_data_is_one_clear_line(hub, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nfine,a\n,b\n")
    code, out, err = hub("finetune", "nlp/bert-tiny", "--task", "classification", "--data", bad, "--out", tmp_path / "x")
    assert code == 1 and err.count("\n") == 1 and "bad.csv:3: empty or missing text" in err and "Traceback" not in err


def test_a_max_length_past_the_models_positions_is_one_line(hub, generate, tmp_path, tiny_registry):
    """--max-length beyond max_position_embeddings once failed deep in the first batch."""
    train = write_csv(tmp_path / "train.csv", generate.topic_rows(40, seed=0))
    code, _, err = hub("--registry", tiny_registry, "finetune", "test/bert-micro", "--task", "classification", "--data",
                       train, "--out", tmp_path / "m", "--epochs", "1", "--max-length", "100000")
    assert code == 2 and err.count("\n") == 1 and "--max-length 100000 is beyond the 512 positions" in err, err
    assert not (tmp_path / "m").exists()
