"""Local mode on Kubernetes: a kind cluster on this machine, and the ``local`` stack applied to it.

The cluster's config is written to ``.mlops/kind.yaml``: one control-plane node and one worker
labelled as the GPU stand-in (``mlops/gpu-standin=true``, so node selectors and quotas are
exercised; kind has no GPUs, and the ``local`` stack trains on CPU), with the model server's
port mapped to 127.0.0.1 only. Without the Pulumi CLI, the ``local`` stack's manifests (the
same ones ``mlops render-manifests`` writes) are applied with ``kubectl apply -k``.
Everything here needs docker, kind and kubectl; without them each call says which is missing and
how to get it, before anything is created.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from mlops.core.errors import UserError
from mlops.core.process import run_tool

Say = Callable[[str], None]
SERVING_HOST_PORT = 30080  # the model server's NodePort, published on 127.0.0.1
# Argo Workflows runs the lifecycle's WorkflowTemplate. Pinned by release; the images in Argo's
# manifest are tags of that release (quay.io/argoproj/workflow-controller:v3.7.14 and argoexec):
# their digests cannot be resolved offline where this was written, so the release pin holds them.
ARGO_VERSION = "v3.7.14"
ARGO_MANIFEST = (
    f"https://github.com/argoproj/argo-workflows/releases/download/{ARGO_VERSION}/install.yaml"
)
ARGO_NAMESPACE = "argo"
TOOLS = {
    "docker": "install Docker Engine and start it: https://docs.docker.com/engine/install/",
    "kind": "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation",
    "kubectl": "install kubectl: https://kubernetes.io/docs/tasks/tools/",
}


def cluster_name(project_name: str) -> str:
    """The kind cluster of a project."""
    return f"mlops-{project_name}"[:40]


def cluster_config() -> dict[str, Any]:
    """Kind's cluster config: a control plane and a GPU stand-in worker."""
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [
            {
                "role": "control-plane",
                "extraPortMappings": [
                    {
                        "containerPort": SERVING_HOST_PORT,
                        "hostPort": SERVING_HOST_PORT,
                        "listenAddress": "127.0.0.1",  # loopback only
                        "protocol": "TCP",
                    }
                ],
            },
            {"role": "worker", "labels": {"mlops/gpu-standin": "true"}},
        ],
    }


