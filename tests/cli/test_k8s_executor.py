"""`mlops pipeline run --executor k8s`: the stack's training Job through kubectl.

No cluster can run here: kubectl is a stand-in script that records the object it was given,
answers `get` as a Job that runs, then completes or fails, and prints logs. What is tested is
ours: which object is submitted, under what name, how the wait ends, and what a failure says.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

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
elif args[:2] == ["apply", "-f"]:
    open(os.path.join(state, "submitted.json"), "w").write(sys.stdin.read())
    print("job.batch created")
elif args[:2] == ["get", "job"]:
    polls = os.path.join(state, "polls")
    n = int(open(polls).read()) + 1 if os.path.exists(polls) else 1
    open(polls, "w").write(str(n))
    done = {{"type": "Complete" if os.environ["STUB_MODE"] == "ok" else "Failed", "status": "True"}}
    print(json.dumps({{"status": {{"conditions": [done] if n >= 3 else []}}}}))
elif args[:2] == ["get", "pods"]:
    ended = {{"reason": "OOMKilled", "exitCode": 137, "message": ""}}
    container = {{"state": {{"terminated": ended}}}}
    print(json.dumps({{"items": [{{"status": {{"containerStatuses": [container]}}}}]}}))
elif args[0] == "logs":
    print("epoch 1/2 loss=0.61")
    print("epoch 2/2 loss=0.48")
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


def test_the_training_job_runs_and_its_logs_stream(
    k8s_project: Path, invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STUB_MODE", "ok")
    result = invoke(
        "pipeline", "run", "--executor", "k8s", "--stack", "prod", "--project", str(k8s_project)
    )
    assert result.exit_code == 0, result.output
    job = json.loads((tmp_path / "state" / "submitted.json").read_text())
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "churn-k8s-prod"
    assert job["metadata"]["name"].startswith("churn-k8s-prod-training-")  # a name of its own
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["train"]
    assert "  | epoch 2/2 loss=0.48" in result.output and "succeeded" in result.output
    assert int((tmp_path / "state" / "polls").read_text()) == 3  # it waited for the end


def test_a_failed_job_says_why(k8s_project: Path, invoke, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STUB_MODE", "oom")
    result = invoke(
        "pipeline", "run", "--executor", "k8s", "--stack", "dev", "--project", str(k8s_project)
    )
    assert result.exit_code != 0
    assert "failed: OOMKilled (exit code 137)" in result.output and "Traceback" not in result.output


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


def test_a_retraining_cronjob_runs_now_as_a_job() -> None:
    from mlops.composition.k8s_run import training_object

    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "t", "namespace": "ns", "labels": {"mlops/role": "training"}},
        "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"backoffLimit": 2}}},
    }
    job = training_object([{"kind": "Service", "metadata": {}}, cron])
    assert job["kind"] == "Job" and job["spec"] == {"backoffLimit": 2}
    from mlops.core.errors import UserError

    with pytest.raises(UserError, match="no training Job"):
        training_object([{"kind": "Service", "metadata": {}}])


MINIO = "quay.io/minio/minio@sha256:" + "e" * 64


@pytest.mark.parametrize(
    "lake",
    [
        ("irsaRoleArn", "arn:aws:iam::123456789012:role/churn-k8s-prod-jobs"),
        ("minioImage", MINIO),
    ],
    ids=["s3", "minio"],
)
def test_with_a_lake_each_run_gets_its_data_in_and_model_out(
    k8s_project: Path,
    invoke,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lake: tuple[str, str],
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STUB_MODE", "ok")
    stack = k8s_project / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text() + f'  churn-k8s:{lake[0]}: "{lake[1]}"\n')
    dataset = "s3://churn-k8s-prod-lake-raw/datasets/churn_k8s/sha256=abc/"
    result = invoke(
        "pipeline",
        "run",
        "--executor",
        "k8s",
        "--stack",
        "prod",
        "--project",
        str(k8s_project),
        "--dataset-uri",
        dataset,
    )
    assert result.exit_code == 0, result.output
    job = json.loads((tmp_path / "state" / "submitted.json").read_text())
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLOPS_DATASET_URI"] == dataset
    # MinIO's keys are a mounted file; the run's own values are added beside it.
    minio = lake[0] == "minioImage"
    credentials = "/var/run/secrets/mlops/churn-k8s-prod-lake-root/credentials"
    assert (env.get("AWS_SHARED_CREDENTIALS_FILE") == credentials) is minio
    assert any("secret" in v for v in job["spec"]["template"]["spec"]["volumes"]) is minio
    name = job["metadata"]["name"]
    assert (
        env["MLOPS_MODEL_OUTPUT_URI"]
        == f"s3://churn-k8s-prod-lake-artifacts/models/{name}/model.tar.gz"
    )
