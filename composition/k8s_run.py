"""``mlops pipeline run --executor k8s``: the stack's lifecycle workflow on a Kubernetes cluster.

The workflow is the stack's Argo ``WorkflowTemplate`` (``mlops:k8s:LifecycleWorkflow``:
validate -> train -> evaluate -> gate -> register). A ``Workflow`` that references it is created
with ``kubectl create -f -`` under a name of its own for this run; the run then polls the
Workflow's status with a deadline, prints each step's phase as it changes and its pod's logs
when it ends, and ends when the Workflow does: with the failing step and its pod's reason
(OOMKilled, an exit code, the gate's verdict) when it fails. Everything goes through ``kubectl``
and the current (or given) context: no client library, the same credentials a person uses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.errors import ExternalToolError, UserError
from mlops.core.process import run_tool

Say = Callable[[str], None]
POLL_S = 2.0
DONE = ("Succeeded", "Failed", "Error")


def workflow_template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The stack's lifecycle WorkflowTemplate.

    Raises:
        UserError: the stack declares none.
    """
    for obj in objects:
        if obj.get("kind") == "WorkflowTemplate":
            return obj
    raise UserError("the stack declares no lifecycle workflow (is this a k8s project?)")


def workflow_for(template: dict[str, Any], name: str, dataset_uri: str) -> dict[str, Any]:
    """A Workflow of ``template`` named ``name``, on ``dataset_uri`` (or the newest version)."""
    meta = template["metadata"]
    parameters = [{"name": "dataset-uri", "value": dataset_uri}] if dataset_uri else []
    return {
        "apiVersion": template["apiVersion"],
        "kind": "Workflow",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {
                **meta.get("labels", {}),
                "workflows.argoproj.io/workflow-template": meta["name"],
                "mlops/triggered-by": "manual",
            },
        },
        "spec": {
            "workflowTemplateRef": {"name": meta["name"]},
            **({"arguments": {"parameters": parameters}} if parameters else {}),
        },
    }


def _kubectl(context: str | None, *args: str) -> list[str]:
    return ["kubectl", *(["--context", context] if context else []), *args]


def run_training(
    project: Path,
    stack: str,
    *,
    context: str | None = None,
    timeout: float = 8 * 3600,
    say: Say = print,
    dataset_uri: str = "",
) -> str:
    """Submit the stack's lifecycle workflow, follow its steps, wait for it; return its name.

    Raises:
        UserError: no workflow in the stack, or kubectl is missing.
        ExternalToolError: kubectl failed, or the workflow failed (the step and its pod's
            reason) or did not finish within ``timeout``.
    """
    import shutil

    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture

    if shutil.which("kubectl") is None:
        raise UserError("the k8s executor needs kubectl: https://kubernetes.io/docs/tasks/tools/")
    if context is None:
        _require_current_context()
    template = workflow_template(manifests(capture(project, stack)))
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = f"{template['metadata']['name']}-{stamp}"[:63]
    workflow = workflow_for(template, name, dataset_uri)
    namespace = workflow["metadata"]["namespace"]
    _call_kubectl(_kubectl(context, "create", "-f", "-"), "kubectl create", json.dumps(workflow))
    say(
        f"submitted Workflow {namespace}/{name}"
        f" (from WorkflowTemplate {template['metadata']['name']})"
    )
    return follow(name, namespace, context=context, timeout=timeout, say=say)


def follow(
    name: str, namespace: str, *, context: str | None, timeout: float, say: Say = print
) -> str:
    """Poll a Workflow until it ends: step phases and logs as they come; its name.

    Raises:
        ExternalToolError: it failed (the failing step and its pod's reason), or it did not
            end within ``timeout``.
    """
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(
            _call_kubectl(
                _kubectl(context, "get", "workflow", name, "-n", namespace, "-o", "json"),
                "kubectl get workflow",
            )
        )
        status = state.get("status", {})
        for node in steps_of(status):
            phase = node.get("phase", "Pending")
            if seen.get(node["id"]) == phase:
                continue
            seen[node["id"]] = phase
            say(f"  {node['displayName']}: {phase}")
            if phase in DONE:
                _say_logs(context, namespace, name, node, say)
        phase = status.get("phase", "")
        if phase == "Succeeded":
            say(f"{name}: succeeded")
            return name
        if phase in ("Failed", "Error"):
            raise ExternalToolError(
                "kubectl", f"{name} failed: {failure(context, namespace, name, status)}"
            )
        time.sleep(POLL_S)
    raise ExternalToolError("kubectl", f"{name} did not finish within {timeout:.0f} s; it runs on")


def steps_of(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The workflow's pod steps, in the order they started."""
    nodes = [n for n in status.get("nodes", {}).values() if n.get("type") == "Pod"]
    return sorted(nodes, key=lambda n: (n.get("startedAt") or "", n.get("displayName", "")))


def pod_name(workflow: str, node: dict[str, Any]) -> str:
    """The pod of a step, as Argo names it (v2 pod names: workflow-template-fnv32a(node id))."""
    digest = 0x811C9DC5
    for byte in str(node["id"]).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    prefix = f"{workflow}-{node.get('templateName', '')}"
    return f"{prefix[: 253 - 11]}-{digest}"


def failure(context: str | None, namespace: str, workflow: str, status: dict[str, Any]) -> str:
    """Which step failed and why: Argo's message and the pod's own reason."""
    failed = [n for n in steps_of(status) if n.get("phase") in ("Failed", "Error")]
    if not failed:
        return status.get("message") or "no step reported why (see `kubectl describe workflow`)"
    node = failed[-1]
    reason = _pod_reason(context, namespace, pod_name(workflow, node)) or node.get("message", "")
    return f"step {node['displayName']}: {reason or 'no reason given'}"


def _pod_reason(context: str | None, namespace: str, pod: str) -> str:
    """Why the step's own container ended: its reason, exit code and message."""
    try:
        state = json.loads(
            _call_kubectl(
                _kubectl(context, "get", "pod", pod, "-n", namespace, "-o", "json"),
                "kubectl get pod",
            )
        )
    except (ExternalToolError, ValueError):
        return ""
    for container in state.get("status", {}).get("containerStatuses", []):
        if container.get("name") != "main":
            continue
        ended = container.get("state", {}).get("terminated") or {}
        if ended:
            detail = f"{ended.get('reason', 'Error')} (exit code {ended.get('exitCode')})"
            message = (ended.get("message") or "").strip()
            return f"{detail}: {message}" if message else detail
    return ""


def _say_logs(
    context: str | None, namespace: str, workflow: str, node: dict[str, Any], say: Say
) -> None:
    """A finished step's logs (a side channel: their absence never fails the run)."""
    try:
        logs = _call_kubectl(
            _kubectl(context, "logs", pod_name(workflow, node), "-n", namespace, "-c", "main"),
            "kubectl logs",
        )
    except ExternalToolError:
        say("    (logs unavailable)")
        return
    for line in logs.splitlines():
        say(f"    | {line}")


def _require_current_context() -> None:
    """Refuse to submit without a kubectl context, in one line that says what to do.

    Raises:
        UserError: kubectl has no current context.
    """
    import subprocess

    try:
        done = subprocess.run(
            ["kubectl", "config", "current-context"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"kubectl could not be asked for its context: {exc}") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise UserError(
            "kubectl has no current context: choose a cluster with `kubectl config use-context"
            " NAME`, pass --context NAME, or start one with `mlops local up --k8s`"
        )


def _call_kubectl(args: list[str], what: str, stdin: str | None = None) -> str:
    return run_tool(args, what, 120, stdin)
