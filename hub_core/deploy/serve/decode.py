"""Request bodies -> raw inputs, the values a preprocessor takes from ``hub predict``.

JSON: ``{"inputs": [ITEM, ...], "top_k": 1}`` where an ITEM is a string (a text), a list of
strings or numbers (a text pair, a user and an item), ``{"base64": ..., "filename": ...}``
(an image or audio file), or an object with one field per part (a fusion model), whose
values are any of those. Multipart: each ``inputs`` field is one item (a file or a text);
other fields make one fusion row, a field per part.

An uploaded file is written to the server's own private folder and handed to the
preprocessor as that file (what it reads from ``hub predict``), then deleted. No path a
client sends is ever opened: a string that names an existing file or folder is refused.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from pathlib import Path

from hub_core.deploy.inputs import existing_path
from hub_core.deploy.serve.models import BadInput

MAX_TOP_K = 1000
SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
# the suffix a file's first bytes imply, for uploads without a file name (readers may go by it)
MAGIC = [(b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"), (b"fLaC", ".flac"),
         (b"OggS", ".ogg")]


class TooLarge(BadInput):
    """Over a size limit (413)."""


class Uploads:
    """Uploaded files of one request, in the server's private folder; ``close`` deletes them."""

    def __init__(self, folder: Path):
        self.folder, self.files = folder, {}  # private path -> what the client called it

    def add(self, data: bytes, filename: str | None, where: str) -> str:
        if not data:
            raise BadInput(f"{where}: the uploaded file is empty")
        suffix = Path(filename or "").suffix
        if not SUFFIX.match(suffix):
            suffix = sniff_suffix(data)
        handle, name = tempfile.mkstemp(suffix=suffix, dir=self.folder)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        self.files[name] = where
        return name

    def tidy(self, message: str) -> str:
        """An error message with the private file names replaced by the inputs' names."""
        for path, where in self.files.items():
            message = message.replace(path, where)
        return message

    def close(self) -> None:
        for name in self.files:
            try:
                os.unlink(name)
            except OSError:
                pass


def sniff_suffix(data: bytes) -> str:
    if data[:4] == b"RIFF":
        return ".webp" if data[8:12] == b"WEBP" else ".wav"
    return next((suffix for magic, suffix in MAGIC if data.startswith(magic)), "")


def read_json(body: bytes, max_items: int, uploads: Uploads) -> tuple[list, list[str], int]:
    """(raw inputs, how each is shown in the answer, top_k) of a JSON body."""
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadInput(f"the body is not valid JSON ({err})") from None
    if not isinstance(request, dict):
        raise BadInput(f"the body must be a JSON object with an 'inputs' list, got {type(request).__name__}")
    unknown = sorted(set(request) - {"inputs", "top_k"})
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r} (expected 'inputs' and optionally 'top_k')")
    if "inputs" not in request:
        raise BadInput("missing field 'inputs' (a list of inputs)")
    items = request["inputs"]
    if not isinstance(items, list) or not items:
        raise BadInput(f"field 'inputs' must be a non-empty list, got {json.dumps(items)[:60]}")
    check_count(len(items), max_items)
    raws = [item_value(item, uploads, f"inputs[{i}]") for i, item in enumerate(items)]
    return raws, [shown(item, f"inputs[{i}]") for i, item in enumerate(items)], read_top_k(request.get("top_k", 1))


def shown(item, where: str) -> str:
    """An input as ``hub predict --json`` shows it: the text, the pair joined, a file's name."""
    if isinstance(item, list):
        return " ".join(map(str, item))
    if isinstance(item, dict):
        if "base64" in item:
            return str(item.get("filename") or where)
        return json.dumps({k: shown(v, f"{where}.{k}") if isinstance(v, (list, dict)) else v for k, v in item.items()})
    return str(item)


def check_count(count: int, max_items: int) -> None:
    if count > max_items:
        raise TooLarge(f"{count} inputs in one request; at most {max_items} (--max-items)")


def read_top_k(value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TOP_K:
        raise BadInput(f"field 'top_k' must be a whole number from 1 to {MAX_TOP_K}, got {value!r}")
    return value


def item_value(value, uploads: Uploads, where: str, part: bool = False):
    """One JSON item (or a fusion part's value) -> the raw input the preprocessor takes."""
    if isinstance(value, str):
        return text_value(value, where)
    if isinstance(value, bool) or value is None:
        if part:  # null: a fusion part not given (the model's missing-value policy decides); a flag
            return value
        raise BadInput(f"{where}: expected a string, a list or an object, got {json.dumps(value)}")
    if isinstance(value, (int, float)):
        if part:
            return value
        raise BadInput(f"{where}: expected a string, a list or an object, got the number {value}")
    if isinstance(value, list):
        if not value or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise BadInput(f"{where}: a list input holds strings or numbers (a text pair, a user and an item)")
        return tuple(text_value(v, f"{where}[{i}]") if isinstance(v, str) else v for i, v in enumerate(value))
    if "base64" in value:
        return upload_value(value, uploads, where)
    if part:
        raise BadInput(f"{where}: a part's value is a string, a number, a list or {{\"base64\": ...}}")
    return {str(key): item_value(v, uploads, f"{where}.{key}", part=True) for key, v in value.items()}


def text_value(text: str, where: str) -> str:
    if existing_path(text) is not None:
        raise BadInput(f"{where}: {text[:80]!r} names a file on the server; send files' contents "
                       "({\"base64\": ...} or multipart), never their paths")
    return text


def upload_value(value: dict, uploads: Uploads, where: str) -> str:
    extra = sorted(set(value) - {"base64", "filename"})
    if extra:
        raise BadInput(f"{where}: unknown field {extra[0]!r} beside 'base64' (only 'filename')")
    data, filename = value["base64"], value.get("filename")
    if not isinstance(data, str) or (filename is not None and not isinstance(filename, str)):
        raise BadInput(f"{where}: 'base64' (and 'filename') must be strings")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{where}: 'base64' is not valid base64") from None
    return uploads.add(raw, filename, where)


async def read_form(request, max_items: int, uploads: Uploads) -> tuple[list, list[str], int]:
    """(raw inputs, how each is shown, top_k) of a multipart/form-data body."""
    from starlette.datastructures import UploadFile

    try:
        form = await request.form(max_files=max_items, max_fields=max_items + 8)
    except Exception as err:  # noqa: BLE001 - python-multipart's parse errors: the client's body
        raise BadInput(f"the multipart body cannot be read ({' '.join(str(err).split())[:200]})") from None
    items, names, row, row_names, top_k = [], [], {}, {}, 1
    for key, value in form.multi_items():
        where = f"inputs[{len(items)}]" if key == "inputs" else key
        if key == "top_k" and not isinstance(value, UploadFile):
            top_k = read_top_k(value)
            continue
        name = (value.filename or where) if isinstance(value, UploadFile) else value
        if isinstance(value, UploadFile):
            value = uploads.add(await value.read(), value.filename, where)
        else:
            value = text_value(value, where)
        if key == "inputs":
            items.append(value)
            names.append(name)
        else:
            row[key], row_names[key] = value, name
    if row:
        items.append(row)
        names.append(json.dumps(row_names))
    if not items:
        raise BadInput("missing field 'inputs' (a file or a text per input; or one field per part)")
    check_count(len(items), max_items)
    return items, names, top_k
