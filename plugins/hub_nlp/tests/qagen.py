"""Generated extractive-QA data (a mechanism check, not a quality figure): contexts of a few
made-up facts ("The river of Amber Heron is the Slate Pine."), a question about one of them, its
answer cut from the context; with ``unanswerable``, some questions ask about a place the
context never names (SQuAD v2)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

NAMES = ("amber alder birch cedar cobalt coral crimson dune ember falcon fern flint frost garnet hazel heron "
         "indigo ivory jasper juniper lark linden maple marble meadow onyx opal orchid osprey pine quartz raven "
         "rowan sable sage slate sparrow thistle willow wren").split()
RELATIONS = ["river", "mountain", "capital", "poet", "festival", "harbour", "forest", "bridge", "lake", "saint"]


def name(rng) -> str:
    """Two words of a closed list: a tiny model's tokenizer, trained on a few hundred rows, knows them all."""
    return " ".join(rng.choice(NAMES, size=2)).title()


def qa_rows(n: int, seed: int, facts: int = 4, unanswerable: float = 0.0) -> list[dict]:
    """Rows {question, context, answer_text, answer_start}; "" answers for the unanswerable."""
    rng, rows = np.random.default_rng(seed), []
    for _ in range(n):
        places = [name(rng) for _ in range(facts)]
        # the question's relation word finds the fact (while there are enough relations for each)
        relations = rng.choice(RELATIONS, size=facts, replace=facts > len(RELATIONS))
        told = [(place, str(relation), name(rng)) for place, relation in zip(places, relations)]
        context, starts = "", []
        for place, relation, value in told:
            sentence = f"The {relation} of {place} is the {value}. "
            starts.append(len(context) + sentence.index(value, len(relation) + len(place) + 9))
            context += sentence
        pick = int(rng.integers(0, facts))
        place, relation, value = told[pick]
        if rng.random() < unanswerable:
            rows.append({"question": f"What is the {relation} of {name(rng)}?", "context": context.strip(),
                         "answer_text": "", "answer_start": None})
            continue
        rows.append({"question": f"What is the {relation} of {place}?", "context": context.strip(),
                     "answer_text": value, "answer_start": starts[pick]})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def write_squad(path: Path, rows: list[dict]) -> Path:
    """The rows as SQuAD JSON (v2 fields when some are unanswerable), a paragraph per row."""
    paragraphs = [{"context": row["context"], "qas": [{
        "id": f"q{i}", "question": row["question"], "is_impossible": not row["answer_text"],
        "answers": [{"text": row["answer_text"], "answer_start": row["answer_start"]}] if row["answer_text"] else []}]}
        for i, row in enumerate(rows)]
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "generated", "paragraphs": paragraphs}]},
                               indent=1))
    return path
