"""``hub serve``: exported models over HTTP (logic in hub_core.deploy.serve)."""
from __future__ import annotations

import os

import click


def add_commands(cli: click.Group) -> None:
    @cli.command("serve")
    @click.argument("model_dirs", nargs=-1, required=True, type=click.Path(exists=True))
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0: every interface).")
    @click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
    @click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                  help="Server processes, each with its own copy of the models.")
    @click.option("--threads", type=click.IntRange(min=1), help="onnxruntime intra-op threads per model [its default].")
    @click.option("--max-batch", type=click.IntRange(min=1), default=32, show_default=True,
                  help="Most inputs run together as one batch (1: no batching).")
    @click.option("--max-delay-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
                  help="Longest a batch waits for requests still being read (a lone request never waits).")
    @click.option("--max-queue", type=click.IntRange(min=1), default=256, show_default=True,
                  help="Inputs waiting per model beyond which requests get 503 + Retry-After.")
    @click.option("--max-items", type=click.IntRange(min=1), default=64, show_default=True,
                  help="Most inputs in one request (413 beyond).")
    @click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=16.0, show_default=True,
                  help="Largest request body (413 beyond).")
    @click.option("--api-key", envvar="PLUGHUB_API_KEY", help="Require 'Authorization: Bearer KEY' [$PLUGHUB_API_KEY].")
    @click.option("--access-log", is_flag=True, help="Log every request (uvicorn's access log).")
    @click.option("--header-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
                  help="Seconds a client has to send a request's headers; the connection is closed after.")
    @click.option("--body-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
                  help="Seconds a client has to send a request's body (408 after).")
    @click.pass_obj
    def serve_cmd(obj, model_dirs, host, port, workers, threads, max_batch, max_delay_ms, max_queue, max_items,
                  max_body_mb, api_key, access_log, header_timeout, body_timeout):
        """Serve exported models (MODEL_DIR/model.onnx, or an .onnx file beside its hub.json)
        over HTTP with onnxruntime alone (no torch), batching concurrent requests.

        \b
        hub serve runs/cls runs/shapes --port 8000
        curl localhost:8000/v1/models
        curl -d '{"inputs": ["a text", "another"]}' localhost:8000/v1/models/cls:predict
        curl -F inputs=@cat.png localhost:8000/v1/models/shapes:predict

        Endpoints: GET /v1/models, GET /v1/models/NAME, POST /v1/models/NAME:predict
        (JSON {"inputs": [...], "top_k": 1}: texts, [a, b] pairs, {"base64": ...} files, one
        field per fusion part; or multipart), /healthz, /readyz, /metrics (Prometheus),
        /openapi.json. SIGTERM answers the requests in flight, then exits 0.
        """
        from hub_core.common.console import notice
        from hub_core.deploy.serve.app import Settings
        from hub_core.deploy.serve.protocol import HEADER_TIMEOUT_ENV
        from hub_core.deploy.serve.server import serve

        check_api_key(api_key)
        os.environ[HEADER_TIMEOUT_ENV] = str(header_timeout)  # read by each connection, in every worker process
        settings = Settings(max_batch=max_batch, max_delay_ms=max_delay_ms, max_queue=max_queue,
                            max_body_mb=max_body_mb, max_items=max_items, api_key=api_key, body_timeout_s=body_timeout)
        serve(obj.catalogue, model_dirs, host=host, port=port, workers=workers, threads=threads, settings=settings,
              access_log=access_log, announce=notice)


def check_api_key(api_key: str | None) -> None:
    """An empty key (``--api-key "$KEY"`` with KEY unset, or ``PLUGHUB_API_KEY=``) is refused:
    click reads an empty variable as no key, and the server would take requests without one."""
    from hub_core.common.errors import UsageError

    given = api_key if api_key is not None else os.environ.get("PLUGHUB_API_KEY")
    if given is not None and not given.strip():
        raise UsageError("--api-key / $PLUGHUB_API_KEY is empty (an unset variable?): the server would take requests "
                         "without a key; give a key, or leave both out to serve without one")
