"""The Open Inference Protocol's tensors on the wire (KServe v2, Triton's HTTP API).

A tensor is ``{"name", "shape", "datatype", "data"}``; ``data`` is row-major, flat or nested.
With the binary tensor extension (what tritonclient sends by default) the body is the JSON
header, ``Inference-Header-Content-Length`` bytes long, followed by each binary tensor's raw
little-endian bytes in the order the header lists them (``parameters.binary_data_size``);
BYTES elements are each a 4-byte little-endian length and the bytes. Answers use the same
encoding for the outputs a client asks to get as binary.

Everything here is checked before memory is taken: a shape's element count against the
bytes actually sent, so a header cannot ask for more than the body holds.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

import numpy as np

from hub_core.deploy.serve.decode import json_object
from hub_core.deploy.serve.models import BadInput

HEADER_LENGTH = "inference-header-content-length"

DATATYPES = {"BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
             "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
             "FP32": np.float32, "FP64": np.float64}
NAMES = {np.dtype(dtype): name for name, dtype in DATATYPES.items()}


def datatype_of(dtype) -> str:
    """The protocol's name of a numpy dtype (strings and objects are BYTES)."""
    dtype = np.dtype(dtype)
    return NAMES.get(dtype, "BYTES" if dtype.kind in "OSU" else dtype.name.upper())


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: tuple
    value: np.ndarray  # BYTES: an object array of bytes
    binary: bool = False  # sent as binary data (BYTES elements are raw bytes, not JSON strings)


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    parameters: dict
    outputs: list[dict] | None  # the outputs asked for ({"name", "parameters"}), or None for all


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """A request body (JSON, or JSON + binary tensors) -> its tensors, checked."""
    if header_length is not None:
        if not header_length.strip().isdigit() or int(header_length) > len(body):
            raise BadInput(f"the {HEADER_LENGTH} header ({header_length!r}) must be a length within the "
                           f"body's {len(body)} bytes")
        split = int(header_length)
        head, binary = body[:split], memoryview(body)[split:]
    else:
        head, binary = body, memoryview(b"")
    request = json_object(head, "the request header")
    unknown = sorted(set(request) - {"id", "inputs", "outputs", "parameters"})
    if unknown:
        raise BadInput(f"unknown field {unknown[0]!r} (expected 'id', 'inputs', 'outputs', 'parameters')")
    items = request.get("inputs")
    if not isinstance(items, list) or not items:
        raise BadInput("field 'inputs' must be a non-empty list of tensors")
    inputs, offset = [], 0
    for number, item in enumerate(items):
        tensor, used = read_tensor(item, binary[offset:], f"inputs[{number}]")
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise BadInput(f"the body has {len(binary) - offset} bytes after the binary tensors the header lists")
    names = [t.name for t in inputs]
    if len(set(names)) < len(names):
        raise BadInput(f"input {next(n for n in names if names.count(n) > 1)!r} is given twice")
    return InferRequest(text_field(request, "id"), inputs, dict_field(request, "parameters", "the request"),
                        requested_outputs(request.get("outputs")))


def text_field(request: dict, key: str) -> str | None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise BadInput(f"field {key!r} must be a string, got {json.dumps(value)[:60]}")
    return value


def dict_field(item: dict, key: str, where: str) -> dict:
    value = item.get(key) or {}
    if not isinstance(value, dict):
        raise BadInput(f"{where}: field {key!r} must be an object, got {json.dumps(value)[:60]}")
    return value


def requested_outputs(outputs) -> list[dict] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                for o in outputs):
        raise BadInput("field 'outputs' must be a list of objects with a 'name'")
    for number, output in enumerate(outputs):
        dict_field(output, "parameters", f"outputs[{number}]")
    return outputs


