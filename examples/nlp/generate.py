"""Generated text data for the NLP example, tests and benchmark (seeded, no downloads).

Topic sentences: four topics with forty words each, mixed with shared function words;
the label is the topic. A sentence uses a few topic words only, so a small labelled set
leaves most of each topic's words unseen: a model pre-trained (MLM) on an unlabelled
corpus where the words co-occur can still place them, a model trained from scratch
cannot. NER sentences: templates with people, places and organisations (BIO tags).

    python examples/nlp/generate.py OUT_DIR     writes corpus.txt, train.csv, val.csv,
                                                ner_train.conll, ner_val.jsonl
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from hub_nlp.demo import FUNCTION, TOPICS, topic_rows, topic_sentence, write_csv  # noqa: F401 - shared with hub demo

PEOPLE = ["John Smith", "Maria Garcia", "Wei Chen", "Aisha Khan", "Liam O'Brien", "Sofia Rossi", "Yuki Tanaka",
          "Ahmed Hassan", "Emma Dubois", "Noah Müller", "Olga Ivanova", "Carlos Silva", "Priya Patel", "Tom"]
PLACES = ["Paris", "New York", "Berlin", "Tokyo", "Cairo", "Lima", "Oslo", "Cape Town", "Sydney", "Toronto",
          "Mumbai", "Buenos Aires", "Rome", "Nairobi"]
ORGS = ["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries", "Wayne Enterprises", "Hooli",
        "Vandelay Imports", "Cyberdyne Systems", "Soylent", "Tyrell Corporation", "Aperture Science"]
TEMPLATES = ["{PER} works for {ORG} in {LOC} .", "{PER} flew to {LOC} on Monday .", "{ORG} opened an office in {LOC} .",
             "Yesterday {PER} met {PER} at {ORG} .", "{PER} lives near {LOC} and likes it .",
             "The mayor of {LOC} thanked {ORG} .", "{PER} left {ORG} last year ."]


def ner_sentence(rng: random.Random) -> tuple[list[str], list[str]]:
    words, tags = [], []
    for piece in rng.choice(TEMPLATES).split():
        if piece in ("{PER}", "{LOC}", "{ORG}"):
            kind = piece[1:-1]
            name = rng.choice({"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}[kind]).split()
            words += name
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
        else:
            words.append(piece)
            tags.append("O")
    return words, tags


def ner_rows(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    return [ner_sentence(rng) for _ in range(n)]


def write_conll(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for words, tags in rows:
            handle.write("".join(f"{w}\t{t}\n" for w, t in zip(words, tags)) + "\n")


def write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for words, tags in rows:
            handle.write(json.dumps({"tokens": words, "tags": tags}) + "\n")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "corpus.txt").write_text("\n".join(text for text, _ in topic_rows(4000, seed=1)) + "\n", encoding="utf-8")
    write_csv(out / "train.csv", topic_rows(80, seed=2, words_per_topic=8))
    write_csv(out / "val.csv", topic_rows(400, seed=3))
    write_conll(out / "ner_train.conll", ner_rows(300, seed=4))
    write_jsonl(out / "ner_val.jsonl", ner_rows(100, seed=5))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "nlp-data"))
