"""``mlops:k8s:Monitoring``: Prometheus scraping, alert rules and a Grafana dashboard.

The model server exposes its metrics at ``/metrics`` (``pipelines/metrics.py``). A
ServiceMonitor (Prometheus Operator) scrapes them; a PrometheusRule alerts on p99 latency, the
5xx share of ``/invocations`` and capture loss; a ConfigMap labelled ``grafana_dashboard`` is
picked up by the Grafana sidecar as a dashboard of the same figures. The metric names here are
the server's own (a test holds them to what the server exposes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.contracts import Env
from mlops.infra.k8s.settings import MonitoringSettings
from mlops.infra.k8s.workloads import API_CLIENT_LABEL, EnvValue, require_digest, restricted_pod

DRIFT_TOKEN_WAIVER = (
    "CKV_K8S_38=the drift check submits the lifecycle Workflow through the API server with its"
    " account's token; that Role may create Workflows and read their template, nothing else"
)


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of :class:`Monitoring`.

    Attributes:
        namespace: where the server runs.
        service: the model server's Service name (its port ``http`` is scraped).
        monitoring: the p99 latency of ``/invocations`` to alert above and when the drift check
            runs (cron); its defaults live there.
        error_share: alert when the 5xx share of ``/invocations`` stays above this.
        labels: labels for every object (the Prometheus Operator selects rules by label).
        drift_image: run the drift check in the cluster with this image (by digest); empty for
            none. It runs the image's ``monitor`` entry point under the ``monitoring`` account.
        drift_env: the check's environment (lake, model URI, endpoint name, threshold).
        retrain_workflow: the WorkflowTemplate a retrain decision submits; empty: decide only.
        kserve: the server is a KServe InferenceService (its Service's name and labels differ).
    """

    namespace: pulumi.Input[str]
    service: str
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    error_share: float = 0.01
    labels: Mapping[str, str] = field(default_factory=dict)
    drift_image: str = ""
    drift_env: Mapping[str, EnvValue] = field(default_factory=dict)
    retrain_workflow: str = ""
    kserve: bool = False

    @property
    def scraped_service(self) -> str:
        """The Service Prometheus scrapes (KServe names its predictor's ``<name>-predictor``)."""
        return f"{self.service}-predictor" if self.kserve else self.service

    @property
    def service_labels(self) -> dict[str, str]:
        """The labels that select the server's Service."""
        if self.kserve:
            return {"serving.kserve.io/inferenceservice": self.service}
        return {"app.kubernetes.io/name": self.service}

    def __post_init__(self) -> None:
        if self.drift_image:
            require_digest(self.drift_image)


def alert_rules(args: MonitoringArgs) -> list[dict[str, Any]]:
    """The alerting rules, in Prometheus' rule format."""
    scope = f'namespace="{args.namespace}", service="{args.scraped_service}"'
    invocations = f'{scope}, path="/invocations"'
    return [
        {
            "alert": "ModelServerLatencyHigh",
            "expr": (
                "histogram_quantile(0.99, sum by (le)"
                f" (rate(mlops_invocation_seconds_bucket{{{scope}}}[5m])))"
                f" > {args.monitoring.latency_p99_seconds}"
            ),
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"p99 of /invocations above {args.monitoring.latency_p99_seconds}s"
            },
        },
        {
            "alert": "ModelServerErrors",
            "expr": (
                f'sum(rate(mlops_requests_total{{{invocations}, status=~"5.."}}[5m]))'
                f" / sum(rate(mlops_requests_total{{{invocations}}}[5m])) > {args.error_share}"
            ),
            "for": "10m",
            "labels": {"severity": "critical"},
            "annotations": {"summary": f"over {args.error_share:.0%} of /invocations fail"},
        },
        {
            "alert": "ModelServerCaptureDropping",
            "expr": f"increase(mlops_capture_dropped_total{{{scope}}}[15m]) > 0",
            "for": "0m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": "captured traffic is being dropped: monitoring sees less"},
        },
    ]


def dashboard(args: MonitoringArgs) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) of the server's figures."""
    scope = f'namespace="{args.namespace}", service="{args.scraped_service}"'
    panels = [
        ("Requests per second", f"sum by (status) (rate(mlops_requests_total{{{scope}}}[5m]))"),
        (
            "p99 latency of /invocations (s)",
            "histogram_quantile(0.99, sum by (le)"
            f" (rate(mlops_invocation_seconds_bucket{{{scope}}}[5m])))",
        ),
        ("Model errors per second", f"rate(mlops_model_errors_total{{{scope}}}[5m])"),
        (
            "Rows per model call (p50)",
            f"histogram_quantile(0.5, sum by (le) (rate(mlops_batch_rows_bucket{{{scope}}}[5m])))",
        ),
        ("Captures dropped", f"increase(mlops_capture_dropped_total{{{scope}}}[1h])"),
    ]
    return {
        "title": f"Model server: {args.service}",
        "uid": f"mlops-{args.service}"[:40],
        "schemaVersion": 39,
        "panels": [
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "gridPos": {"x": (i % 2) * 12, "y": (i // 2) * 8, "w": 12, "h": 8},
                "targets": [{"expr": expr, "refId": "A"}],
            }
            for i, (title, expr) in enumerate(panels)
        ],
    }


class Monitoring(pulumi.ComponentResource):
    """A ServiceMonitor, a PrometheusRule and a dashboard ConfigMap for the model server."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = dict(args.labels)
        meta = {"namespace": args.namespace, "labels": labels}
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={**meta, "name": args.service},
            spec={
                "selector": {"matchLabels": dict(args.service_labels)},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
            },
            opts=child,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={**meta, "name": f"{args.service}-alerts"},
            spec={"groups": [{"name": f"{args.service}.rules", "rules": alert_rules(args)}]},
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata={
                **meta,
                "name": f"{args.service}-dashboard",
                "labels": {**labels, "grafana_dashboard": "1"},  # the Grafana sidecar's label
            },
            data={f"{args.service}.json": json.dumps(dashboard(args), sort_keys=True)},
            opts=child,
        )
        if args.drift_image:
            self._drift_check(name, args, child)
        self.register_outputs({"service": args.service})

    @staticmethod
    def _drift_check(name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        """The drift check on a schedule; on drift it starts retraining (the closed loop)."""
        env = dict(args.drift_env)
        if args.retrain_workflow:
            env[Env.RETRAIN_WORKFLOW] = args.retrain_workflow
        labels = {
            **args.labels,
            "app.kubernetes.io/name": f"{args.service}-drift",
            API_CLIENT_LABEL: "true",  # it submits Workflows
        }
        # The monitoring account may submit Workflows from the lifecycle's template, no more.
        pod = restricted_pod(
            "drift",
            args.drift_image,
            "monitor",
            env,
            {"cpu": "1", "memory": "2Gi"},
            "monitoring",
            restart_policy="Never",
        )
        k8s.batch.v1.CronJob(
            f"{name}-drift",
            metadata={
                "namespace": args.namespace,
                "labels": labels,
                "name": f"{args.service}-drift",
                # Checkov's own suppression, on this object only: its pod is the one that needs
                # its account's token (the Role's only grant: submit the lifecycle Workflow).
                "annotations": {"checkov.io/skip1": DRIFT_TOKEN_WAIVER},
            },
            spec={
                "schedule": args.monitoring.drift_schedule,
                "concurrency_policy": "Forbid",
                "job_template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoff_limit": 1,
                        "active_deadline_seconds": 1800,
                        "ttl_seconds_after_finished": 86400,
                        "template": {"metadata": {"labels": labels}, "spec": pod},
                    },
                },
            },
            opts=opts,
        )
