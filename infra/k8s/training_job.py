"""``mlops:k8s:TrainingJob``: GPU training as a Kubernetes Job, a CronJob, or a PyTorchJob.

One node: a ``batch/v1`` Job running the image's ``train`` entry point with GPU requests and
limits, tolerations and a node selector, ``backoffLimit``, ``activeDeadlineSeconds`` and
``ttlSecondsAfterFinished``; with a schedule, a CronJob that starts such Jobs (scheduled
retraining; never two at once). More than one node: a ``PyTorchJob`` for the Kubeflow Training
Operator (one master, N-1 workers), not a home-made launcher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops.infra.k8s.settings import GPU_RESOURCE, TrainingSettings
from mlops.infra.k8s.workloads import (
    EnvValue,
    api_keys,
    pod_resources,
    require_digest,
    restricted_pod,
)


@dataclass(frozen=True)
class TrainingJobArgs:
    """Inputs of :class:`TrainingJob`.

    Attributes:
        namespace: where it runs.
        image: the training image, by digest.
        training: GPUs per node, nodes (more than one makes a PyTorchJob), the labels of the
            nodes it may run on and a cron schedule for retraining (empty for one Job); its
            defaults and rules live there.
        gpu_resource: the extended resource GPUs are requested as.
        tolerations: taints it tolerates (GPU nodes are usually tainted).
        backoff_limit: retries before the Job fails.
        deadline_seconds: the longest a run may take.
        ttl_seconds: how long a finished Job stays for its logs.
        cpu: CPU per node.
        memory: memory per node.
        env: the container's environment (data location, train module).
        labels: labels for every object.
        object_name: the Kubernetes object's name (default: the component's), which monitoring
            refers to when it starts retraining from the CronJob.
    """

    namespace: pulumi.Input[str]
    image: str
    training: TrainingSettings = field(default_factory=TrainingSettings)
    gpu_resource: str = GPU_RESOURCE
    tolerations: Sequence[Mapping[str, str]] = field(
        default_factory=lambda: (
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        )
    )
    backoff_limit: int = 2
    deadline_seconds: int = 6 * 3600
    ttl_seconds: int = 24 * 3600
    cpu: str = "4"
    memory: str = "16Gi"
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    object_name: str = ""

    def __post_init__(self) -> None:
        require_digest(self.image)


def pod_spec(args: TrainingJobArgs, restart: str) -> dict[str, Any]:
    """The training pod: the ``train`` entry point with its GPUs, placement and guard rails."""
    resources = pod_resources(args.cpu, args.memory, args.training.gpus, args.gpu_resource)
    return restricted_pod(
        "pytorch" if args.training.nodes > 1 else "train",  # the operator's name for it
        args.image,
        "train",
        dict(args.env),
        resources,
        "training",
        restart_policy=restart,
        node_selector=dict(args.training.node_selector),
        tolerations=[dict(t) for t in args.tolerations],
    )


def pytorch_spec(args: TrainingJobArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    """A PyTorchJob's spec (the API's own field names): one master and N-1 workers.

    Exported for the workflow, whose train step creates this resource when training spans nodes.
    """
    replica = {
        "restartPolicy": "OnFailure",
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": api_keys(pod_spec(args, "OnFailure")),
        },
    }
    return {
        "runPolicy": {
            "backoffLimit": args.backoff_limit,
            "activeDeadlineSeconds": args.deadline_seconds,
            "ttlSecondsAfterFinished": args.ttl_seconds,
        },
        "pytorchReplicaSpecs": {
            "Master": {**replica, "replicas": 1},
            "Worker": {**replica, "replicas": args.training.nodes - 1},
        },
    }


class TrainingJob(pulumi.ComponentResource):
    """A training Job, a retraining CronJob, or a multi-node PyTorchJob."""

    def __init__(
        self, name: str, args: TrainingJobArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:TrainingJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**args.labels, "app.kubernetes.io/name": name, "mlops/role": "training"}
        meta = {"name": args.object_name or name, "namespace": args.namespace, "labels": labels}
        job_spec = {
            "backoff_limit": args.backoff_limit,
            "active_deadline_seconds": args.deadline_seconds,
            "ttl_seconds_after_finished": args.ttl_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec(args, "Never")},
        }
        self.resource: pulumi.CustomResource
        if args.training.nodes > 1:
            self.resource = k8s.apiextensions.CustomResource(
                f"{name}-pytorchjob",
                api_version="kubeflow.org/v1",
                kind="PyTorchJob",
                metadata=meta,
                spec=pytorch_spec(args, labels),
                opts=child,
            )
        elif args.training.retrain_schedule:
            self.resource = k8s.batch.v1.CronJob(
                f"{name}-cronjob",
                metadata=meta,
                spec={
                    "schedule": args.training.retrain_schedule,
                    "concurrency_policy": "Forbid",
                    "job_template": {"metadata": {"labels": labels}, "spec": job_spec},
                },
                opts=child,
            )
        else:
            self.resource = k8s.batch.v1.Job(
                f"{name}-job", metadata=meta, spec=job_spec, opts=child
            )
        self.register_outputs(
            {
                "kind": "PyTorchJob"
                if args.training.nodes > 1
                else "CronJob"
                if args.training.retrain_schedule
                else "Job"
            }
        )
