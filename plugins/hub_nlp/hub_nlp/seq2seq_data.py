"""Read text-to-text pairs (translation, summarisation): a table with ``source`` and ``target``
columns (CSV/TSV/JSONL/Parquet), or two parallel plain-text files, one sentence a line
(``--data train.en --read-option target=train.de``). Each example's input is the source text,
its label the target; an empty target is refused with its file, line and field (a model
trained to say nothing learns that fast)."""
from __future__ import annotations

from pathlib import Path

from hub_core.api import DataError, Example, ReadOptions, iter_rows

PAIR_COLUMNS = ("source", "target")
TARGET_OPTION = "target"  # --read-option target=FILE: the parallel file of a .txt source file


def has_pair_columns(path: Path) -> bool:
    for _, row in iter_rows(path):
        return all(column in row for column in PAIR_COLUMNS)
    return False


def _text(value, path, line, field, optional: bool = False) -> str | None:
    if optional and value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"empty {field}", file=path, line=line, field=field, value=value)
    return value.strip()


def read_pairs_table(path: Path, options: ReadOptions) -> list[Example]:
    required = PAIR_COLUMNS if options.labelled else PAIR_COLUMNS[:1]
    return [Example(_text(row["source"], path, line, "source"),
                    _text(row.get("target"), path, line, "target") if options.labelled else None, f"{path}:{line}")
            for line, row in iter_rows(path, required=required)]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"not UTF-8 text ({err.reason} at byte {err.start})", file=path) from None
    except OSError as err:
        raise DataError(f"cannot read ({err.strerror})", file=path) from None


def read_parallel(path: Path, options: ReadOptions) -> list[Example]:
    """Line i of ``path`` translated as line i of the target file; blank line pairs are skipped.
    Unlabelled (prediction), the source lines alone."""
    sources = _lines(path)
    if not options.labelled:
        return [Example(line.strip(), None, f"{path}:{number}") for number, line in enumerate(sources, 1) if line.strip()]
    target_path = Path(options.extra[TARGET_OPTION])
    targets = _lines(target_path)
    if len(sources) != len(targets):
        raise DataError(f"{len(sources)} lines, but the target file {target_path} has {len(targets)} (parallel files "
                        "have one line each)", file=path)
    return [Example(_text(source, path, number, "source"), _text(target, target_path, number, "target"),
                    f"{path}:{number}")
            for number, (source, target) in enumerate(zip(sources, targets), 1) if source.strip() or target.strip()]
