"""`mlops pipeline run --executor k8s`: the stack's lifecycle workflow through kubectl.

No cluster can run here: kubectl is a stand-in script that records the Workflow it was given
and replays recorded `kubectl get workflow -o json` answers (Argo v3.7's status shape): the
steps start and end, then the whole succeeds, or the gate's pod fails. What is tested is ours:
which object is submitted, how the steps and their logs are followed, how the wait ends, and
what a failure says.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mlops.composition.k8s_run import pod_name

STEPS = ["validate", "train", "evaluate", "gate", "register"]


def node(workflow: str, step: str, phase: str, message: str = "") -> dict:  # type: ignore[type-arg]
    return {
        "id": f"{workflow}-{abs(hash(step)) % 10**9}",
        "displayName": step,
        "templateName": step,
        "type": "Pod",
        "phase": phase,
        "startedAt": f"2026-12-04T10:0{STEPS.index(step)}:00Z",
        **({"message": message} if message else {}),
    }


def replay(workflow: str, mode: str) -> list[dict]:  # type: ignore[type-arg]
    """The states `kubectl get workflow -o json` answers with, poll after poll."""
    steps = ["validate", "train", "evaluate", "gate", "register"]
    states = []
    done: list[dict] = []  # type: ignore[type-arg]
    last = steps if mode == "ok" else steps[:4]
    for step in last:
        final = "Failed" if (mode == "gate" and step == "gate") else "Succeeded"
        running = node(workflow, step, "Running")
        states.append(
            {"status": {"phase": "Running", "nodes": {n["id"]: n for n in [*done, running]}}}
        )
        ended = node(workflow, step, final, "Error (exit code 1)" if final == "Failed" else "")
        done.append(ended)
    phase = "Succeeded" if mode == "ok" else "Failed"
    states.append({"status": {"phase": phase, "nodes": {n["id"]: n for n in done}}})
    return states


STUB = r"""#!{python}
import json, os, sys
state = os.environ["STUB_DIR"]
args = sys.argv[1:]
if args[:2] == ["--context", "kind-x"]:
    args = args[2:]
with open(os.path.join(state, "calls.log"), "a") as log:
    log.write(" ".join(args) + "\n")
if args[:2] == ["config", "current-context"]:
    if os.environ["STUB_MODE"] == "no-context":
        sys.exit("error: current-context is not set")
    print("kind-x")
elif args[:2] == ["create", "-f"]:
    workflow = json.loads(sys.stdin.read())
    open(os.path.join(state, "submitted.json"), "w").write(json.dumps(workflow))
    print("workflow.argoproj.io/" + workflow["metadata"]["name"] + " created")
elif args[:2] == ["get", "workflow"]:
    polls = os.path.join(state, "polls")
    n = int(open(polls).read()) + 1 if os.path.exists(polls) else 1
    open(polls, "w").write(str(n))
    states = json.load(open(os.path.join(state, "replay.json")))
    print(json.dumps(states[min(n, len(states)) - 1]))
elif args[:2] == ["get", "pod"]:
    open(os.path.join(state, "pod-asked"), "w").write(args[2])
    ended = {{"reason": "Error", "exitCode": 1, "message": "GateFailed: f1 0.61 < 0.70"}}
    main = {{"name": "main", "state": {{"terminated": ended}}}}
    wait = {{"name": "wait", "state": {{"terminated": {{"reason": "Completed", "exitCode": 0}}}}}}
    print(json.dumps({{"status": {{"containerStatuses": [wait, main]}}}}))
elif args[0] == "logs":
    print("step log of " + args[1])
"""


@pytest.fixture
def k8s_project(tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "churn-k8s"
    assert (
        invoke(
            "init", "churn-k8s", "--template", "k8s", "--no-input", "--no-git", "--dest", str(root)
        ).exit_code
        == 0
    )
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    stub = bin_dir / "kubectl"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STUB_DIR", str(state))
    monkeypatch.setattr("mlops.composition.k8s_run.POLL_S", 0.01)
    return root


def arrange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Replay a run of mode ``ok`` or ``gate`` (the gate's pod fails)."""
    monkeypatch.setenv("STUB_MODE", mode)
    monkeypatch.setattr(
        "mlops.composition.k8s_run.datetime",
        type(
            "Fixed",
            (),
            {
                "now": staticmethod(
                    lambda tz: __import__("datetime").datetime(2026, 12, 4, 10, 0, 0)
                )
            },
        ),
    )


