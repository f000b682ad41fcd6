"""The HTTP routes of ``hub serve`` (Starlette): models, predictions, health, metrics, OpenAPI.

Every error is a one-line JSON body ``{"error": "..."}`` with a 4xx status when the request
is at fault (400 bad input, 401 no or wrong key, 404 unknown model, 408 too slow a body, 413 too large, 503
overloaded); a fault of the server itself is a 500 with one line, never a traceback.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub_core.common.errors import HubError
from hub_core.deploy.serve.batcher import Batcher, Overloaded
from hub_core.deploy.serve.decode import TooLarge, Uploads, read_form, read_json
from hub_core.deploy.serve.metrics import Metrics
from hub_core.deploy.serve.models import BadInput
from hub_core.deploy.serve.openapi import openapi
from hub_core.deploy.serve.refusals import Refused, error
from hub_core.deploy.serve.v2 import OpenInference


@dataclass
class Settings:
    max_batch: int = 32
    max_delay_ms: float = 5.0
    max_queue: int = 256
    max_body_mb: float = 16.0
    max_items: int = 64
    api_key: str | None = None
    body_timeout_s: float = 30.0  # a body trickled slower than this is a 408 (headers: protocol.HEADER_TIMEOUT_S)


class Service:
    """The routes' shared state: the models, their batchers, the metrics, the settings."""

    def __init__(self, models: dict, settings: Settings):
        self.models, self.settings = models, settings
        self.metrics = Metrics()
        self.batchers: dict[str, Batcher] = {}
        self.draining = False  # set on SIGTERM: /readyz says so (predictions that arrive are still answered)
        self.uploads: tempfile.TemporaryDirectory | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        self.uploads = tempfile.TemporaryDirectory(prefix="hub-serve-")
        for name, model in self.models.items():
            batcher = Batcher(model, self.metrics, self.settings.max_batch, self.settings.max_delay_ms / 1000,
                              self.settings.max_queue)
            batcher.start()
            self.batchers[name] = batcher
        try:
            yield
        finally:
            for batcher in self.batchers.values():
                await batcher.stop()
            self.uploads.cleanup()

    # -- checks ------------------------------------------------------------------------
    def check_key(self, request: Request) -> None:
        key = self.settings.api_key
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
            raise Refused(401, "missing or wrong API key (send 'Authorization: Bearer KEY')", "unauthorized",
                          {"WWW-Authenticate": "Bearer"})

    def model_of(self, request: Request):
        self.check_key(request)
        name = request.path_params["name"]
        if name not in self.models:
            raise Refused(404, f"no model named {name!r} (served: {', '.join(self.models)})", "unknown_model")
        return self.models[name]

    # -- routes ------------------------------------------------------------------------
    async def list_models(self, request: Request):
        try:
            self.check_key(request)
        except Refused as err:
            return error(err.status, str(err), err.headers)
        return JSONResponse({"models": [{key: m.describe()[key] for key in ("name", "modality", "task", "backbone")}
                                        for m in self.models.values()]})

    async def show_model(self, request: Request):
        if request.path_params["name"].endswith(":predict"):
            return error(405, "predictions are POST requests: POST /v1/models/NAME:predict", {"Allow": "POST"})
        try:
            return JSONResponse(self.model_of(request).describe())
        except Refused as err:
            return error(err.status, str(err), err.headers)

    async def predict(self, request: Request):
        started = time.perf_counter()
        name = request.path_params["name"]
        try:
            model = self.model_of(request)  # draining too: a request that reached the app is answered
            rows = await self.answer(request, model)
        except Refused as err:
            label = name if name in self.models else ""
            self.metrics.requests.labels(label, str(err.status)).inc()
            self.metrics.errors.labels(label, err.reason).inc()
            return error(err.status, str(err), err.headers)
        self.metrics.requests.labels(name, "200").inc()
        self.metrics.latency.labels(name).observe(time.perf_counter() - started)
        return JSONResponse({"model": name, "predictions": rows})

    async def answer(self, request: Request, model) -> list[dict]:
        """Read and decode the body, then wait for the batch that preprocesses and runs it."""
        async with self.reading(model) as (uploads, arrival):
            raws, names, top_k = await self.in_time(self.read_request(request, uploads, model))
            answers = await self.batchers[model.name].submit(raws, top_k, arrival)
        return [{"input": shown, "answer": a} for shown, a in zip(names, answers)]

    @contextlib.asynccontextmanager
    async def reading(self, model):
        """A request for ``model`` being read and answered: (its uploads, its arrival at the
        batcher, which may wait for it); the errors of its input as one-line 4xx answers."""
        arrival = self.batchers[model.name].arrive()
        uploads = Uploads(Path(self.uploads.name))
        try:
            yield uploads, arrival
        except Overloaded as err:
            raise Refused(503, str(err), "overloaded", {"Retry-After": "1"}) from None
        except TooLarge as err:
            raise Refused(413, uploads.tidy(str(err)), "too_large") from None
        except BadInput as err:
            raise Refused(400, uploads.tidy(str(err)), "bad_input") from None
        except HubError as err:  # the graph refused a batch the preprocessor made: the model's fault
            raise Refused(500, str(err), "model_failed") from None
        finally:
            arrival.leave()
            uploads.close()

    async def in_time(self, reading):
        """The result of reading a request's body, or 408 past --body-timeout."""
        try:
            return await asyncio.wait_for(reading, self.settings.body_timeout_s)
        except asyncio.TimeoutError:
            raise Refused(408, f"the request body did not arrive within {self.settings.body_timeout_s:g} s",
                          "timeout", {"Connection": "close"}) from None

    def body_limit(self, request: Request) -> int:
        """The most bytes a body may have; TooLarge at once when its Content-Length says more."""
        limit = int(self.settings.max_body_mb * 1024 * 1024)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"the body is {int(declared)} bytes; at most {self.settings.max_body_mb:g} MB "
                           "(--max-body-mb)")
        return limit

    async def read_body(self, request: Request) -> bytes:
        limit = self.body_limit(request)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise TooLarge(f"the body is over {self.settings.max_body_mb:g} MB (--max-body-mb)")
        return bytes(body)

    async def read_request(self, request: Request, uploads: Uploads, model):
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            self.body_limit(request)
            # python-multipart spools parts as they stream in; the declared length bounds the total
            if not request.headers.get("content-length", "").isdigit():
                raise TooLarge("a multipart body needs a Content-Length header (--max-body-mb applies)")
            return await read_form(request, self.settings.max_items, uploads, model)
        # any other type is read as JSON (curl -d sends form-urlencoded): the body decides
        return read_json(await self.read_body(request), self.settings.max_items, uploads, model)

    async def healthz(self, request: Request):
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request):
        if self.draining or len(self.batchers) < len(self.models):
            return JSONResponse({"status": "draining" if self.draining else "starting"}, status_code=503)
        return JSONResponse({"status": "ready", "models": list(self.models)})

    async def metrics_route(self, request: Request):
        try:
            self.check_key(request)
        except Refused as err:
            return error(err.status, str(err), err.headers)
        body, kind = self.metrics.render()
        return Response(body, media_type=kind)

    async def openapi_route(self, request: Request):
        return JSONResponse(openapi(list(self.models), self.settings))


async def http_error(request: Request, exc: HTTPException):
    return error(exc.status_code, exc.detail or "error", getattr(exc, "headers", None))


async def internal_error(request: Request, exc: Exception):
    return error(500, f"internal error: {type(exc).__name__}: {exc}")


def create_app(models: dict, settings: Settings) -> Starlette:
    """The ASGI app serving ``models`` ({name: ServedModel}, already loaded); ``app.state.service``."""
    service = Service(models, settings)
    routes = [Route("/healthz", service.healthz), Route("/readyz", service.readyz),
              Route("/metrics", service.metrics_route), Route("/openapi.json", service.openapi_route),
              Route("/v1/models", service.list_models),
              Route("/v1/models/{name}:predict", service.predict, methods=["POST"]),
              Route("/v1/models/{name}", service.show_model), *OpenInference(service).routes()]
    app = Starlette(routes=routes, lifespan=service.lifespan,
                    exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.state.service = service
    return app
