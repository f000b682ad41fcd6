"""Read image examples: a folder with one subfolder per class, or a CSV/TSV/JSONL table
with a path column and a label column, or a single image file (unlabelled).

Table paths are relative to the table's folder (or to ``--data-root``). The label cell is
passed on as read: a class name, several names separated by the task's separator
(``a|b``, or a JSON list) for multi-label, a number for regression. Every image is
decoded once here (JPEG at reduced scale, so it is quick), so that a missing or corrupt
file fails now, naming the file, instead of in the middle of training; with
``--skip-bad`` such examples are skipped and counted.

A Parquet file or datasets folder may hold the images themselves (``datasets``' Image
feature: a column of {bytes, path}, or plain binary): they are checked from the bytes as
the table is scanned, one record batch at a time, and each example keeps only a Cell (the
table, the row, the bytes' hash), decoded again where it is preprocessed.
"""
from __future__ import annotations

from pathlib import Path

from hub_core.api import (DataError, Example, ReadOptions, is_bytes_column, is_table, iter_rows, notice, resolve_path,
                          scan_cells, table_columns)
from hub_vision.images import IMAGE_SUFFIXES, is_image_file, open_rgb

PATH_COLUMNS = ("path", "image", "file", "filename", "filepath")


def read_examples(path: str | Path, options: ReadOptions) -> list[Example]:
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", file=path)
    skipped: list[str] = []
    if path.is_dir() and not is_table(path):  # a datasets folder (save_to_disk) is a table
        examples = _read_folder(path, options, skipped)
    elif is_table(path):
        examples = _read_table(path, options, skipped)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        examples = _keep_readable([Example(str(path), None, str(path))], options, skipped)
    else:
        raise DataError(f"expected an image folder, a CSV/TSV/JSONL table or an image "
                        f"({', '.join(IMAGE_SUFFIXES)}), got a {path.suffix or 'suffix-less'} file", file=path)
    if skipped:
        shown = ", ".join(skipped[:3]) + (", …" if len(skipped) > 3 else "")
        notice(f"{path}: skipped {len(skipped)} unreadable example(s) (--skip-bad): {shown}")
    if not examples:
        raise DataError("no readable images" if skipped else "no images found", file=path)
    return examples


def _read_folder(folder: Path, options: ReadOptions, skipped: list[str]) -> list[Example]:
    if not options.labelled:  # prediction / pre-training: every image below the folder
        files = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p) and not _hidden(p, folder))
        return _keep_readable([Example(str(p), None, str(p)) for p in files], options, skipped)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p.name for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if not classes:
        raise DataError("expected one subfolder per class (e.g. cat/ and dog/), found no subfolders"
                        + (f" but {len(loose)} loose images" if loose else ""), file=folder)
    if loose:
        raise DataError(f"images directly in the folder, outside any class subfolder (first: {loose[0]}); "
                        "move them into a class folder", file=folder)
    examples = []
    for class_dir in classes:
        files = sorted(p for p in class_dir.rglob("*")
                       if p.is_file() and is_image_file(p) and not _hidden(p, class_dir))
        if not files:
            raise DataError(f"class folder {class_dir.name!r} has no images ({', '.join(IMAGE_SUFFIXES)})",
                            file=class_dir)
        examples += [Example(str(p), class_dir.name, str(p)) for p in files]
    return _keep_readable(examples, options, skipped)


def _read_table(table: Path, options: ReadOptions, skipped: list[str]) -> list[Example]:
    names = table_columns(table)  # a columnar table's schema: no row decoded
    first = (1, dict.fromkeys(names)) if names is not None else next(iter_rows(table), None)
    if first is None:  # the first row names the columns
        raise DataError("has no data rows", file=table)
    column = _path_column(table, first, options)
    if is_bytes_column(table, column):
        return _read_cells(table, column, options, skipped)
    required = (column, options.label_column) if options.labelled else (column,)
    examples = []
    for line, row in iter_rows(table, required):
        source = f"{table}:{line}"
        try:
            label = _label(table, line, row, options)
            image = resolve_path(table, row[column], options.data_root, line)
            if not image.is_file():
                raise DataError("image not found", file=table, line=line, field=column, value=row[column])
            examples.append(Example(str(image), label, source))
        except DataError as err:
            if not options.skip_bad:
                raise
            skipped.append(str(err))
    return _keep_readable(examples, options, skipped)


def _read_cells(table: Path, column: str, options: ReadOptions, skipped: list[str]) -> list[Example]:
    """Images stored as bytes in a table, each checked from the bytes in hand; a row with no
    bytes falls back to the path stored beside them (``datasets`` keeps local files so)."""
    if options.labelled and options.label_column not in table_columns(table):
        raise DataError(f"missing column {options.label_column!r} (columns: {', '.join(table_columns(table))})",
                        file=table)
    examples = []
    for line, row, data in scan_cells(table, column, (options.label_column,) if options.labelled else ()):
        try:
            label = _label(table, line, row, options)
            if data is not None:
                open_rgb(row[column], draft_size=32, data=data)
                examples.append(Example(row[column], label, f"{table}:{line}"))
                continue
            if not row[column]:
                raise DataError("neither image bytes nor a path", file=table, line=line, field=column)
            image = resolve_path(table, row[column], options.data_root, line)
            open_rgb(image, draft_size=32)
            examples.append(Example(str(image), label, f"{table}:{line}"))
        except DataError as err:
            if not options.skip_bad:
                raise
            skipped.append(str(err))
    return examples


def _label(table: Path, line: int, row: dict, options: ReadOptions):
    label = row.get(options.label_column) if options.labelled else None
    if options.labelled and (label is None or (isinstance(label, str) and not label.strip())):
        raise DataError("empty label", file=table, line=line, field=options.label_column)
    return label


def _path_column(table: Path, first: tuple[int, dict], options: ReadOptions) -> str:
    line, row = first
    if options.input_columns:
        if len(options.input_columns) != 1:
            raise DataError(f"images take one path column, got {', '.join(options.input_columns)}", file=table)
        column = options.input_columns[0]
        if column not in row:
            raise DataError(f"missing column {column!r} (columns: {', '.join(map(str, row))})", file=table, line=line)
        return column
    for column in PATH_COLUMNS:
        if column in row:
            return column
    raise DataError(f"no image path column: expected one of {', '.join(PATH_COLUMNS)} or --input-column NAME "
                    f"(columns: {', '.join(map(str, row))})", file=table, line=line)


def _keep_readable(examples: list[Example], options: ReadOptions, skipped: list[str]) -> list[Example]:
    kept = []
    for example in examples:
        try:
            open_rgb(example.input, draft_size=32)
        except DataError as err:
            if not options.skip_bad:
                if example.source != example.input:  # name the table line too
                    raise DataError(f"{err}", file=example.source) from None
                raise
            skipped.append(str(err))
            continue
        kept.append(example)
    return kept


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
