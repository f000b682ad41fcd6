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
        },
    }
