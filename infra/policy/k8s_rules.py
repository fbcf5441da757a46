"""The pack's Kubernetes rules, for the k8s flavour's programs.

A ``kubernetes:*`` resource's properties are its manifest. Pods are found wherever workloads
keep them: Deployments and Jobs (``spec.template``), CronJobs (``spec.jobTemplate``), Kubeflow
PyTorchJobs (every replica's template) and KServe InferenceServices (the predictor).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mlops.infra.policy.model import Finding, Resource, Rule, Stack

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}\Z")
RULES: list[Rule] = []
Check = Callable[[Stack, Mapping[str, Any]], Iterable[Finding]]


def rule(
    rule_id: str, title: str, fix: str, refs: tuple[str, ...] = (), **settings: Any
) -> Callable[[Check], Check]:
    """Register a Kubernetes rule."""

    def register(check: Check) -> Check:
        RULES.append(Rule(rule_id, title, fix, "k8s", check, refs, settings))
        return check

    return register


def pods(resource: Resource) -> Iterator[dict[str, Any]]:
    """The pod specs a Kubernetes object runs (none for other kinds)."""
    props = resource.props
    kind, spec = props.get("kind"), props.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield (spec.get("template") or {}).get("spec") or {}
    elif kind == "CronJob":
        job = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        yield (job.get("template") or {}).get("spec") or {}
    elif kind == "Pod":
        yield spec
    elif kind == "PyTorchJob":
        for replica in (spec.get("pytorchReplicaSpecs") or {}).values():
            yield ((replica or {}).get("template") or {}).get("spec") or {}
    elif kind == "InferenceService":
        for component in ("predictor", "transformer", "explainer"):
            if spec.get(component):
                yield spec[component]


def containers(stack: Stack) -> Iterator[tuple[Resource, dict[str, Any], dict[str, Any]]]:
    """(object, pod spec, container) for every container of every workload."""
    for resource in stack.resources:
        if not resource.type.startswith("kubernetes:"):
            continue
        for pod in pods(resource):
            for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
                yield resource, pod, container


def _label(resource: Resource, container: Mapping[str, Any]) -> str:
    return f"{resource.props.get('kind')} {resource.name}, container {container.get('name')}"


@rule(
    "CKV_K8S_16",
    "No container runs privileged",
    "drop securityContext.privileged (workloads.container_security sets it false)",
)
def _privileged(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, _pod, container in containers(stack):
        if (container.get("securityContext") or {}).get("privileged") is True:
            yield Finding(resource.name, f"{_label(resource, container)} is privileged")


@rule(
    "CKV_K8S_20",
    "No container may escalate its privileges",
    "set securityContext.allowPrivilegeEscalation false",
)
def _escalation(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, _pod, container in containers(stack):
        if (container.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False:
            yield Finding(resource.name, f"{_label(resource, container)} may escalate")


@rule(
    "CKV_K8S_23",
    "Containers run as non-root",
    "set runAsNonRoot true (and a non-zero runAsUser) on the pod or the container",
)
def _non_root(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, pod, container in containers(stack):
        own = (container.get("securityContext") or {}).get("runAsNonRoot")
        inherited = (pod.get("securityContext") or {}).get("runAsNonRoot")
        if not (own is True or (own is None and inherited is True)):
            yield Finding(resource.name, f"{_label(resource, container)} may run as root")


@rule(
    "CKV_K8S_22",
    "Containers have a read-only root filesystem",
    "set readOnlyRootFilesystem true and mount an emptyDir where the step writes",
)
def _read_only(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, _pod, container in containers(stack):
        if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            yield Finding(resource.name, f"{_label(resource, container)} can write its image")


@rule(
    "CKV_K8S_13",
    "Containers have CPU and memory limits",
    "set resources.limits cpu and memory (workloads.pod_resources does)",
    ("CKV_K8S_11",),
)
def _limits(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, _pod, container in containers(stack):
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [k for k in ("cpu", "memory") if not limits.get(k)]
        if missing:
            label = _label(resource, container)
            yield Finding(resource.name, f"{label} has no {' or '.join(missing)} limit")


@rule(
    "CKV_K8S_43",
    "Images are pinned by digest",
    "use image@sha256:<digest>, never a tag",
)
def _digest(stack: Stack, _: Mapping[str, Any]) -> Iterator[Finding]:
    for resource, _pod, container in containers(stack):
        image = str(container.get("image", ""))
        if not DIGEST.search(image):
            yield Finding(resource.name, f"{_label(resource, container)}: {image} has no digest")


@rule(
    "mlops-k8s-gpu-quota",
    "A namespace whose workloads request GPUs caps them with a ResourceQuota",
    "add a ResourceQuota with requests.<gpu resource> (mlops:k8s:MLNamespace does)",
    gpuResources=["nvidia.com/gpu", "amd.com/gpu"],
)
def _gpu_quota(stack: Stack, settings: Mapping[str, Any]) -> Iterator[Finding]:
    names = [str(n) for n in settings["gpuResources"]]
    capped: set[tuple[str, str]] = set()
    for quota in stack.resources:
        if quota.props.get("kind") == "ResourceQuota":
            namespace = str((quota.props.get("metadata") or {}).get("namespace"))
            hard = (quota.props.get("spec") or {}).get("hard") or {}
            capped |= {(namespace, n) for n in names if f"requests.{n}" in hard}
    for resource, _pod, container in containers(stack):
        namespace = str((resource.props.get("metadata") or {}).get("namespace"))
        limits = (container.get("resources") or {}).get("limits") or {}
        for gpu in [n for n in names if n in limits]:
            if (namespace, gpu) not in capped:
                yield Finding(resource.name, f"requests {gpu} in {namespace}, which has no quota")
