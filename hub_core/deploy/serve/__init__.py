"""``hub serve``: exported models as an HTTP service, torch-free, with dynamic batching.

    models.py   a model directory as onnxruntime + its saved preprocessor and task
    decode.py   request bodies (JSON, multipart) -> the raw inputs a preprocessor takes
    batcher.py  one micro-batching queue per model: concurrent requests run as one batch
    metrics.py  Prometheus counters and histograms
    app.py      the Starlette routes (errors, auth, limits, OpenAPI)
    server.py   uvicorn, with SIGTERM draining in-flight requests

Nothing here imports torch, transformers, timm or torchaudio.
"""
