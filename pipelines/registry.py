"""Model registration, experiment records and promotion.

Each run is an experiment record in the lake (``runs/<run id>.json``): dataset version, params,
metrics, code version (git sha) and artifact URI. Registered candidates are SageMaker model
packages (PendingManualApproval); the record is the source of truth for their metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.errors import GateBlocked, UserError
from mlops.pipelines.aws import call
from mlops.pipelines.evaluate import improvement
from mlops.pipelines.lake import Lake


@dataclass(frozen=True)
class RunRecord:
    """One training run."""

    run_id: str
    dataset_sha256: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    primary_metric: str
    code_version: str
    artifact_uri: str
    created_at: str
    model_package_arn: str = ""
    status: str = "trained"


def code_version(project: Path) -> str:
    """The project's git commit, or ``unversioned`` outside git."""
    proc = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "unversioned"


def run_id(dataset_sha256: str, params: dict[str, Any], code: str) -> str:
    """Runs are named by what went into them: the same inputs give the same id."""
    digest = hashlib.sha256(json.dumps([dataset_sha256, params, code], sort_keys=True).encode())
    return f"run-{digest.hexdigest()[:12]}"


def save_run(lake: Lake, record: RunRecord) -> None:
    """Write (or update) a run's record."""
    lake.put(
        "runs",
        f"{record.run_id}.json",
        json.dumps(asdict(record), sort_keys=True, indent=1).encode(),
    )


def load_run(lake: Lake, run: str) -> RunRecord:
    """Read a run's record."""
    return RunRecord(**lake.get_json("runs", f"{run}.json"))


def list_runs(lake: Lake) -> list[RunRecord]:
    """Every run, oldest first."""
    runs = [
        load_run(lake, key.removesuffix(".json"))
        for key in lake.keys("runs")
        if key.endswith(".json")
    ]
    return sorted(runs, key=lambda r: r.created_at)


def new_record(
    dataset_sha256: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    primary: str,
    code: str,
    artifact_uri: str,
) -> RunRecord:
    """A record for a run that just trained."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    return RunRecord(
        run_id(dataset_sha256, params, code),
        dataset_sha256,
        params,
        metrics,
        primary,
        code,
        artifact_uri,
        created,
    )


def track(record: RunRecord, tracking_uri: str | None = None) -> bool:
    """Also log the run to MLflow when a tracking URI is configured; return whether it did.

    Raises:
        UserError: a tracking URI is set but mlflow is not installed.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        return False
    try:
        import mlflow
    except ImportError:
        raise UserError(
            f"MLFLOW_TRACKING_URI is set ({uri}) but mlflow is not installed: pip install mlflow"
        ) from None
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(run_name=record.run_id):
        mlflow.log_params(record.params)
        mlflow.log_metrics(
            {k: float(v) for k, v in record.metrics.items() if isinstance(v, int | float)}
        )
        mlflow.set_tags(
            {
                "dataset_sha256": record.dataset_sha256,
                "code_version": record.code_version,
                "artifact_uri": record.artifact_uri,
            }
        )
    return True


def register(sm: Any, lake: Lake, group: str, record: RunRecord, image_uri: str) -> RunRecord:
    """Register the run's model as a PendingManualApproval package; return the updated record."""
    if record.model_package_arn:
        return record  # re-running is idempotent: a run is registered once
    created = call(
        "sagemaker.CreateModelPackage",
        sm.create_model_package,
        ModelPackageGroupName=group,
        ModelPackageDescription=f"{record.run_id} on dataset {record.dataset_sha256[:12]}",
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": image_uri, "ModelDataUrl": record.artifact_uri}],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": lake.uri("evaluation", f"{record.run_id}.json"),
                }
            }
        },
        CustomerMetadataProperties={
            "run_id": record.run_id,
            "dataset_sha256": record.dataset_sha256,
            "code_version": record.code_version,
        },
    )
    updated = RunRecord(
        **{
            **asdict(record),
            "model_package_arn": created["ModelPackageArn"],
            "status": "registered",
        }
    )
    save_run(lake, updated)
    return updated


def approved_run(sm: Any, lake: Lake, group: str) -> RunRecord | None:
    """The newest approved package's run record, if any."""
    listed = call(
        "sagemaker.ListModelPackages",
        sm.list_model_packages,
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )["ModelPackageSummaryList"]
    arns = {p["ModelPackageArn"] for p in listed}
    approved = [r for r in list_runs(lake) if r.model_package_arn in arns]
    return approved[-1] if approved else None


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate may be promoted."""

    metric: str
    candidate: float
    approved: float | None
    margin: float
    passed: bool


def gate(candidate: RunRecord, approved: RunRecord | None, margin: float) -> GateDecision:
    """The candidate must beat the approved model by ``margin`` (any candidate beats none)."""
    metric = candidate.primary_metric
    value = float(candidate.metrics[metric])
    if approved is None:
        return GateDecision(metric, value, None, margin, True)
    reference = float(approved.metrics[metric])
    return GateDecision(
        metric, value, reference, margin, improvement(metric, value, reference) >= margin
    )


def approve(sm: Any, lake: Lake, group: str, candidate: RunRecord, margin: float) -> GateDecision:
    """Approve the candidate's package if it passes the gate.

    Raises:
        GateBlocked: it did not beat the approved model by the margin; nothing changed.
    """
    decision = gate(candidate, approved_run(sm, lake, group), margin)
    if not decision.passed:
        assert decision.approved is not None
        raise GateBlocked(decision.metric, decision.candidate, decision.approved, margin)
    call(
        "sagemaker.UpdateModelPackage",
        sm.update_model_package,
        ModelPackageArn=candidate.model_package_arn,
        ModelApprovalStatus="Approved",
    )
    save_run(lake, RunRecord(**{**asdict(candidate), "status": "approved"}))
    return decision
