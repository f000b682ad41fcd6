"""Prometheus metrics of one server (its own registry: two apps in one process do not mix)."""
from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("hub_requests", "Prediction requests answered, by model and HTTP status",
                                ["model", "status"], registry=self.registry)
        self.errors = Counter("hub_errors", "Requests answered with an error, by model and reason",
                              ["model", "reason"], registry=self.registry)
        self.latency = Histogram("hub_request_latency_seconds", "Prediction request latency, receipt to answer",
                                 ["model"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("hub_batch_size", "Inputs per model run (after dynamic batching)",
                                    ["model"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("hub_queue_depth", "Inputs accepted and not yet run, by model",
                                 ["model"], registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
