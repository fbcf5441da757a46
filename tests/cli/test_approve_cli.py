"""`mlops approve` (a registered model, approved by a person, gated) and `mlops runs show`."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def project(local_project: Path) -> Path:
    return local_project


def _scrambled(project: Path) -> Path:
    """The sample with its labels shuffled: a model trained on it is worse."""
    from mlops.pipelines.data import DataContract

    label = DataContract.load(project / "data" / "contract.yaml").label
    with (project / "data" / "sample.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    labels = [r[label] for r in rows]
    random.Random(0).shuffle(labels)
    path = project / "scrambled.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, label: v} for r, v in zip(rows, labels, strict=True))
    return path


def _registered(project: Path, invoke) -> tuple[dict, dict]:  # type: ignore[no-untyped-def, type-arg]
    """Two runs registered, none approved: the sample's (better) and a scrambled one (worse)."""
    for data in (project / "data" / "sample.csv", _scrambled(project)):
        ran = invoke("pipeline", "run", "--project", str(project), "--data", str(data))
        assert ran.exit_code == 0, ran.output
    listed = invoke("runs", "list", "--project", str(project))
    ids = [word for word in listed.output.split() if word.startswith("run-")]
    shown = [_show(project, invoke, run_id) for run_id in ids]
    better, worse = sorted(shown, key=lambda d: -d["metrics"][d["primary_metric"]])
    assert better["metrics"]["roc_auc"] > worse["metrics"]["roc_auc"]
    return better, worse


