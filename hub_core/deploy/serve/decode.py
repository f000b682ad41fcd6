"""Request bodies -> raw inputs, the values a preprocessor takes from ``hub predict``.

JSON: ``{"inputs": [ITEM, ...], "top_k": 1}`` where an ITEM is a string (a text), a list of
strings or numbers (a text pair, a user and an item), ``{"base64": ..., "filename": ...}``
(an image or audio file), or an object with one field per part (a fusion model), whose
values are any of those. Multipart: each ``inputs`` field is one item (a file or a text);
other fields make one fusion row, a field per part.

An uploaded file is written to the server's own private folder and handed to the
preprocessor as that file (what it reads from ``hub predict``), then deleted. No path a
client sends is ever opened, nor looked up: a string is a text, whatever it names; where the
model takes files (``ServedModel.check_text``) a string is refused, whether or not a file of
that name exists, so no answer depends on what exists on the server. Sizes are checked
before use: the count of items (--max-items), a text's length, the body's JSON depth
(``hub_core.common.limits``).
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
from pathlib import Path

from hub_core.common import limits
from hub_core.deploy.serve.models import BadInput, TooLarge

MAX_TOP_K = 1000
SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
# the suffix a file's first bytes imply, for uploads without a file name (readers may go by it)
MAGIC = [(b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"), (b"fLaC", ".flac"),
         (b"OggS", ".ogg")]


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
        """An error message with the private file names replaced by the inputs' names; where the
        message already names the input ("inputs[0]: /tmp/x.png: cannot read image"), the path
        goes, so the input is named once."""
        for path, where in self.files.items():
            message = message.replace(f"{where}: {path}: ", f"{where}: ").replace(path, where)
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


def json_object(body: bytes, what: str) -> dict:
    """A request's JSON object, its size and depth within the limits (413), else a 400."""
    try:
        request = limits.loads_json(body)
    except limits.LimitExceeded as err:
        raise TooLarge(f"the body: {err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise BadInput(f"{what} is not valid JSON ({err})") from None
    if not isinstance(request, dict):
        raise BadInput(f"{what} must be a JSON object with an 'inputs' list, got {type(request).__name__}")
    return request


def read_json(body: bytes, max_items: int, uploads: Uploads, model) -> tuple[list, list[str], int]:
    """(raw inputs, how each is shown in the answer, top_k) of a JSON body for ``model`` (a ServedModel)."""
    request = json_object(body, "the body")
    unknown = sorted(set(request) - {"inputs", "top_k"})
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r} (expected 'inputs' and optionally 'top_k')")
    if "inputs" not in request:
        raise BadInput("missing field 'inputs' (a list of inputs)")
    items = request["inputs"]
    if not isinstance(items, list) or not items:
        raise BadInput(f"field 'inputs' must be a non-empty list, got {json.dumps(items)[:60]}")
    check_count(len(items), max_items)
    raws = [item_value(item, uploads, f"inputs[{i}]", model) for i, item in enumerate(items)]
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
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 10:
        value = int(value)  # only ASCII digits: str.isdigit() also passes '²' and '٣', which int() refuses
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TOP_K:
        raise BadInput(f"field 'top_k' must be a whole number from 1 to {MAX_TOP_K}, got {value!r}")
    return value


def item_value(value, uploads: Uploads, where: str, model, part: str | None = None):
    """One JSON item (or a fusion part's value) -> the raw input the preprocessor takes."""
    if isinstance(value, str):
        return text_value(value, where, model, part)
    if isinstance(value, bool) or value is None:
        if part is not None:  # null: a fusion part not given (the model's missing-value policy decides); a flag
            return value
        raise BadInput(f"{where}: expected a string, a list or an object, got {json.dumps(value)}")
    if isinstance(value, (int, float)):
        if part is not None:
            return value
        raise BadInput(f"{where}: expected a string, a list or an object, got the number {value}")
    if isinstance(value, list):
        if not value or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise BadInput(f"{where}: a list input holds strings or numbers (a text pair, a user and an item)")
        return tuple(text_value(v, f"{where}[{i}]", model, part) if isinstance(v, str) else v
                     for i, v in enumerate(value))
    if "base64" in value:
        return upload_value(value, uploads, where)
    if part is not None:
        raise BadInput(f"{where}: a part's value is a string, a number, a list or {{\"base64\": ...}}")
    return {str(key): item_value(v, uploads, f"{where}.{key}", model, part=str(key)) for key, v in value.items()}


def text_value(text: str, where: str, model, part: str | None = None) -> str:
    """A client's string: a text, never a path (nothing on the server is looked up)."""
    try:
        limits.check("text_chars", len(text))
    except limits.LimitExceeded as err:
        raise TooLarge(f"{where}: {err}") from None
    model.check_text(part, where)
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


async def read_form(request, max_items: int, uploads: Uploads, model) -> tuple[list, list[str], int]:
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
            value = text_value(value, where, model, None if key == "inputs" else key)
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
