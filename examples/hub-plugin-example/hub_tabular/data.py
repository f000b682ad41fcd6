"""Read tabular examples: one row of a CSV, TSV or JSONL file is one example."""
from __future__ import annotations

from pathlib import Path

from hub_core.api import DataError, Example, ReadOptions, iter_rows


def read_examples(path: str | Path, options: ReadOptions) -> list[Example]:
    """Each row's input is ``{column: value}`` for the input columns (``--input-column``,
    default: every column but the label); the preprocessor decides which are numeric."""
    path = Path(path)
    label = options.label_column
    required = tuple(options.input_columns) + ((label,) if options.labelled else ())
    examples, skipped, columns = [], 0, tuple(options.input_columns)
    for line, row in iter_rows(path, required=required):
        columns = columns or tuple(c for c in row if c != label)  # the first row's, for every row
        if options.labelled and (row[label] is None or str(row[label]).strip() == ""):
            if options.skip_bad:
                skipped += 1
                continue
            raise DataError("empty label", file=path, line=line, field=label)
        features = {column: row.get(column) for column in columns}  # a JSONL row may omit one: missing
        examples.append(Example(features, row[label] if options.labelled else None, f"{path}:{line}"))
    if not examples:
        raise DataError(f"no examples{f' ({skipped} skipped)' if skipped else ''}", file=path)
    return examples