def _show(project: Path, invoke, ref: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    shown = invoke("runs", "show", ref, "--project", str(project), "--json")
    assert shown.exit_code == 0, shown.output
    return dict(json.loads(shown.output))


def _status(project: Path, invoke, run: dict) -> str:  # type: ignore[no-untyped-def, type-arg]
    return str(_show(project, invoke, run["run_id"])["model_package"]["approval_status"])


def test_a_registered_model_is_approved_by_version_or_run_and_gated(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    better, worse = _registered(project, invoke)
    for run in (better, worse):
        assert run["model_package"]["approval_status"] == "PendingManualApproval"

    # Unknown versions and runs: one line, exit 2, nothing approved.
    unknown = invoke("approve", "999", "--project", str(project))
    assert unknown.exit_code == 2
    assert "no registered model version or run 999; registered versions:" in unknown.output
    no_run = invoke("approve", "run-zzzz", "--project", str(project))
    assert no_run.exit_code == 2 and "no run 'run-zzzz'" in no_run.output
    bad_margin = invoke("approve", better["run_id"], "--margin", "2", "--project", str(project))
    assert bad_margin.exit_code == 2 and "margin must be a number in [0, 1]" in bad_margin.output

    # By a unique prefix of its run id: approved, as nothing was approved before.
    approved = invoke("approve", better["run_id"][4:10], "--project", str(project))
    assert approved.exit_code == 0, approved.output
    version = better["model_package"]["version"]
    assert f"approved version {version} ({better['run_id']})" in approved.output
    assert "no model was approved before" in approved.output
    assert _status(project, invoke, better) == "Approved"

    # By its version number, again: it says so and changes nothing.
    again = invoke("approve", version, "--project", str(project))
    assert again.exit_code == 0, again.output
    assert f"version {version} ({better['run_id']}) is already approved" in again.output

    # The worse one, by version: the gate refuses (exit 1) and it stays unapproved.
    refused = invoke("approve", worse["model_package"]["version"], "--project", str(project))
    assert refused.exit_code == 1, refused.output
    assert "does not beat the approved model" in refused.output
    assert "stays registered but unapproved" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    assert _status(project, invoke, worse) == "PendingManualApproval"
    assert _show(project, invoke, worse["run_id"])["status"] == "registered"

    # Even at a margin of 0 it does not beat the approved model: still refused.
    at_zero = invoke("approve", worse["run_id"], "--margin", "0", "--project", str(project))
    assert at_zero.exit_code == 1 and _status(project, invoke, worse) == "PendingManualApproval"
    listed = invoke("runs", "list", "--project", str(project))
    assert listed.output.count("approved") == 1


def test_a_newer_model_approved_first_keeps_an_older_one_from_taking_over(
    project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    better, worse = _registered(project, invoke)  # the better one is the older package
    first = invoke("approve", worse["run_id"], "--project", str(project))
    assert first.exit_code == 0, first.output
    # It beats the approved model, but the newest approved version is the one that serves:
    # approving an older one would change nothing that serves, so it is refused, exit 2.
    older = better["model_package"]["version"]
    refused = invoke("approve", older, "--project", str(project))
    assert refused.exit_code == 2, refused.output
    assert f"version {older} ({better['run_id']}) is older than the approved" in refused.output
    assert f"mlops deploy --version {older}" in refused.output
    assert _status(project, invoke, better) == "PendingManualApproval"
    assert _show(project, invoke, worse["run_id"])["status"] == "approved"


def test_a_run_whose_gate_failed_cannot_be_approved(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    gated = invoke("pipeline", "run", "--project", str(project), "--data", str(_scrambled(project)))
    assert "nothing registered" in gated.output
    listed = invoke("runs", "list", "--project", str(project))
    ids = [word for word in listed.output.split() if word.startswith("run-")]
    unregistered = next(i for i in ids if _show(project, invoke, i)["model_package"] is None)
    refused = invoke("approve", unregistered, "--project", str(project))
    assert refused.exit_code == 2
    assert f"{unregistered} has no model package: its gate failed" in refused.output
    shown = invoke("runs", "show", unregistered, "--project", str(project))
    assert "gate failed" in shown.output and "none (not registered)" in shown.output


def test_runs_show_prints_a_runs_inputs_metrics_and_package(
    project: Path, moto_endpoint: str, invoke
) -> None:  # type: ignore[no-untyped-def]
    import yaml

    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.registry import list_runs

    # The stack's hyperparameters, applied by `mlops local up`, are the run's effective ones.
    path = project / "Pulumi.local.yaml"
    stack = yaml.safe_load(path.read_text())
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    stack["config"][f"{name}:hyperparameters"] = {"C": 0.25}
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    up = invoke("local", "up", "--project", str(project), "--aws-endpoint", moto_endpoint)
    assert up.exit_code == 0, up.output
    assert invoke("pipeline", "run", "--project", str(project), "--approve").exit_code == 0
    (record,) = list_runs(lifecycle_for(project).lake)
    details = _show(project, invoke, record.run_id[:8])
    assert details["run_id"] == record.run_id
    assert details["metrics"] == record.metrics and details["params"] == record.params
    assert record.params["C"] == 0.25  # the effective hyperparameters, the stack's included
    for key in ("dataset_sha256", "contract_sha256", "code_sha256", "code_version", "framework"):
        assert details[key] == getattr(record, key) and details[key]
    assert details["model_package"] == {
        "arn": record.model_package_arn,
        "version": record.model_package_arn.rsplit("/", 1)[-1],
        "approval_status": "Approved",
    }
    text = invoke("runs", "show", record.run_id, "--project", str(project))
    assert text.exit_code == 0, text.output
    lines = text.output
    assert record.dataset_sha256 in lines and record.code_sha256 in lines
    assert record.contract_sha256 in lines and record.framework in lines
    assert f"{record.model_package_arn}\n" in lines and "Approved" in lines
    assert f"{record.metrics['roc_auc']:.4f} (primary)" in lines
    for key, value in record.params.items():
        assert f"param {key}" in lines and json.dumps(value) in lines
    assert "status" in lines and "approved" in lines
    unknown = invoke("runs", "show", "run-zzzz", "--project", str(project))
    assert unknown.exit_code == 2 and "no run 'run-zzzz'; known runs:" in unknown.output


def test_approve_and_runs_show_explain_their_arguments(invoke) -> None:  # type: ignore[no-untyped-def]
    approve = invoke("approve", "--help")
    assert approve.exit_code == 0
    text = " ".join(approve.output.split())
    assert "VERSION|RUN is the model package's version number in the stack's model" in text
    assert "or any unique prefix of one" in text
    assert "--margin" in text and "evaluationMargin" in text
    show = invoke("runs", "show", "--help")
    text = " ".join(show.output.split())
    assert show.exit_code == 0 and "RUN is a run id" in text and "--json" in text
