"""WebDataset-style tar shards as data: ``--data 'shards/train-*.tar'`` (a glob, or one .tar).

A shard holds samples as files that share a key (the member's name up to the first dot of
its file name): ``0001.jpg`` + ``0001.cls`` is an image with its label, ``0001.wav`` +
``0001.json`` (``{"label": ...}``) a clip with its. The shards are streamed member by
member, once, into an entry of the disk cache (``hub_core.common.diskcache``: keyed by each
shard's path, size, modification time and sampled contents; built atomically) as plain files and an
``index.csv`` of ``path,label,sample`` rows, which the modality's own table reader then
reads (``read``), so shards work in every modality that reads files; the examples' sources,
and errors, name the shard and the sample's key (``train-003.tar:0042``), not the unpacked
copy. A truncated or corrupt shard is one line naming the shard.
"""
from __future__ import annotations

import atexit
import csv
import glob
import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from hub_core.common import diskcache
from hub_core.common.errors import DataError
from hub_core.common.fasthash import file_digest
from hub_core.common.table import iter_rows

LABEL_SUFFIXES = (".cls", ".label")
INDEX = "index.csv"


def is_shards(data) -> bool:
    """A .tar, a glob of them, or a list of shard files (one rank's share)."""
    if isinstance(data, (list, tuple)):
        return True
    text = str(data)
    return text.lower().endswith(".tar") or (any(c in text for c in "*?[") and not Path(text).exists())


def matches(text: str) -> bool:
    """Whether a command-line input names shards: a .tar file, or a glob that matches one
    (a text with a ``*`` in it is a text, not a glob that matches nothing)."""
    if any(c in text for c in "*?[") and not Path(text).exists():
        return any(p.lower().endswith(".tar") for p in glob.glob(text))
    return text.lower().endswith(".tar") and Path(text).is_file()


def read(reader, pattern, options) -> list:
    """The examples of the shards ``pattern`` names, read by the modality's ``reader`` from
    their index; their sources (and the reader's errors) name the shard and sample key."""
    table = index(pattern)
    names = {f"{table}:{line}": row["sample"] for line, row in iter_rows(table)}
    where = re.compile(re.escape(str(table)) + r":\d+")
    try:
        examples = reader(table, options)
    except DataError as err:
        raise DataError(where.sub(lambda m: names.get(m.group(0), m.group(0)), str(err))) from None
    for example in examples:
        example.source = names.get(example.source, example.source)
    return examples


def shard_files(pattern) -> list[Path]:
    if isinstance(pattern, (list, tuple)):
        return [Path(p) for p in pattern]
    files = sorted(Path(p) for p in glob.glob(str(pattern)))
    if not files:
        raise DataError("no shards match" if any(c in str(pattern) for c in "*?[") else "no such file", file=pattern)
    return files


def index(pattern) -> Path:
    """The ``index.csv`` (path,label) of the samples of the shards ``pattern`` names."""
    files = shard_files(pattern)
    shown = pattern if not isinstance(pattern, (list, tuple)) else ", ".join(f.name for f in files)
    h = hashlib.sha256(b"shards-v3")  # v2: the index names each sample; v3: colliding keys refused
    for file in files:
        h.update(f"{file.resolve()}\0{file_digest(file)}\0".encode())  # a same-size, same-mtime rewrite misses
    key = h.hexdigest()[:40]
    if not diskcache.enabled():  # no cache: unpacked for this process only
        folder = Path(tempfile.mkdtemp(prefix="plughub-shards-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _unpack(files, folder)
        return folder / INDEX
    entry = diskcache.lookup(key)
    if entry is None:
        with diskcache.building(key, "shards", f"{len(files)} shard(s) {shown}") as folder:
            _unpack(files, folder)
        entry = diskcache.lookup(key)
        if entry is None:
            raise DataError(f"the unpacked shards do not fit the disk cache's limit ({diskcache.limit()} bytes; "
                            f"PLUGHUB_CACHE_LIMIT)", file=shown)
    return entry / INDEX


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[-120:] or "_"


def _unpack(files: list[Path], folder: Path) -> None:
    with open(folder / INDEX, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "sample"])
        for number, shard in enumerate(files):
            try:
                _unpack_shard(shard, folder / f"s{number:05d}", writer)
            except (tarfile.TarError, EOFError, OSError, ValueError) as err:  # ValueError: bad JSON or UTF-8
                raise DataError(f"truncated or unreadable shard ({err})", file=shard) from None


def _unpack_shard(shard: Path, folder: Path, writer) -> None:
    folder.mkdir()
    current, sample = None, {}
    written: dict[str, str] = {}  # file name -> the sample key it came from

    def flush():
        if current is None:
            return
        inputs = [name for suffix, name in sample.items() if suffix not in LABEL_SUFFIXES + (".json",)]
        if not inputs:
            raise DataError(f"sample {current!r} has no input file (only {', '.join(sample)})", file=shard)
        writer.writerow([str(Path(folder.name) / inputs[0]), _label(folder, sample), f"{shard.name}:{current}"])

    with tarfile.open(shard, "r:") as tar:  # streamed member by member
        for member in tar:
            if not member.isfile():
                continue
            base = member.name.rsplit("/", 1)[-1]
            key = member.name[:len(member.name) - len(base)] + base.split(".", 1)[0]
            suffix = "." + base.split(".", 1)[1].lower() if "." in base else ""
            if key != current:
                flush()
                current, sample = key, {}
            name = _safe(f"{len(sample)}-{key}{suffix}")
            if name in written:  # two samples made one file name: one would be trained on the other's file
                raise DataError(f"sample {key!r} appears twice in the shard" if written[name] == key else
                                f"samples {written[name]!r} and {key!r} unpack to the same file name {name!r} (keys "
                                f"are made file-safe); rename one of them", file=shard)
            written[name] = key
            with tar.extractfile(member) as source, open(folder / name, "wb") as target:
                shutil.copyfileobj(source, target)
            sample[suffix] = name
        end = tar.offset
    flush()
    with open(shard, "rb") as handle:  # tarfile stops quietly at a header cut short: only zeros may follow
        handle.seek(end)
        if handle.read().strip(b"\0"):
            raise tarfile.ReadError(f"cut short after {end} bytes")


def _label(folder: Path, sample: dict) -> str:
    for suffix in LABEL_SUFFIXES:
        if suffix in sample:
            return (folder / sample[suffix]).read_text(encoding="utf-8").strip()
    if ".json" in sample:
        value = json.loads((folder / sample[".json"]).read_text(encoding="utf-8")).get("label", "")
        return value if isinstance(value, str) else json.dumps(value)
    return ""
