"""``mlops:k8s:ModelServer``: the SageMaker-contract server as Deployments behind one Service.

The same image and ``serve`` entry point as the SageMaker endpoint. Readiness and liveness on
``/ping``; requests and limits; the restricted security context; rolling updates that never
drop below the desired count (``maxUnavailable: 0``); an HPA on CPU; a PodDisruptionBudget.
A canary is a second Deployment with the candidate image under the same Service selector: the
Service spreads requests over ready pods, so the replica split is the traffic split.
Images are pinned by digest, never a moving tag.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.contracts import SERVING_PORT, Env
from mlops.infra.k8s.settings import GPU_RESOURCE, ServingSettings
from mlops.infra.k8s.workloads import (
    EnvValue,
    pod_resources,
    require_digest,
    restricted_pod,
)


@dataclass(frozen=True)
class ModelServerArgs:
    """Inputs of :class:`ModelServer`: the serving section and what the platform resolved.

    Attributes:
        namespace: where it runs.
        image: the serving image, by digest.
        serving: replicas (the HPA's minimum and maximum), CPU, memory and GPUs per pod, and a
            candidate image (by digest) with its share of the traffic (pods); its defaults and
            rules live there.
        env: the container's environment (train module, contract, model location).
        gpu_resource: the extended resource GPUs are requested as.
        labels: labels for every object.
    """

    namespace: pulumi.Input[str]
    image: str
    serving: ServingSettings = field(default_factory=ServingSettings)
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    gpu_resource: str = GPU_RESOURCE
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_digest(self.image)


def canary_replicas(stable: int, percent: int) -> int:
    """Canary pods for a ``percent`` share next to ``stable`` pods (at least one)."""
    return max(1, math.ceil(stable * percent / (100 - percent)))


class ModelServer(pulumi.ComponentResource):
    """Stable (and canary) Deployments, one Service, an HPA and a PodDisruptionBudget."""

    def __init__(
        self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:ModelServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        app = {"app.kubernetes.io/name": name, "mlops/role": "serving"}
        self.stable = self._deployment(
            f"{name}-stable", args, args.image, args.serving.replicas, app, "stable", child
        )
        self.canary = None
        if args.serving.candidate_image:
            count = canary_replicas(args.serving.replicas, args.serving.canary_percent)
            self.canary = self._deployment(
                f"{name}-canary", args, args.serving.candidate_image, count, app, "canary", child
            )
        meta = {"namespace": args.namespace, "labels": {**args.labels, **app}}
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={**meta, "name": name},
            spec={
                "selector": app,  # both tracks: the replica split is the traffic split
                "ports": [{"name": "http", "port": 80, "target_port": SERVING_PORT}],
            },
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata={**meta, "name": f"{name}-stable"},
            spec={
                "scale_target_ref": {
                    "api_version": "apps/v1",
                    "kind": "Deployment",
                    "name": f"{name}-stable",
                },
                "min_replicas": args.serving.replicas,
                "max_replicas": args.serving.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "average_utilization": 70},
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.stable]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata={**meta, "name": name},
            spec={"min_available": 1, "selector": {"match_labels": app}},
            opts=child,
        )
        self.url = pulumi.Output.concat("http://", name, ".", args.namespace, ".svc")
        self.register_outputs({"url": self.url})

    @staticmethod
    def _deployment(
        name: str,
        args: ModelServerArgs,
        image: str,
        replicas: int,
        app: dict[str, str],
        track: str,
        opts: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        labels = {**app, "mlops/track": track}
        resources = pod_resources(
            args.serving.cpu, args.serving.memory, args.serving.gpus, args.gpu_resource
        )
        probe = {"http_get": {"path": "/ping", "port": SERVING_PORT}, "period_seconds": 10}
        pod = restricted_pod(
            "server",
            image,
            "serve",
            {Env.SERVE_HOST: "0.0.0.0", **args.env},
            resources,
            "serving",
            container_extra={
                "ports": [{"name": "http", "container_port": SERVING_PORT}],
                "readiness_probe": {**probe, "initial_delay_seconds": 5},
                "liveness_probe": {**probe, "initial_delay_seconds": 30, "failure_threshold": 3},
            },
        )
        return k8s.apps.v1.Deployment(
            name,
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": {**args.labels, **labels},
            },
            spec={
                "replicas": replicas,
                "selector": {"match_labels": labels},
                "strategy": {
                    "type": "RollingUpdate",
                    "rolling_update": {"max_unavailable": 0, "max_surge": 1},
                },
                "template": {"metadata": {"labels": {**args.labels, **labels}}, "spec": pod},
            },
            opts=opts,
        )
