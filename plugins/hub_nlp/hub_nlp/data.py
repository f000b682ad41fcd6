"""Read text examples: CSV/TSV/JSONL tables, CoNLL files, plain-text corpora.

  table (.csv .tsv .jsonl)  one example per row. Text column(s): ``input_columns`` (two
                            columns make a text pair), else the first of text / tokens /
                            sentence. Label column: ``label_column``, else tags / ner_tags
                            when "label" is absent. A JSON list of words is pre-tokenized
                            input (NER); its tags must be a list of the same length.
  CoNLL (.conll .bio .iob)  one word per line (word first, tag last), blank lines between
                            sentences, -DOCSTART- lines ignored.
  QA (.json SQuAD, or a table with question and context columns): hub_nlp.qa_data
  pairs (a table with source and target columns, or a .txt with --read-option target=FILE):
                            text-to-text, hub_nlp.seq2seq_data
  corpus (.txt, a folder)   one text per non-empty line; a folder means all its *.txt files.
                            Unlabelled: for pre-training and prediction.
"""
from __future__ import annotations

from pathlib import Path

from hub_nlp import qa_data, seq2seq_data

from hub_core.api import (ColumnsBuilder, DataError, Example, ExampleColumns, ReadOptions, is_table, iter_rows, notice,
                          read_columns)

DEFAULT_TEXT_COLUMNS = ("text", "tokens", "sentence")
DEFAULT_LABEL_COLUMNS = ("label", "tags", "ner_tags")
CONLL_SUFFIXES = (".conll", ".bio", ".iob")


def read_examples(path: str | Path, options: ReadOptions) -> list[Example]:
    path = Path(path)
    skipped: list[DataError] = []
    if path.is_dir() and not is_table(path):  # a datasets folder (save_to_disk) is a table
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DataError("the folder has no .txt files", file=path)
        examples = [e for file in files for e in _read_lines(file, options)]
    elif path.suffix.lower() == ".txt" and seq2seq_data.TARGET_OPTION in options.extra:
        examples = seq2seq_data.read_parallel(path, options)  # two parallel files: source and target lines
    elif path.suffix.lower() == ".txt":
        examples = _read_lines(path, options)
    elif path.suffix.lower() in CONLL_SUFFIXES:
        examples = _read_conll(path, options, skipped)
    elif qa_data.is_squad(path):
        examples = qa_data.read_squad(path, options)
    elif is_table(path) and not options.input_columns and qa_data.has_qa_columns(path):
        examples = qa_data.read_qa_table(path, options)  # question, context, answer_text, answer_start
    elif is_table(path) and not options.input_columns and seq2seq_data.has_pair_columns(path):
        examples = seq2seq_data.read_pairs_table(path, options)  # source, target
    elif is_table(path):
        examples = _read_table(path, options, skipped)
    else:
        raise DataError(f"cannot read {path.suffix or 'files without a suffix'} as text "
                        f"(expected .csv, .tsv, .jsonl, .conll or .txt, or a folder of .txt)", file=path)
    if skipped:
        notice(f"skipped {len(skipped)} bad example(s) in {path}; first: {skipped[0]}")
    return examples


