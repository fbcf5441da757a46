"""Trained runs as evaluate_step leaves them, for registry tests (MLflow, SageMaker, approve)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from mlops.pipelines.evaluate import gate
from mlops.pipelines.registry import RunRecord, save_run
from mlops.pipelines.steps import evaluation_record


def candidate(lake: Any, metric: str, value: float, run_id: str = "") -> RunRecord:
    """A trained run as evaluate_step leaves it: artifact, evaluation record and run record."""
    run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    key = f"{run_id}/model.tar.gz"
    lake.put_once("models", key, f"model of {run_id}".encode())
    decision = gate(metric, value, None, 0.0)
    record = RunRecord(
        run_id=run_id,
        dataset_sha256="d" * 64,
        params={"C": 1.0, "solver": "lbfgs"},
        metrics={metric: value},
        primary_metric=metric,
        code_version="abc123",
        artifact_uri=lake.uri("models", key),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        code_sha256="e" * 64,
        contract_sha256="c" * 64,
        framework="scikit-learn==1.7.0",
    )
    body = {**evaluation_record(record.dataset_sha256, record.metrics, decision), "run_id": run_id}
    lake.put("evaluation", f"{run_id}.json", json.dumps(body, sort_keys=True).encode())
    save_run(lake, record)
    return record
