"""Generated extractive-QA data (a mechanism check, not a quality figure): contexts of a few
made-up facts ("The river of Kadomu is the Velari."), a question about one of them, its
answer cut from the context; with ``unanswerable``, some questions ask about a place the
context never names (SQuAD v2)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SYLLABLES = ["ka", "do", "mu", "ve", "la", "ri", "so", "ten", "bar", "qui", "lo", "zen", "pa", "mi", "tor", "el"]
RELATIONS = ["river", "mountain", "capital", "poet", "festival", "harbour"]


def name(rng) -> str:
    return "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))).capitalize()


def qa_rows(n: int, seed: int, facts: int = 4, unanswerable: float = 0.0) -> list[dict]:
    """Rows {question, context, answer_text, answer_start}; "" answers for the unanswerable."""
    rng, rows = np.random.default_rng(seed), []
    for _ in range(n):
        places = [name(rng) for _ in range(facts)]
        told = [(place, str(rng.choice(RELATIONS)), name(rng)) for place in places]
        context, starts = "", []
        for place, relation, value in told:
            sentence = f"The {relation} of {place} is the {value}. "
            starts.append(len(context) + sentence.index(value, len(relation) + len(place) + 9))
            context += sentence
        pick = int(rng.integers(0, facts))
        place, relation, value = told[pick]
        if rng.random() < unanswerable:
            rows.append({"question": f"What is the {relation} of {name(rng)}x?", "context": context.strip(),
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