def _read_lines(path: Path, options: ReadOptions) -> list[Example]:
    if options.labelled:
        raise DataError("a .txt corpus has no labels: give a CSV, TSV, JSONL or CoNLL file with labels "
                        "(plain text is for 'hub pretrain' and 'hub predict')", file=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text ({err.reason} at byte {err.start})", file=path) from None
    return [Example(line.strip(), None, f"{path}:{number}")
            for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _first_present(columns, candidates: tuple[str, ...]) -> str:
    return next((c for c in candidates if c in columns), candidates[0])


def _read_table(path: Path, options: ReadOptions, skipped: list):
    """The rows as ExampleColumns: texts and labels in Arrow arrays, no object per row."""
    if len(options.input_columns) > 2:
        raise DataError(f"at most two text columns (a text pair), got {', '.join(options.input_columns)}", file=path)
    stat = path.stat()
    identity = (f"hub_nlp table v1 {path.resolve()} {stat.st_size} {stat.st_mtime_ns} {options.input_columns} "
                f"{options.label_column} {options.labelled} {options.skip_bad}")
    fast = _arrow_table(path, options, identity)
    if fast is not None:
        return fast
    built, text_columns, label_column = None, None, None
    for line, row in iter_rows(path):
        if text_columns is None:  # the first row settles which columns to read
            text_columns, label_column = _chosen(row, options)
            missing = [c for c in text_columns + ((label_column,) if label_column else ()) if c not in row]
            if missing:
                raise DataError(missing_column(missing[0], list(row), text_columns, label_column), file=path, line=line)
            built = ColumnsBuilder(len(text_columns), str(path))
        try:
            built.add(*_row_values(path, line, row, text_columns, label_column), line)
        except DataError as err:
            if not options.skip_bad:
                raise
            skipped.append(err)
    return [] if built is None else built.build(identity)


def missing_column(name: str, columns: list, text_columns: tuple, label_column: str | None) -> str:
    """What is missing, the columns there are, and the flag that names another one."""
    flag = "--input-column" if name in text_columns else "--label-column"
    others = [str(c) for c in columns if c not in (*text_columns, label_column)]
    return (f"missing column {name!r} (columns: {', '.join(map(str, columns))}); name the "
            f"{'text' if flag == '--input-column' else 'label'} column with {flag}"
            + (f" (e.g. {flag} {others[0]})" if others else ""))


def _chosen(columns, options: ReadOptions) -> tuple[tuple[str, ...], str | None]:
    """(text columns, label column or None) among ``columns``: the first row settles them."""
    text_columns = tuple(options.input_columns) or (_first_present(columns, DEFAULT_TEXT_COLUMNS),)
    label_column = None
    if options.labelled:
        label_column = options.label_column if options.label_column != "label" else _first_present(
            columns, DEFAULT_LABEL_COLUMNS)
    return text_columns, label_column


def _arrow_table(path: Path, options: ReadOptions, identity: str):
    """A plain CSV/TSV/Parquet file of non-blank texts read and checked column-wise by Arrow;
    None for anything else (lists of words, a blank text, an odd file): the row-by-row read
    then gives the same examples, or the one-line error naming the row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chosen = {}

    def choose(names):
        chosen["texts"], chosen["label"] = _chosen(names, options)
        return chosen["texts"] + ((chosen["label"],) if chosen["label"] else ())

    got = read_columns(path, choose)
    if got is None:
        return None
    columns, lines = got
    texts = [columns[c] for c in chosen["texts"]]
    for text in texts:
        if not pa.types.is_string(text.type) or text.null_count or any(_has_blank(chunk) for chunk in text.chunks):
            return None
    label = columns[chosen["label"]] if chosen["label"] else pa.nulls(len(lines))
    if pa.types.is_string(label.type) and pc.count_distinct(label).as_py() < 1000:
        label = label.dictionary_encode()  # a few classes: each stored once
    pa.default_memory_pool().release_unused()  # the checks' freed buffers (120 MB at a million Parquet rows)
    return ExampleColumns(texts, label, str(path), lines, identity=identity)


def _has_blank(texts) -> bool:
    """Whether a chunk of texts has one that is empty or only whitespace (Unicode's, as
    ``str.strip``). Trimmed a chunk at a time: the copy is one chunk, not the whole column."""
    import pyarrow.compute as pc

    return len(texts) > 0 and pc.any(pc.equal(pc.utf8_trim_whitespace(texts), "")).as_py()


def _row_values(path: Path, line: int, row: dict, text_columns: tuple[str, ...], label_column: str | None):
    """(texts, label) of one row, checked."""
    texts = []
    for column in text_columns:
        value = row.get(column)
        if isinstance(value, list):
            if not value or not all(isinstance(w, str) and w.strip() for w in value):
                raise DataError("a list of words must hold non-empty strings", file=path, line=line, field=column, value=value)
        elif not isinstance(value, str) or not value.strip():
            raise DataError("empty or missing text", file=path, line=line, field=column, value=value)
        texts.append(value)
    label = row.get(label_column) if label_column else None
    if isinstance(texts[0], list) and isinstance(label, list) and len(label) != len(texts[0]):
        raise DataError(f"{len(texts[0])} words but {len(label)} tags", file=path, line=line, field=label_column)
    return tuple(texts), label


def _read_conll(path: Path, options: ReadOptions, skipped: list) -> list[Example]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text ({err.reason} at byte {err.start})", file=path) from None
    examples, words, tags, start, bad = [], [], [], 0, None

    def flush():
        if words and bad is None:
            examples.append(Example(list(words), list(tags) if options.labelled else None, f"{path}:{start}"))
        elif bad is not None:
            if not options.skip_bad:
                raise bad
            skipped.append(bad)

    for number, line in enumerate(lines + [""], 1):
        cells = line.split()
        if not cells or cells[0] == "-DOCSTART-":
            flush()
            words, tags, bad = [], [], None
            continue
        if not words:
            start = number
        if options.labelled and len(cells) < 2 and bad is None:
            bad = DataError("expected 'WORD ... TAG' (a word and its tag, separated by whitespace)",
                            file=path, line=number, value=line)
        words.append(cells[0])
        tags.append(cells[-1])
    if not examples and not skipped:
        raise DataError("no sentences found", file=path)
    return examples
