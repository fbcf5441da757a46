"""The model server's Prometheus metrics (``GET /metrics``), with the standard client library.

Requests by path and status, the latency of ``/invocations`` as a histogram, model errors, rows
per model call (how much the batcher shares), and capture's counters (captured, written,
dropped), so a ServiceMonitor (Kubernetes) or any Prometheus can alert on latency, errors and
capture loss. Each server has its own registry: two servers in one process never mix figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

PATHS = ("/ping", "/invocations", "/metrics")
CONTENT_TYPE = CONTENT_TYPE_LATEST


class _CaptureCollector(Collector):
    """Capture's own counters, read when Prometheus scrapes."""

    def __init__(self, capture: Any) -> None:
        self.capture = capture

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, doc in (
            ("captured", "Exchanges sampled for capture"),
            ("written", "Captured exchanges written to the lake"),
            ("dropped", "Captured exchanges dropped (queue full or the lake refused them)"),
        ):
            yield CounterMetricFamily(
                f"mlops_capture_{name}", doc, value=float(getattr(self.capture, name))
            )


class ServerMetrics:
    """One server's metrics and their exposition."""

    def __init__(self, capture: Any = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlops_requests", "Requests answered", ["path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "mlops_invocation_seconds",
            "Time to answer POST /invocations",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.model_errors = Counter(
            "mlops_model_errors", "Requests the model failed on", registry=self.registry
        )
        self.batch_rows = Histogram(
            "mlops_batch_rows",
            "Rows scored in one model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        if capture is not None:
            self.registry.register(_CaptureCollector(capture))

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request (unknown paths as ``other``: labels stay few)."""
        self.requests.labels(path if path in PATHS else "other", str(status)).inc()
        if path == "/invocations":
            self.latency.observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return bytes(generate_latest(self.registry))