def missing_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The tools local mode on Kubernetes needs that are not on PATH."""
    return [tool for tool in TOOLS if which(tool) is None]


def require_tools(which: Callable[[str], str | None] = shutil.which) -> None:
    """Check that docker, kind and kubectl are on PATH.

    Raises:
        UserError: one is missing; one line says which and how to fix it.
    """
    missing = missing_tools(which)
    if missing:
        fixes = "; ".join(TOOLS[t] for t in missing)
        raise UserError(
            f"local mode on Kubernetes needs {', '.join(missing)} on PATH: {fixes}"
            " (or use `mlops local up` without --k8s: the embedded AWS endpoint needs none)"
        )


def create_cluster(cluster: str, config_path: Path, say: Say) -> None:
    """Create the kind cluster from ``config_path`` unless it exists.

    Raises:
        UserError: a tool is missing (nothing is created).
        ExternalToolError: kind failed; its message is passed on.
    """
    require_tools()
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(cluster_config(), sort_keys=False))
    if cluster in _clusters():
        say(f"kind cluster {cluster}: already there")
        return
    say(f"creating kind cluster {cluster} (a minute or two) ...")
    run_tool(
        ["kind", "create", "cluster", "--name", cluster, "--config", str(config_path)], "kind", 600
    )


def apply(cluster: str, manifests: Path) -> str:
    """``kubectl apply -k`` the folder into the cluster; return kubectl's summary.

    Raises:
        ExternalToolError: kubectl failed.
    """
    args = ["kubectl", "--context", f"kind-{cluster}", "apply", "-k", str(manifests)]
    return run_tool(args, "kubectl apply", 300)


def argo_controller_config() -> dict[str, Any]:
    """The controller's ConfigMap: restricted executor containers, templates only.

    The namespace enforces the restricted Pod Security Standard, so Argo's own init and wait
    containers in each step's pod must run under it too; and Workflows may only be made from
    a WorkflowTemplate (the monitor's Role lets it create Workflows, this makes them the
    lifecycle's).
    """
    security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 8737,  # Argo's documented non-root user for argoexec
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap", "namespace": ARGO_NAMESPACE},
        "data": {
            "executor": yaml.safe_dump({"securityContext": security}, sort_keys=True),
            "workflowRestrictions": yaml.safe_dump({"templateReferencing": "Strict"}),
        },
    }


def install_argo(cluster: str, say: Say) -> None:
    """Install the pinned Argo Workflows controller into the cluster and wait for it.

    Raises:
        ExternalToolError: kubectl failed or the controller did not become ready in 5 minutes.
    """
    import json

    ctx = ["kubectl", "--context", f"kind-{cluster}"]
    found = run_tool(
        [*ctx, "get", "namespace", ARGO_NAMESPACE, "--ignore-not-found", "-o", "name"],
        "kubectl",
        60,
    )
    if not found.strip():
        run_tool([*ctx, "create", "namespace", ARGO_NAMESPACE], "kubectl create namespace", 60)
    say(f"installing Argo Workflows {ARGO_VERSION} ...")
    run_tool(
        [*ctx, "apply", "-n", ARGO_NAMESPACE, "--server-side", "-f", ARGO_MANIFEST],
        "kubectl apply (Argo Workflows)",
        300,
    )
    config = json.dumps(argo_controller_config())
    run_tool([*ctx, "apply", "-f", "-"], "kubectl apply (Argo's config)", 60, config)
    run_tool(
        [
            *ctx,
            "rollout",
            "status",
            "-n",
            ARGO_NAMESPACE,
            "deployment/workflow-controller",
            "--timeout=300s",
        ],
        "waiting for Argo's controller",
        330,
    )


def ensure_secret(cluster: str, namespace: str, name: str, files: Mapping[str, str]) -> bool:
    """Create the Secret ``name`` with ``files`` (key -> content) unless it exists.

    An existing Secret is never replaced: data written with its keys would become unreadable.
    The contents go through files of this user only, never kubectl's arguments (which any
    process on the machine can list). Returns whether it was created.

    Raises:
        ExternalToolError: kubectl failed.
    """
    ctx = ["kubectl", "--context", f"kind-{cluster}", "--namespace", namespace]
    found = run_tool(
        [*ctx, "get", "secret", name, "--ignore-not-found", "-o", "name"], "kubectl", 60
    )
    if found.strip():
        return False
    with tempfile.TemporaryDirectory(prefix="mlops-secret-") as tmp:  # 0700: this user's only
        args = []
        for key, content in sorted(files.items()):
            path = Path(tmp) / key
            path.write_text(content)
            path.chmod(0o600)
            args.append(f"--from-file={key}={path}")
        run_tool([*ctx, "create", "secret", "generic", name, *args], "kubectl create secret", 60)
    return True


def delete_cluster(cluster: str, say: Say) -> None:
    """Delete the kind cluster (what it ran is gone with it).

    Raises:
        UserError: kind is missing.
    """
    if shutil.which("kind") is None:
        raise UserError(f"deleting the local cluster needs kind: {TOOLS['kind']}")
    if cluster not in _clusters():
        say(f"no kind cluster {cluster}: nothing to delete")
        return
    run_tool(["kind", "delete", "cluster", "--name", cluster], "kind delete cluster", 300)
    say(f"deleted kind cluster {cluster}")


def _clusters() -> list[str]:
    return run_tool(["kind", "get", "clusters"], "listing kind clusters", 60).split()
