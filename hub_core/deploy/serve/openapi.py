"""The OpenAPI 3.1 description of ``hub serve``, written out (small, exact, no schema library)."""
from __future__ import annotations

from hub_core import __version__

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
UPLOAD = {"type": "object", "properties": {"base64": {"type": "string"}, "filename": {"type": "string"}},
          "required": ["base64"], "description": "an image or audio file's contents"}
ITEM = {"oneOf": [{"type": "string", "description": "a text"},
                  {"type": "array", "items": {"type": ["string", "number"]}, "description": "a text pair; a user and an item"},
                  UPLOAD,
                  {"type": "object", "description": "a fusion model's parts, one field each (string, list, upload)"}]}


TENSOR = {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "datatype": {"type": "string", "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                                             "INT64", "FP16", "FP32", "FP64", "BYTES"]},
    "parameters": {"type": "object"}, "data": {"type": "array"}}}
INFER = {"type": "object", "required": ["inputs"], "properties": {
    "id": {"type": "string"}, "parameters": {"type": "object"},
    "inputs": {"type": "array", "items": TENSOR, "minItems": 1},
    "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"}, "parameters": {"type": "object"}}}}}}


def open_inference(name: dict, errors: dict, answer) -> dict:
    """The Open Inference Protocol's (KServe v2) paths."""
    plain = {"200": {"description": "ok"}}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string", "enum": ["1"]}}
    infer = {"summary": "Infer (Open Inference Protocol): the tensor 'raw' (or 'raw.FIELD' tensors) runs through "
                        "the preprocessor and decoder, or the graph's own inputs run as sent; binary tensor data "
                        "with Inference-Header-Content-Length",
             "requestBody": {"content": {"application/json": {"schema": INFER},
                                         "application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}},
             "responses": {"200": answer("the outputs, as tensors", {"type": "object"}), **errors}}
    paths = {"/v2": {"get": {"summary": "Server metadata", "security": [], "responses": plain}},
             "/v2/health/live": {"get": {"summary": "The process is up", "security": [], "responses": plain}},
             "/v2/health/ready": {"get": {"summary": "Ready (503 while starting or draining)", "security": [],
                                          "responses": plain}}}
    for base, parameters in (("/v2/models/{name}", [name]), ("/v2/models/{name}/versions/{version}", [name, version])):
        found = {**plain, "404": errors["404"]}
        paths[base] = {"get": {"summary": "Model metadata: inputs, outputs", "parameters": parameters,
                               "responses": found}}
        paths[base + "/ready"] = {"get": {"summary": "Model ready", "parameters": parameters, "responses": found}}
        paths[base + "/infer"] = {"post": {**infer, "parameters": parameters}}
    return paths


def openapi(names: list[str], settings) -> dict:
    def answer(description, schema=None):
        return {"description": description, "content": {"application/json": {"schema": schema or ERROR}}}

    errors = {"400": answer("bad input (missing field, wrong type, undecodable file)"),
              "401": answer("missing or wrong API key"), "404": answer("no such model"),
              "413": answer(f"body over --max-body-mb ({settings.max_body_mb:g} MB) or over "
                            f"--max-items ({settings.max_items}) inputs"),
              "503": answer("queue past --max-queue, or shutting down (see Retry-After)")}
    predict_body = {"type": "object", "required": ["inputs"], "properties": {
        "inputs": {"type": "array", "items": ITEM, "minItems": 1, "maxItems": settings.max_items},
        "top_k": {"type": "integer", "minimum": 1, "default": 1}}}
    predictions = {"type": "object", "properties": {"model": {"type": "string"}, "predictions": {
        "type": "array", "items": {"type": "object", "properties": {"input": {"type": "string"}, "answer": {}}}}}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": names}}
    plain = {"200": {"description": "ok"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "plughub serve", "version": __version__,
                 "description": "Exported models, onnxruntime only, with dynamic batching; answers as "
                                "'hub predict --json' gives them."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}] if settings.api_key else [],
        "paths": {
            "/v1/models": {"get": {"summary": "The served models", "responses": plain}},
            "/v1/models/{name}": {"get": {"summary": "One model: inputs, labels, metrics, export report",
                                          "parameters": [name], "responses": {**plain, "404": errors["404"]}}},
            "/v1/models/{name}:predict": {"post": {
                "summary": "Predict; concurrent requests are batched together", "parameters": [name],
                "requestBody": {"content": {"application/json": {"schema": predict_body},
                                            "multipart/form-data": {"schema": {"type": "object", "description":
                                                "'inputs' fields (files or texts), or one field per fusion part; "
                                                "optional 'top_k'"}}}},
                "responses": {"200": answer("one answer per input", predictions), **errors}}},
            "/healthz": {"get": {"summary": "The process is up", "security": [], "responses": plain}},
            "/readyz": {"get": {"summary": "Models loaded and not draining (503 otherwise)", "security": [],
                                "responses": plain}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": plain}},
            **open_inference(name, errors, answer),
        },
    }
