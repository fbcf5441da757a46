"""Ports with nothing behind them: decide only, publish nowhere."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoRetrain:
    """A trigger that starts nothing: the verdict is reported, acting on it is someone else's.

    On a deployed AWS stack the drift alarm starts the pipeline through EventBridge; a check
    asked not to act (``mlops monitor run --no-act``) only decides.
    """

    def start(self, reason: str) -> str:
        """Start nothing."""
        return ""


@dataclass(frozen=True)
class NoMetrics:
    """A sink that drops figures: the platform has no metric store for them.

    Kubernetes keeps the drift verdict in the lake's drift report; its alerts watch the model
    server's own Prometheus metrics.
    """

    def publish(self, namespace: str, metric: str, endpoint: str, value: float) -> None:
        """Publish nothing."""
