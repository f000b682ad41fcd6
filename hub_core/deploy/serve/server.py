"""Run the app on uvicorn; SIGTERM stops accepting, answers every request in flight, exits 0."""
from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
from dataclasses import asdict

import uvicorn
from uvicorn.supervisors import Multiprocess

from hub_core.deploy.serve.app import Settings, create_app
from hub_core.deploy.serve.models import load_models
from hub_core.deploy.serve.protocol import GuardedH11

CONFIG_ENV = "PLUGHUB_SERVE_CONFIG"  # how worker processes (--workers N) get the command line
DRAIN_SECONDS = 30


class DrainingServer(uvicorn.Server):
    """SIGTERM: /readyz says draining; requests in flight and on open connections are answered
    (protocol.GuardedH11); then exit 0."""

    def __init__(self, config, service):
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig, frame):
        self.service.draining = True
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:  # a drained SIGTERM is a clean exit, not one to re-raise
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


class DrainingWorkers(Multiprocess):
    """``--workers N``: the workers share the supervisor's listening socket, so a worker closing
    its copy leaves the kernel accepting connections nobody serves (reset at exit, their requests
    lost). The supervisor first stops the accepting itself, for all; then each worker drains."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)  # Linux: the socket stops listening; new clients are refused
        super().terminate_all()


def serve(catalogue, paths, *, host: str, port: int, workers: int, threads: int | None, settings: Settings,
          access_log: bool = False, announce=print) -> None:
    """Load every model (a bad directory fails here, before binding), then serve until SIGTERM."""
    models = load_models(catalogue, paths, threads)
    common = dict(host=host, port=port, log_level="warning", access_log=access_log, http=GuardedH11,
                  timeout_graceful_shutdown=DRAIN_SECONDS, lifespan="on")
    announce(f"serving {', '.join(models)} on http://{host}:{port}/v1/models "
             f"(max batch {settings.max_batch}, max delay {settings.max_delay_ms:g} ms, {workers} worker(s))")
    if workers == 1:
        app = create_app(models, settings)
        DrainingServer(uvicorn.Config(app, **common), app.state.service).run()
        return
    # each worker process loads the models again from the same directories (uvicorn.run's way)
    os.environ[CONFIG_ENV] = json.dumps({"paths": [str(p) for p in paths], "threads": threads,
                                         "settings": asdict(settings)})
    config = uvicorn.Config("hub_core.deploy.serve.server:app_from_env", factory=True, workers=workers, **common)
    DrainingWorkers(config, sockets=[config.bind_socket()]).run()


def app_from_env():
    """The app of one worker process (``--workers N``), from the parent's command line."""
    from hub_core.plugin.manager import load_hub

    quiet_stopped_listener(asyncio.get_running_loop())
    config = json.loads(os.environ[CONFIG_ENV])
    models = load_models(load_hub().catalogue, config["paths"], config["threads"])
    return create_app(models, Settings(**config["settings"]))


def quiet_stopped_listener(loop) -> None:
    """Once the supervisor has shut the shared listening socket down (DrainingWorkers), this
    worker's accept fails (EINVAL) until its own SIGTERM closes its copy, a tick later: that
    is the drain working, not an error worth a traceback each time (the log would fill)."""
    def handle(loop, context):
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno == errno.EINVAL and "_accept_connection" in str(
                context.get("handle") or context.get("message", "")):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
