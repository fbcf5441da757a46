"""``mlops pipeline run --executor k8s``: the stack's training Job on a Kubernetes cluster.

The Job is the one the stack declares (``mlops:k8s:TrainingJob``; a retraining CronJob's job
template, or the PyTorchJob of a multi-node stack), under a name of its own for this run. It is
submitted with ``kubectl apply``, its logs are streamed while it runs, and the run ends when
the Job completes or fails, with the pod's reason (OOMKilled, an exit code) when it fails.
Everything goes through ``kubectl`` and the current (or given) context: no client library, and
the same credentials a person uses.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.contracts import Env
from mlops.core.errors import ExternalToolError, UserError
from mlops.core.layout import lake_uri
from mlops.core.process import run_tool

Say = Callable[[str], None]
POLL_S = 2.0


def training_object(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The stack's training workload as a runnable object (a Job, or a PyTorchJob).

    Raises:
        UserError: the stack declares no training workload.
    """
    for obj in objects:
        labels = obj.get("metadata", {}).get("labels", {})
        if labels.get("mlops/role") != "training":
            continue
        if obj["kind"] in ("Job", "PyTorchJob"):
            return obj
        if obj["kind"] == "CronJob":  # run one now, from its template
            template = obj["spec"]["jobTemplate"]
            return {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {**obj["metadata"], **template.get("metadata", {})},
                "spec": template["spec"],
            }
    raise UserError("the stack declares no training Job (is this a k8s project?)")


def _kubectl(context: str | None, *args: str) -> list[str]:
    return ["kubectl", *(["--context", context] if context else []), *args]


def run_training(
    project: Path,
    stack: str,
    *,
    context: str | None = None,
    timeout: float = 6 * 3600,
    say: Say = print,
    dataset_uri: str = "",
) -> str:
    """Submit the stack's training Job, stream its logs, wait for it; return its name.

    With the stack's lake, the run trains on ``dataset_uri`` (a dataset version's ``s3://``
    prefix) and writes its model to ``models/<job>/model.tar.gz`` in the artifacts bucket.

    Raises:
        UserError: no training workload in the stack, or kubectl is missing.
        ExternalToolError: kubectl failed, or the Job failed (with the pod's reason) or did not
            finish within ``timeout``.
    """
    import shutil

    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture

    if shutil.which("kubectl") is None:
        raise UserError("the k8s executor needs kubectl: https://kubernetes.io/docs/tasks/tools/")
    if context is None:
        _require_current_context()
    job = training_object(manifests(capture(project, stack)))
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = f"{job['metadata']['name']}-{stamp}"[:63]
    namespace = job["metadata"]["namespace"]
    job["metadata"] = {**job["metadata"], "name": name}
    _set_run_env(job, name, dataset_uri)
    _call_kubectl(_kubectl(context, "apply", "-f", "-"), "kubectl apply", json.dumps(job))
    say(f"submitted {job['kind']} {namespace}/{name}")
    logs = threading.Thread(target=_stream_logs, args=(context, namespace, name, say), daemon=True)
    logs.start()
    kind = "pytorchjob" if job["kind"] == "PyTorchJob" else "job"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(
            _call_kubectl(
                _kubectl(context, "get", kind, name, "-n", namespace, "-o", "json"), "kubectl get"
            )
        )
        outcome = _outcome(state)
        if outcome == "succeeded":
            logs.join(5)
            say(f"{name}: succeeded")
            return name
        if outcome == "failed":
            logs.join(5)
            raise ExternalToolError(
                "kubectl", f"{name} failed: {_pod_reason(context, namespace, name)}"
            )
        time.sleep(POLL_S)
    raise ExternalToolError("kubectl", f"{name} did not finish within {timeout:.0f} s; it runs on")


def _set_run_env(job: dict[str, Any], name: str, dataset_uri: str) -> None:
    """This run's data in and model out, where the stack has a lake (in every container)."""
    specs = (
        [r["template"]["spec"] for r in job["spec"]["pytorchReplicaSpecs"].values()]
        if job["kind"] == "PyTorchJob"
        else [job["spec"]["template"]["spec"]]
    )
    for spec in specs:
        for container in spec["containers"]:
            # Entries stay whole: credentials come from a Secret (valueFrom), not a value.
            env = {e["name"]: e for e in container.get("env", [])}
            run: dict[str, str] = {}
            artifacts = env.get(Env.BUCKET_ARTIFACTS, {}).get("value")
            if artifacts:
                lake = {"artifacts": artifacts}
                run[Env.MODEL_OUTPUT_URI] = lake_uri(lake, "models", f"{name}/model.tar.gz")
            if dataset_uri:
                run[Env.DATASET_URI] = dataset_uri
            env.update({k: {"name": k, "value": v} for k, v in run.items()})
            container["env"] = [env[k] for k in sorted(env)]


def _outcome(state: dict[str, Any]) -> str:
    """``succeeded``, ``failed`` or ``running`` from a Job's (or PyTorchJob's) status."""
    status = state.get("status", {})
    for condition in status.get("conditions", []):
        if condition.get("status") != "True":
            continue
        if condition.get("type") in ("Complete", "Succeeded"):
            return "succeeded"
        if condition.get("type") == "Failed":
            return "failed"
    return "running"


def _pod_reason(context: str | None, namespace: str, job: str) -> str:
    """Why the Job's last pod ended: its container's reason, exit code and message."""
    try:
        pods = json.loads(
            _call_kubectl(
                _kubectl(
                    context, "get", "pods", "-n", namespace, "-l", f"job-name={job}", "-o", "json"
                ),
                "kubectl get pods",
            )
        )
    except ExternalToolError:
        return "its pods could not be read"
    for pod in reversed(pods.get("items", [])):
        for status in pod.get("status", {}).get("containerStatuses", []):
            ended = status.get("state", {}).get("terminated") or status.get("lastState", {}).get(
                "terminated"
            )
            if ended:
                detail = f"{ended.get('reason', 'Error')} (exit code {ended.get('exitCode')})"
                message = (ended.get("message") or "").strip()
                return f"{detail}: {message}" if message else detail
    return "no pod reported why (see `kubectl describe job`)"


def _stream_logs(context: str | None, namespace: str, job: str, say: Say) -> None:
    """Print the Job's logs as they come (a side channel: its failure never fails the run)."""
    try:
        with subprocess.Popen(  # kubectl with fixed arguments
            _kubectl(
                context,
                "logs",
                "-n",
                namespace,
                f"job/{job}",
                "--follow",
                "--pod-running-timeout=10m",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                say(f"  | {line.rstrip()}")
    except OSError:
        say("  (logs unavailable)")


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
