"""Read extractive question-answering examples: SQuAD JSON (v1.1 and v2) and tables.

  SQuAD JSON (.json)     {"data": [{"paragraphs": [{"context", "qas": [{"id", "question",
                         "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}
  table (.csv .jsonl .parquet)  columns question, context, answer_text, answer_start; an empty
                         answer_text (and answer_start) is a question the context does not answer

Each example's input is the pair (question, context); its label is the list of reference
answers ``[{"text", "start"}]``, empty when unanswerable (SQuAD v2). An answer whose start
does not point at its text is refused with the file, line and value: a shifted offset trains
the model on the wrong span without any other sign.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from hub_core.api import DataError, Example, ReadOptions, iter_rows

QA_COLUMNS = ("question", "context")
ANSWER_COLUMNS = ("answer_text", "answer_start")
QUESTION_ID = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def is_squad(path: Path) -> bool:
    """A .json file whose first non-blank character opens an object (JSON lines start each line so too,
    but SQuAD is one document: its first line does not close)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith("{") and '"data"' in head[:200]


def has_qa_columns(path: Path) -> bool:
    """Whether a table's first row has the question and context columns."""
    for _, row in iter_rows(path):
        return all(column in row for column in QA_COLUMNS)
    return False


def checked_answer(context: str, text, start, where: dict) -> dict:
    """One reference answer, its start pointing at its text in the context."""
    if not isinstance(text, str) or not text.strip():
        raise DataError("an answer's text is empty", **where, value=text)
    try:
        start = int(start)
    except (TypeError, ValueError):
        raise DataError("answer_start is not a whole number", **where, value=start) from None
    if context[start:start + len(text)] != text:
        found = context[start:start + len(text)]
        raise DataError(f"answer_start {start} does not point at the answer {text!r} (the context has {found!r} "
                        "there)", **where, value=start)
    return {"text": text, "start": start}


def read_squad(path: Path, options: ReadOptions) -> list[Example]:
    try:
        raw = path.read_text(encoding="utf-8-sig")
        document = json.loads(raw)
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text ({err.reason} at byte {err.start})", file=path) from None
    except json.JSONDecodeError as err:
        raise DataError(f"not JSON: {err.msg}", file=path, line=err.lineno) from None
    lines = {m.group(1): raw.count("\n", 0, m.start()) + 1 for m in QUESTION_ID.finditer(raw)}
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise DataError('not SQuAD JSON: expected {"data": [{"paragraphs": [...]}]}', file=path)
    examples = []
    for article in document["data"]:
        for paragraph in article.get("paragraphs", []) if isinstance(article, dict) else []:
            context = paragraph.get("context")
            for qa in paragraph.get("qas", []):
                line = lines.get(str(qa.get("id")))
                examples.append(_squad_example(path, line, context, qa, options))
    if not examples:
        raise DataError("no questions found (SQuAD JSON: data → paragraphs → qas)", file=path)
    return examples


def _squad_example(path: Path, line, context, qa: dict, options: ReadOptions) -> Example:
    where = {"file": path, "line": line}
    if not isinstance(context, str) or not context.strip():
        raise DataError("empty context", **where, field="context", value=context)
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError("empty question", **where, field="question", value=question)
    label = None
    if options.labelled:
        answers = [] if qa.get("is_impossible") else qa.get("answers", [])
        label = [checked_answer(context, a.get("text"), a.get("answer_start"), {**where, "field": "answer_start"})
                 for a in answers]
        if not label and not qa.get("is_impossible"):
            raise DataError("no answers, and is_impossible is not true", **where, field="answers")
    return Example((question, context), label, f"{path}:{line}" if line else str(path))


def read_qa_table(path: Path, options: ReadOptions) -> list[Example]:
    """Rows of question, context (and, labelled, answer_text, answer_start)."""
    examples = []
    for line, row in iter_rows(path, required=QA_COLUMNS + (ANSWER_COLUMNS if options.labelled else ())):
        for column in QA_COLUMNS:
            if not isinstance(row[column], str) or not row[column].strip():
                raise DataError("empty or missing text", file=path, line=line, field=column, value=row[column])
        label = None
        if options.labelled:
            text = row["answer_text"]
            unanswered = text is None or (isinstance(text, str) and not text.strip())
            label = [] if unanswered else [checked_answer(row["context"], text, row["answer_start"],
                                                          {"file": path, "line": line, "field": "answer_start"})]
        examples.append(Example((row["question"], row["context"]), label, f"{path}:{line}"))
    return examples