def read_tensor(item, binary: memoryview, where: str) -> tuple[Tensor, int]:
    """One input tensor and the count of binary bytes it took."""
    if not isinstance(item, dict):
        raise BadInput(f"{where}: a tensor is an object with 'name', 'shape', 'datatype' and 'data'")
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    if not isinstance(name, str) or not name:
        raise BadInput(f"{where}: field 'name' must be a non-empty string")
    where = f"input {name!r}"
    if datatype != "BYTES" and datatype not in DATATYPES:
        raise BadInput(f"{where}: datatype {datatype!r} is not one of BYTES, {', '.join(DATATYPES)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                             for d in shape):
        raise BadInput(f"{where}: 'shape' must be a list of whole numbers >= 0, got {json.dumps(shape)[:60]}")
    count = math.prod(shape)
    size = dict_field(item, "parameters", where).get("binary_data_size")
    if size is not None:
        if "data" in item:
            raise BadInput(f"{where}: give 'data' or parameters.binary_data_size, not both")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= len(binary):
            raise BadInput(f"{where}: binary_data_size {size!r} is past the {len(binary)} bytes sent")
        value = from_binary(bytes(binary[:size]), datatype, shape, where)
        return Tensor(name, datatype, tuple(shape), value, binary=True), size
    if "data" not in item:
        raise BadInput(f"{where}: no 'data' (and no parameters.binary_data_size)")
    return Tensor(name, datatype, tuple(shape), from_json(item["data"], datatype, shape, count, where)), 0


def from_binary(data: bytes, datatype: str, shape: list, where: str) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        elements, offset = [], 0
        while offset < len(data):
            if offset + 4 > len(data):
                raise BadInput(f"{where}: a BYTES element's 4-byte length is cut short")
            (length,) = struct.unpack_from("<I", data, offset)
            if offset + 4 + length > len(data):
                raise BadInput(f"{where}: a BYTES element of {length} bytes runs past the tensor's data")
            elements.append(data[offset + 4:offset + 4 + length])
            offset += 4 + length
        if len(elements) != count:
            raise BadInput(f"{where}: shape {shape} holds {count} elements; the data has {len(elements)}")
        return object_array(elements, shape)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    if len(data) != count * dtype.itemsize:
        raise BadInput(f"{where}: shape {shape} of {datatype} is {count * dtype.itemsize} bytes; "
                       f"{len(data)} were sent")
    return np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def from_json(data, datatype: str, shape: list, count: int, where: str) -> np.ndarray:
    flat = list(flatten(data))
    if len(flat) != count:
        raise BadInput(f"{where}: shape {shape} holds {count} elements; 'data' has {len(flat)}")
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise BadInput(f"{where}: BYTES data in JSON are strings")
        return object_array([v.encode("utf-8") for v in flat], shape)
    wanted = DATATYPES[datatype]
    if datatype == "BOOL":
        ok = all(isinstance(v, bool) for v in flat)
    else:
        ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat)
    if not ok:
        raise BadInput(f"{where}: {datatype} data must be {'true/false' if datatype == 'BOOL' else 'numbers'}")
    try:
        array = np.array(flat, dtype=np.float64 if np.dtype(wanted).kind == "f" else None)
        if np.dtype(wanted).kind in "iu" and array.size and (array.dtype.kind == "f" or not in_range(array, wanted)):
            raise ValueError(f"values outside {datatype}")
        return array.astype(wanted).reshape(shape)
    except (ValueError, OverflowError) as err:
        raise BadInput(f"{where}: {datatype} data cannot hold these values ({err})") from None


def in_range(array: np.ndarray, dtype) -> bool:
    info = np.iinfo(dtype)
    return bool(array.min() >= info.min and array.max() <= info.max)


def flatten(data):
    """Row-major elements of nested lists, iteratively (the body's depth is already bounded)."""
    stack = [iter([data])]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            yield item
        else:
            stack.pop()


def object_array(elements: list, shape) -> np.ndarray:
    array = np.empty(len(elements), dtype=object)
    array[:] = elements
    return array.reshape(shape)


def encode_response(model: str, version: str | None, request_id: str | None, outputs: dict[str, np.ndarray],
                    binary: set[str]) -> tuple[bytes, int | None]:
    """The answer's body and, when any output is binary, the length of its JSON header."""
    described, chunks = [], []
    for name, value in outputs.items():
        value = np.asarray(value)
        entry = {"name": name, "datatype": datatype_of(value.dtype), "shape": list(value.shape)}
        if name in binary:
            raw = to_binary(value)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = to_json(value)
        described.append(entry)
    head = {"model_name": model, "outputs": described}
    if version is not None:
        head["model_version"] = version
    if request_id is not None:
        head["id"] = request_id
    text = json.dumps(head, separators=(",", ":"), allow_nan=False).encode()
    return (text + b"".join(chunks), len(text)) if chunks else (text, None)


def to_binary(value: np.ndarray) -> bytes:
    if datatype_of(value.dtype) == "BYTES":
        return b"".join(struct.pack("<I", len(b)) + b for b in map(as_bytes, value.reshape(-1)))
    return np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()


def to_json(value: np.ndarray) -> list:
    flat = value.reshape(-1)
    if datatype_of(value.dtype) == "BYTES":
        return [as_bytes(v).decode("utf-8", errors="replace") for v in flat]
    if value.dtype.kind == "f" and not np.isfinite(flat).all():
        raise ValueError("a non-finite output cannot be written as JSON: ask for it as binary data")
    return flat.tolist()


def as_bytes(item) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")
