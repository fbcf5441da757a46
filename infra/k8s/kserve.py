"""``mlops:k8s:KServeModel``: the model server as a KServe InferenceService.

Where KServe runs, it manages the serving Deployment, its autoscaling and the traffic split
itself. The predictor is the same image and ``serve`` entry point, in the same restricted pod
as :class:`~mlops.infra.k8s.model_server.ModelServer`'s. A canary is KServe's own: the
predictor carries the candidate image with ``canaryTrafficPercent``, and KServe keeps sending
the rest to the last revision that took all traffic (the stable one).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.contracts import SERVING_PORT, Env
from mlops.infra.k8s.model_server import ModelServerArgs
from mlops.infra.k8s.workloads import api_keys, pod_resources, restricted_pod


def predictor(args: ModelServerArgs) -> dict[str, Any]:
    """The InferenceService's predictor: the restricted pod, replicas and the canary share."""
    resources = pod_resources(
        args.serving.cpu, args.serving.memory, args.serving.gpus, args.gpu_resource
    )
    probe = {"httpGet": {"path": "/ping", "port": SERVING_PORT}}
    pod = restricted_pod(
        "kserve-container",  # the name KServe looks for
        args.serving.candidate_image or args.image,
        "serve",
        {Env.SERVE_HOST: "0.0.0.0", **args.env},
        resources,
        "serving",
        container_extra={
            "ports": [{"containerPort": SERVING_PORT, "protocol": "TCP"}],
            "readinessProbe": probe,
        },
    )
    spec: dict[str, Any] = {
        **api_keys(pod),
        "minReplicas": args.serving.replicas,
        "maxReplicas": args.serving.max_replicas,
    }
    if args.serving.candidate_image:
        spec["canaryTrafficPercent"] = args.serving.canary_percent
    return spec


class KServeModel(pulumi.ComponentResource):
    """An InferenceService serving the project image, with KServe's canary."""

    def __init__(
        self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:KServeModel", name, None, opts)
        labels = {**args.labels, "app.kubernetes.io/name": name, "mlops/role": "serving"}
        k8s.apiextensions.CustomResource(
            f"{name}-inferenceservice",
            api_version="serving.kserve.io/v1beta1",
            kind="InferenceService",
            metadata={
                "name": name,
                "namespace": args.namespace,
                "labels": labels,
                # Plain Deployments, no Knative: the same objects the rest of the stack uses.
                "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
            },
            spec={"predictor": predictor(args)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = pulumi.Output.concat("http://", name, "-predictor.", args.namespace, ".svc")
        self.register_outputs({"url": self.url})
