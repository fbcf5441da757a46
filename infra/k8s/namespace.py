"""``mlops:k8s:MLNamespace``: a namespace fenced for ML work.

A ResourceQuota that covers GPUs (``requests.nvidia.com/gpu``) as well as CPU, memory and pods;
a LimitRange so a container without limits still gets some; NetworkPolicies that deny all
ingress and egress by default, then allow DNS, the object store, and the serving port; and one
ServiceAccount per job (training, serving, monitoring) with no API token mounted, except
monitoring's, whose Role may only create Workflows and read the lifecycle's WorkflowTemplate (a
drift verdict submits it); and Argo's executor account, whose Role is what Argo documents as the
emissary executor's minimum (``workflowtaskresults`` create and patch), plus creating and
watching PyTorchJobs when the train step makes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.contracts import SERVING_PORT
from mlops.infra.k8s.settings import GPU_RESOURCE
from mlops.infra.k8s.workloads import API_CLIENT_LABEL, EXECUTOR_ACCOUNT


@dataclass(frozen=True)
class NamespaceArgs:
    """Inputs of :class:`MLNamespace`.

    Attributes:
        namespace: the namespace's name.
        labels: labels for every object.
        gpu_resource: the extended resource GPUs are requested as.
        gpus: the most GPUs the namespace may request at once.
        cpu: the most CPU the namespace may request.
        memory: the most memory the namespace may request.
        pods: the most pods at once.
        object_store_port: the object store's port (egress is allowed to it).
        ingress_from: labels of the namespaces whose pods may call the model server.
        service_account_annotations: on every job's service account (IRSA's role, say).
        workflow_template: the lifecycle's WorkflowTemplate, the one the monitor may submit.
        pytorch_jobs: the train step creates PyTorchJobs (Argo's executor may create them).
    """

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    gpu_resource: str = GPU_RESOURCE
    # No defaults: the stack config holds them (namespaceGpus, the lake's objectStorePort).
    gpus: int = field(kw_only=True)
    cpu: str = "32"
    memory: str = "128Gi"
    pods: int = 50
    object_store_port: int = field(kw_only=True)
    ingress_from: Mapping[str, str] = field(
        default_factory=lambda: {"mlops/serving-clients": "true"}
    )
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    workflow_template: str = field(kw_only=True)
    pytorch_jobs: bool = False


def executor_rules(args: NamespaceArgs) -> list[dict[str, Any]]:
    """Argo's executor Role: the emissary executor's documented minimum, and nothing more.

    Exported for testing.
    """
    rules: list[dict[str, Any]] = [
        {
            "api_groups": ["argoproj.io"],
            "resources": ["workflowtaskresults"],
            "verbs": ["create", "patch"],
        }
    ]
    if args.pytorch_jobs:  # a resource step: the executor creates the job and watches it
        rules.append(
            {
                "api_groups": ["kubeflow.org"],
                "resources": ["pytorchjobs"],
                "verbs": ["create", "get", "list", "watch"],
            }
        )
    return rules


def monitor_rules(args: NamespaceArgs) -> list[dict[str, Any]]:
    """The monitor's Role: submit Workflows, read the template it submits.

    Exported for testing.
    """
    return [
        {"api_groups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]},
        {
            "api_groups": ["argoproj.io"],
            "resources": ["workflowtemplates"],
            "resource_names": [args.workflow_template],
            "verbs": ["get"],
        },
    ]


class MLNamespace(pulumi.ComponentResource):
    """The namespace, its quota and limits, default-deny networking and per-job identities."""

    def __init__(
        self, name: str, args: NamespaceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:MLNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = dict(args.labels)
        ns = args.namespace
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": ns,
                # The restricted Pod Security Standard, enforced by the API server itself.
                "labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted"},
            },
            opts=child,
        )
        scoped = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        meta = {"namespace": ns, "labels": labels}
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={**meta, "name": "ml-quota"},
            spec={
                "hard": {
                    f"requests.{args.gpu_resource}": str(args.gpus),
                    "requests.cpu": args.cpu,
                    "requests.memory": args.memory,
                    "limits.memory": args.memory,
                    "pods": str(args.pods),
                }
            },
            opts=scoped,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata={**meta, "name": "defaults"},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "1", "memory": "2Gi"},
                        "default_request": {"cpu": "250m", "memory": "512Mi"},
                    }
                ]
            },
            opts=scoped,
        )
        self._network_policies(name, args, meta, scoped)
        self.service_accounts = {
            job: k8s.core.v1.ServiceAccount(
                f"{name}-{job}-sa",
                metadata={
                    **meta,
                    "name": f"{job}",
                    "annotations": dict(args.service_account_annotations),
                },
                # Only the monitor and Argo's executor talk to the API server.
                automount_service_account_token=job in ("monitoring", EXECUTOR_ACCOUNT),
                opts=scoped,
            )
            for job in ("training", "serving", "monitoring", EXECUTOR_ACCOUNT)
        }
        self._role(name, "monitoring", "submit-retraining", monitor_rules(args), meta, scoped)
        self._role(name, EXECUTOR_ACCOUNT, EXECUTOR_ACCOUNT, executor_rules(args), meta, scoped)
        self.name = self.namespace.metadata["name"]
        self.register_outputs({"namespace": self.name})

    def _role(
        self,
        name: str,
        account: str,
        role_name: str,
        rules: list[dict[str, Any]],
        meta: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
    ) -> None:
        role = k8s.rbac.v1.Role(
            f"{name}-{account}-role", metadata={**meta, "name": role_name}, rules=rules, opts=opts
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-{account}-binding",
            metadata={**meta, "name": f"{account}-{role_name}"},
            role_ref={
                "api_group": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": role_name,
            },
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": meta["namespace"]}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )

    @staticmethod
    def _network_policies(
        name: str, args: NamespaceArgs, meta: Mapping[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={**meta, "name": "default-deny"},
            spec={"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
            opts=opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns-and-store",
            metadata={**meta, "name": "allow-dns-and-object-store"},
            spec={
                "pod_selector": {},
                "policy_types": ["Egress"],
                "egress": [
                    {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {"ports": [{"protocol": "TCP", "port": args.object_store_port}]},
                ],
            },
            opts=opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-api-server",
            metadata={**meta, "name": "allow-api-server"},
            spec={
                # The pods that call the API server: the monitor and Argo's executor in the
                # workflow's pods (443 on managed clusters, 6443 behind kind's Service).
                "pod_selector": {"match_labels": {API_CLIENT_LABEL: "true"}},
                "policy_types": ["Egress"],
                "egress": [
                    {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}
                ],
            },
            opts=opts,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-serving",
            metadata={**meta, "name": "allow-serving-ingress"},
            spec={
                "pod_selector": {"match_labels": {"mlops/role": "serving"}},
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"namespace_selector": {"match_labels": dict(args.ingress_from)}}],
                        "ports": [{"protocol": "TCP", "port": SERVING_PORT}],
                    }
                ],
            },
            opts=opts,
        )
