"""Run the app on uvicorn; SIGTERM stops accepting, answers every request in flight, exits 0."""
from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict

from hub_core.deploy.serve.app import Settings, create_app
from hub_core.deploy.serve.models import load_models

CONFIG_ENV = "PLUGHUB_SERVE_CONFIG"  # how worker processes (--workers N) get the command line
DRAIN_SECONDS = 30


def draining_server(config, service):
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig, frame):
            service.draining = True
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM:  # a drained SIGTERM is a clean exit, not one to re-raise
                self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]

    return DrainingServer(config)


def serve(catalogue, paths, *, host: str, port: int, workers: int, threads: int | None, settings: Settings,
          access_log: bool = False, announce=print) -> None:
    """Load every model (a bad directory fails here, before binding), then serve until SIGTERM."""
    import uvicorn

    models = load_models(catalogue, paths, threads)
    common = dict(host=host, port=port, log_level="warning", access_log=access_log,
                  timeout_graceful_shutdown=DRAIN_SECONDS, lifespan="on")
    announce(f"serving {', '.join(models)} on http://{host}:{port}/v1/models "
             f"(max batch {settings.max_batch}, max delay {settings.max_delay_ms:g} ms, {workers} worker(s))")
    if workers == 1:
        app = create_app(models, settings)
        draining_server(uvicorn.Config(app, **common), app.state.service).run()
        return
    # each worker process loads the models again from the same directories
    os.environ[CONFIG_ENV] = json.dumps({"paths": [str(p) for p in paths], "threads": threads,
                                         "settings": asdict(settings)})
    uvicorn.run("hub_core.deploy.serve.server:app_from_env", factory=True, workers=workers, **common)


def app_from_env():
    """The app of one worker process (``--workers N``), from the parent's command line."""
    from hub_core.plugin.manager import load_hub

    config = json.loads(os.environ[CONFIG_ENV])
    models = load_models(load_hub().catalogue, config["paths"], config["threads"])
    return create_app(models, Settings(**config["settings"]))
