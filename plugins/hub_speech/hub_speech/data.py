"""The audio reader: a folder per class, a folder of clips with their transcripts, a
CSV/TSV/JSONL/Parquet table of paths and labels (or transcripts), or one file.

Transcripts (speech recognition): a table's ``text`` column (or ``transcript``, ``sentence``)
is the label when it has no ``label`` column and ``--label-column`` is not given; in a
folder, a ``clip.txt`` beside ``clip.wav`` (at any depth, as LibriSpeech-style trees keep
them) makes the folder one of transcribed clips, and then every clip needs its own.

Every clip is decoded once here, so a corrupt, empty or mislabelled-format file is
reported (or, with ``--skip-bad``, skipped and counted) before training starts. A Parquet
file or datasets folder may hold the clips themselves (``datasets``' Audio feature: a column
of {bytes, path}, or binary): each is checked from the bytes as the table is scanned, one
record batch at a time, and kept as a Cell (table, row, the bytes' hash), read again where
it is preprocessed.
"""
from __future__ import annotations

from pathlib import Path

from hub_core.api import (Cell, DataError, Example, ReadOptions, is_bytes_column, is_table, iter_rows, notice, resolve_path,
                          scan_cells, table_columns)
from hub_speech.audio import AUDIO_SUFFIXES, read_audio

DEFAULT_PATH_COLUMN = "path"
TRANSCRIPT_COLUMNS = ("text", "transcript", "sentence")  # the label of a table without "label"
BYTES_COLUMN = "audio"  # datasets' Audio feature, when the table has no path column


def read_examples(path: str | Path, options: ReadOptions) -> list[Example]:
    path = Path(path)
    if path.is_dir() and not is_table(path):  # a datasets folder (save_to_disk) is a table
        candidates = _folder(path, options)
    elif is_table(path):
        candidates = _table(path, options)
    elif path.suffix.lower() in AUDIO_SUFFIXES:
        if options.labelled:
            raise DataError("a single audio file has no label: give a folder per class or a CSV/JSONL with "
                            "path and label columns", file=path)
        candidates = [(path, None, str(path), None)]
    else:
        raise DataError("expected a folder of class folders, a CSV/TSV/JSONL table, or an audio file "
                        f"({', '.join(AUDIO_SUFFIXES)})", file=path)
    return _checked(candidates, options)


def _is_audio(file: Path) -> bool:
    return file.is_file() and file.suffix.lower() in AUDIO_SUFFIXES and not file.name.startswith(".")


def _folder(root: Path, options: ReadOptions):
    """``root/<label>/**/clip.wav``; unlabelled: every clip below ``root``."""
    if not options.labelled:
        return [(file, None, str(file), None) for file in sorted(root.rglob("*")) if _is_audio(file)]
    transcribed = _transcribed(root)
    if transcribed is not None:
        return transcribed
    stray = next((file for file in sorted(root.iterdir()) if _is_audio(file)), None)
    if stray is not None:
        raise DataError("audio file outside any class folder (put each class's clips in a folder named after it)",
                        file=stray)
    classes = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if not classes:
        raise DataError("has no class folders: put each class's clips in a folder named after the class", file=root)
    return [(file, folder.name, str(file), None)
            for folder in classes for file in sorted(folder.rglob("*")) if _is_audio(file)]


def _transcribed(root: Path):
    """(clip, its transcript, source, None) of a folder where clips have a .txt beside them;
    None when no clip has one (a folder of class folders)."""
    clips = [file for file in sorted(root.rglob("*")) if _is_audio(file)]
    if not any(file.with_suffix(".txt").is_file() for file in clips):
        return None
    rows = []
    for file in clips:
        text = file.with_suffix(".txt")
        if not text.is_file():
            raise DataError(f"no transcript {text.name} beside this clip (in a folder of transcribed clips, "
                            "each clip has a .txt of the same name)", file=file)
        rows.append((file, text.read_text(encoding="utf-8").strip(), str(file), None))
    return rows


def label_key(columns, options: ReadOptions) -> str:
    """The label's column: --label-column when given or present, else a transcript's column."""
    if options.label_column != "label" or "label" in columns:
        return options.label_column
    return next((name for name in TRANSCRIPT_COLUMNS if name in columns), options.label_column)


def _table(table: Path, options: ReadOptions):
    names = table_columns(table)  # a columnar table's schema (None for CSV/JSONL)
    column = options.input_columns[0] if options.input_columns else (
        BYTES_COLUMN if names is not None and DEFAULT_PATH_COLUMN not in names and BYTES_COLUMN in names
        else DEFAULT_PATH_COLUMN)
    if is_bytes_column(table, column):
        return _cells(table, column, options, names)
    rows, label = [], None
    for line, row in iter_rows(table, (column,)):
        if label is None:
            label = label_key(row, options)
            if options.labelled and label not in row:
                raise DataError(f"missing column {label!r} (columns: {', '.join(map(str, row))})", file=table)
        file = resolve_path(table, row[column], options.data_root, line)
        rows.append((file, row.get(label) if options.labelled else None, f"{table}:{line}", None))
    return rows


def _cells(table: Path, column: str, options: ReadOptions, names: list[str]):
    """Clips stored as bytes: (Cell, label, source, bytes), one at a time (the bytes are not
    kept); a row without bytes gives the path stored beside them."""
    label = label_key(names, options)
    if options.labelled and label not in names:
        raise DataError(f"missing column {label!r} (columns: {', '.join(names)})", file=table)
    for line, row, data in scan_cells(table, column, (label,) if options.labelled else ()):
        clip = row[column] if data is not None else resolve_path(table, row[column] or "", options.data_root, line)
        yield clip, row.get(label), f"{table}:{line}", data


def _checked(candidates, options: ReadOptions) -> list[Example]:
    """Decode each clip; a bad one stops the read, or is skipped and counted with --skip-bad."""
    examples, skipped = [], []
    for file, label, source, data in candidates:
        try:
            read_audio(file, data)
        except DataError as err:
            where = source if source != str(file) else None
            error = DataError(str(err), file=where) if where else err  # a table's line, then the clip
            if not options.skip_bad:
                raise error from None
            skipped.append(str(error))
            continue
        examples.append(Example(input=file if isinstance(file, Cell) else str(file), label=label, source=source))
    if skipped:
        notice(f"skipped {len(skipped)} unreadable audio file(s) (--skip-bad); first: {skipped[0]}")
    return examples