def test_the_workflow_runs_its_steps_are_followed_and_their_logs_shown(
    k8s_project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    name = "churn-k8s-prod-lifecycle-20261204100000"
    (tmp_path / "state" / "replay.json").write_text(json.dumps(replay(name, "ok")))
    arrange(tmp_path, monkeypatch, "ok")
    result = invoke(
        "pipeline", "run", "--executor", "k8s", "--stack", "prod", "--project", str(k8s_project)
    )
    assert result.exit_code == 0, result.output
    workflow = json.loads((tmp_path / "state" / "submitted.json").read_text())
    assert workflow["kind"] == "Workflow" and workflow["metadata"]["namespace"] == "churn-k8s-prod"
    assert workflow["metadata"]["name"] == name  # a name of its own
    assert workflow["spec"] == {"workflowTemplateRef": {"name": "churn-k8s-prod-lifecycle"}}
    lines = result.output.splitlines()
    # Each step's phase as it changes, in order, and its pod's logs when it ends.
    progress = [line.strip() for line in lines if line.startswith("  ") and "|" not in line]
    assert progress == [
        f"{step}: {phase}"
        for step in ("validate", "train", "evaluate", "gate", "register")
        for phase in ("Running", "Succeeded")
    ]
    gate = node(name, "gate", "Succeeded")
    assert f"    | step log of {pod_name(name, gate)}" in lines
    assert f"{name}: succeeded" in lines and "its candidate is registered" in lines[-1]
    calls = (tmp_path / "state" / "calls.log").read_text()
    assert "create -f -" in calls and f"get workflow {name} -n churn-k8s-prod -o json" in calls


def test_a_failed_step_is_named_with_its_pods_reason(
    k8s_project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    name = "churn-k8s-dev-lifecycle-20261204100000"
    (tmp_path / "state" / "replay.json").write_text(json.dumps(replay(name, "gate")))
    arrange(tmp_path, monkeypatch, "gate")
    result = invoke(
        "pipeline", "run", "--executor", "k8s", "--stack", "dev", "--project", str(k8s_project)
    )
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "failed: step gate: Error (exit code 1): GateFailed: f1 0.61 < 0.70" in result.output
    assert "register" not in result.output  # it stopped at the gate
    asked = (tmp_path / "state" / "pod-asked").read_text()
    assert asked == pod_name(name, node(name, "gate", "Failed"))


def test_argo_names_a_steps_pod_after_the_workflow_the_template_and_the_node() -> None:
    # Argo v3 (v2 pod names): <workflow>-<template>-<FNV-1a 32 of the node id>; FNV-1a of
    # "a" is 0xe40c292c, the published test vector.
    assert pod_name("w", {"id": "a", "templateName": "t"}) == f"w-t-{0xE40C292C}"
    assert pod_name("wf", {"id": "wf-1", "templateName": "train"}) == "wf-train-3633073122"
    assert pod_name("wf", {"id": "wf-2", "templateName": "train"}) != "wf-train-3633073122"


def test_no_kubectl_context_is_one_line_that_says_what_to_do(
    k8s_project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STUB_MODE", "no-context")
    result = invoke("pipeline", "run", "--executor", "k8s", "--project", str(k8s_project))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: kubectl has no current context")
    assert "kubectl config use-context" in result.output and "current-context is not set" not in (
        result.output
    )
    assert not (tmp_path / "state" / "submitted.json").exists()  # nothing was submitted


def test_a_dataset_version_is_passed_as_the_workflows_parameter() -> None:
    from mlops.composition.k8s_run import workflow_for, workflow_template
    from mlops.core.errors import UserError

    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": "t", "namespace": "ns", "labels": {"mlops/role": "training"}},
    }
    found = workflow_template([{"kind": "Service", "metadata": {}}, template])
    dataset = "s3://churn-lake-raw/datasets/churn/sha256=abc/"
    workflow = workflow_for(found, "t-1", dataset)
    assert workflow["spec"]["arguments"] == {
        "parameters": [{"name": "dataset-uri", "value": dataset}]
    }
    assert "arguments" not in workflow_for(found, "t-2", "")["spec"]  # the newest version
    with pytest.raises(UserError, match="no lifecycle workflow"):
        workflow_template([{"kind": "Service", "metadata": {}}])
