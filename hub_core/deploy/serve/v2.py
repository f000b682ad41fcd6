"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST API) beside ``/v1``.

Two ways in, told apart by the input names:
- **raw**: a BYTES tensor ``raw`` of shape [N] (texts, or encoded image/audio files) or [N, k]
  (a text pair, a user and an item), or one ``raw.FIELD`` tensor of shape [N] per field (a fusion
  model's parts; ``raw.user`` asks a recommender for its top-K). Each row runs through the
  model's saved preprocessor and decoder as a ``/v1`` input does; the answer is an ``answer``
  tensor (each row's answer as JSON) and, where every answer is a flat object, one tensor per
  field (``label`` BYTES, ``score`` FP64 for a classifier). In JSON (non-binary) requests a
  file model's BYTES elements are base64, since JSON strings cannot hold raw bytes.
- **tensor**: the graph's own inputs by name and datatype (``input_ids``, ``pixel_values``...),
  run as sent; answered with the outputs the task declares (``logits``...).

Both go through the model's batcher (rows of equal shapes share a graph run), and its API
key, limits, metrics and one-line 4xx errors, exactly as ``/v1`` does.
"""
from __future__ import annotations

import base64
import binascii
import json
import time

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub_core import __version__
from hub_core.deploy.serve.refusals import Refused, error
from hub_core.deploy.serve.decode import check_count, read_top_k, text_value
from hub_core.deploy.serve.models import BadInput, Tensors
from hub_core.deploy.serve.tensors import HEADER_LENGTH, InferRequest, datatype_of, encode_response, parse_request

VERSION = "1"  # a served directory is one version of its model
RAW, FIELD = "raw", "raw."
ANSWER = "answer"


class OpenInference:
    """The ``/v2`` routes over a Service (``hub_core.deploy.serve.app``)."""

    def __init__(self, service):
        self.service = service

    def routes(self) -> list:
        from starlette.routing import Route

        model = "/v2/models/{name}"
        version = model + "/versions/{version}"
        return [Route("/v2", self.server), Route("/v2/health/live", self.live), Route("/v2/health/ready", self.ready),
                *[Route(base, self.metadata) for base in (model, version)],
                *[Route(base + "/ready", self.model_ready) for base in (model, version)],
                *[Route(base + "/infer", self.infer, methods=["POST"]) for base in (model, version)]]

    async def server(self, request: Request):
        return JSONResponse({"name": "plughub", "version": __version__, "extensions": ["binary_tensor_data"]})

    async def live(self, request: Request):
        return JSONResponse({"live": True})

    async def ready(self, request: Request):
        ready = not self.service.draining and len(self.service.batchers) == len(self.service.models)
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    def model_of(self, request: Request):
        model = self.service.model_of(request)
        version = request.path_params.get("version")
        if version not in (None, "", VERSION):
            raise Refused(404, f"model {model.name!r} has no version {version!r} (served: {VERSION})", "unknown_model")
        return model

    async def metadata(self, request: Request):
        try:
            return JSONResponse(metadata(self.model_of(request)))
        except Refused as err:
            return error(err.status, str(err), err.headers)

    async def model_ready(self, request: Request):
        try:
            model = self.model_of(request)
        except Refused as err:
            return error(err.status, str(err), err.headers)
        ready = not self.service.draining and model.name in self.service.batchers
        return JSONResponse({"name": model.name, "ready": ready}, status_code=200 if ready else 503)

    async def infer(self, request: Request):
        started, name = time.perf_counter(), request.path_params["name"]
        metrics = self.service.metrics
        try:
            model = self.model_of(request)
            body, length = await self.answer(request, model)
        except Refused as err:
            label = name if name in self.service.models else ""
            metrics.requests.labels(label, str(err.status)).inc()
            metrics.errors.labels(label, err.reason).inc()
            return error(err.status, str(err), err.headers)
        metrics.requests.labels(name, "200").inc()
        metrics.latency.labels(name).observe(time.perf_counter() - started)
        if length is None:
            return Response(body, media_type="application/json")
        return Response(body, media_type="application/octet-stream", headers={HEADER_LENGTH: str(length)})

    async def answer(self, request: Request, model) -> tuple[bytes, int | None]:
        """The request read and parsed, its rows batched and run, the outputs encoded."""
        service = self.service
        batcher = service.batchers[model.name]
        async with service.reading(model) as (uploads, arrival):
            body = await service.in_time(service.read_body(request))
            parsed = parse_request(body, request.headers.get(HEADER_LENGTH))
            if any(t.name == RAW or t.name.startswith(FIELD) for t in parsed.inputs):
                rows = raw_rows(parsed, model, uploads, service.settings.max_items)
                top_k = read_top_k(parsed.parameters.get("top_k", 1))
                outputs = answer_tensors(await batcher.submit(rows, top_k, arrival))
            else:
                rows = tensor_rows(parsed, model, service.settings.max_items)
                answers = await batcher.submit(rows, 1, arrival, encode=list)  # rows run as sent
                outputs = {key: np.concatenate([a[key] for a in answers]) for key in model.task.output_names}
            outputs = chosen_outputs(parsed, outputs)
        try:
            return encode_response(model.name, request.path_params.get("version"), parsed.id, outputs,
                                   binary_outputs(parsed, outputs))
        except ValueError as err:
            raise Refused(500, f"model {model.name!r}: {err}", "model_failed") from None


def raw_rows(parsed: InferRequest, model, uploads, max_items: int) -> list:
    """The raw inputs (as ``hub predict`` takes them) of the ``raw`` tensor or ``raw.FIELD`` tensors."""
    tensors = {t.name: t for t in parsed.inputs}
    others = [n for n in tensors if n != RAW and not n.startswith(FIELD)]
    if others or (RAW in tensors and len(tensors) > 1):
        raise BadInput(f"input {(others or [RAW])[0]!r}: send either the tensor 'raw', or 'raw.FIELD' tensors "
                       "(one per field), or the graph's own inputs, not a mix")
    counts = {t.shape[0] if len(t.shape) in (1, 2) else -1 for t in tensors.values()}
    if len(counts) != 1 or -1 in counts or 0 in counts:
        raise BadInput(f"inputs {', '.join(tensors)}: each has shape [N] or [N, k], the same N >= 1")
    count = counts.pop()
    check_count(count, max_items)
    columns = {name: [row_value([element(v, f"{name}[{i}]", model, uploads, t.binary, field_of(name)) for v in row])
                      for i, row in enumerate(t.value if t.value.ndim == 2 else t.value[:, None])]
               for name, t in tensors.items()}
    if RAW in columns:
        return columns[RAW]
    return [{field_of(name): column[i] for name, column in columns.items()} for i in range(count)]


def field_of(name: str) -> str | None:
    return name[len(FIELD):] if name.startswith(FIELD) else None


def row_value(values: list):
    return values[0] if len(values) == 1 else tuple(values)


def element(value, where: str, model, uploads, binary: bool, part: str | None = None):
    """One element of a raw tensor -> a text, a number, or an uploaded file's private path."""
    if not isinstance(value, bytes):
        return value.item()  # a number: an id, a fusion part's value
    if model.file_parts.get(part) if part is not None else model.file_inputs:
        if not binary:
            try:
                value = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise BadInput(f"{where}: in a JSON request a file is sent as base64 (or send binary data)") from None
        return uploads.add(value, None, where)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{where}: a text must be UTF-8") from None
    return text_value(text, where, model, part)


def tensor_rows(parsed: InferRequest, model, max_items: int) -> list[Tensors]:
    """The graph's own inputs, checked against its names, datatypes and fixed axes, cut into rows."""
    expected = {name: (dtype, shape) for name, dtype, shape in model.graph_inputs()}
    given = {t.name: t for t in parsed.inputs}
    for name in given:
        if name not in expected:
            raise BadInput(f"input {name!r}: the graph reads {', '.join(expected)} (or send the tensor 'raw')")
    missing = [name for name in expected if name not in given]
    if missing:
        raise BadInput(f"missing input {missing[0]!r} (the graph reads {', '.join(expected)})")
    counts = set()
    for name, (dtype, shape) in expected.items():
        tensor = given[name]
        if tensor.datatype != datatype_of(dtype):
            raise BadInput(f"input {name!r}: datatype {tensor.datatype}; the graph reads {datatype_of(dtype)}")
        fixed = len(tensor.shape) == len(shape) and all(d < 0 or d == g for d, g in zip(shape[1:], tensor.shape[1:]))
        if not fixed or not tensor.shape[0]:
            raise BadInput(f"input {name!r}: shape {list(tensor.shape)}; the graph reads {shape} (-1: any size)")
        counts.add(tensor.shape[0])
    if len(counts) != 1:
        raise BadInput(f"the inputs' first axes differ ({sorted(counts)}): one row per example in each")
    count = counts.pop()
    check_count(count, max_items)
    return [Tensors({name: given[name].value[i:i + 1] for name in expected}) for i in range(count)]


def answer_tensors(answers: list) -> dict[str, np.ndarray]:
    """Each row's answer as JSON (``answer``), and a typed tensor per field of flat answers."""
    outputs = {ANSWER: np.array([json.dumps(a, ensure_ascii=False).encode() for a in answers], dtype=object)}
    if all(isinstance(a, dict) for a in answers) and len({tuple(a) for a in answers}) == 1:
        for key in answers[0]:
            values = [a[key] for a in answers]
            if all(isinstance(v, str) for v in values):
                outputs[key] = np.array([v.encode() for v in values], dtype=object)
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                outputs[key] = np.array(values, dtype=np.float64)
    return outputs


def chosen_outputs(parsed: InferRequest, outputs: dict) -> dict:
    if parsed.outputs is None:
        return outputs
    for wanted in parsed.outputs:
        if wanted["name"] not in outputs:
            raise BadInput(f"output {wanted['name']!r}: this request gives {', '.join(outputs)}")
    return {wanted["name"]: outputs[wanted["name"]] for wanted in parsed.outputs}


def binary_outputs(parsed: InferRequest, outputs: dict) -> set[str]:
    """The outputs to send as binary data: those asked so, or all when the request says so."""
    every = bool(parsed.parameters.get("binary_data_output"))
    asked = {o["name"]: (o.get("parameters") or {}).get("binary_data") for o in parsed.outputs or []}
    return {name for name in outputs if asked.get(name, every)}


def metadata(model) -> dict:
    """``GET /v2/models/NAME``: both ways in, and the outputs each gives."""
    per = getattr(model.modality, "args_per_input", 1)
    raw = {"name": RAW, "datatype": "BYTES", "shape": [-1] if per == 1 else [-1, per]}
    tensors = [{"name": name, "datatype": datatype_of(dtype), "shape": shape}
               for name, dtype, shape in model.graph_inputs()]
    typed = model.graph_outputs()
    return {"name": model.name, "versions": [VERSION], "platform": "onnxruntime_onnx",
            "inputs": [raw, *tensors],
            "outputs": [{"name": ANSWER, "datatype": "BYTES", "shape": [-1]},
                        *[{"name": name, "datatype": datatype_of(dtype), "shape": shape}
                          for name, dtype, shape in typed]],
            "parameters": {"task": model.manifest["task"]["name"], "modality": model.manifest["modality"]}}
