"""The lifecycle's steps as plain functions: clients in, records out, nothing half-written.

A step writes its outputs to the lake only after its work succeeded, and under content- or
run-addressed keys, so a failed step leaves nothing behind and re-running changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core.errors import DataError
from mlops.pipelines.data import (
    DataContract,
    DatasetVersion,
    Table,
    ValidationReport,
    load_version,
    split,
    validate,
)
from mlops.pipelines.evaluate import classification_metrics, regression_metrics
from mlops.pipelines.lake import Lake
from mlops.pipelines.model import Trainer, pack
from mlops.pipelines.registry import RunRecord, load_run, new_record, save_run, track


def validate_step(
    lake: Lake, version: DatasetVersion, contract: DataContract
) -> tuple[Table, ValidationReport]:
    """Check a dataset version against the contract and write the report.

    Raises:
        DataError: the data breaks the contract; the report is still written, with the reasons.
    """
    table = load_version(lake, version)
    report = validate(table, contract)
    body = {"dataset": version.sha256, "passed": report.passed, **asdict(report)}
    lake.put("validation", f"{version.sha256}/report.json", json.dumps(body, indent=1).encode())
    if not report.passed:
        raise DataError(version.key, report.problems)
    return table, report


def train_step(
    trainer: Trainer, table: Table, contract: DataContract, params: dict[str, Any], seed: int = 7
) -> tuple[Any, Table]:
    """Train on the seeded train split; return the model and the held-out test split."""
    train, _, test = split(table, seed)
    model = trainer.train(train.select(contract.features), train.column(contract.label), params)
    return model, test


def evaluate_step(
    lake: Lake,
    trainer: Trainer,
    model: Any,
    test: Table,
    contract: DataContract,
    version: DatasetVersion,
    params: dict[str, Any],
    code: str,
) -> RunRecord:
    """Score the model on the test split; store its artifact, evaluation and run record."""
    scores = np.asarray(trainer.predict_proba(model, test.select(contract.features)))
    truth = test.column(contract.label)
    if contract.task == "classification":
        metrics, primary = classification_metrics(truth, scores), "roc_auc"
    else:
        metrics, primary = regression_metrics(truth, scores), "rmse"
    record = new_record(version.sha256, params, metrics, primary, code, "")
    if lake.exists("runs", f"{record.run_id}.json"):
        return load_run(lake, record.run_id)  # the same inputs ran before: keep that run as is
    key = f"{record.run_id}/model.tar.gz"
    if not lake.exists("models", key):  # a run's artifact is written once, never overwritten
        lake.put_once("models", key, pack(trainer, model))
    record = RunRecord(**{**asdict(record), "artifact_uri": lake.uri("models", key)})
    lake.put(
        "evaluation",
        f"{record.run_id}.json",
        json.dumps({"metrics": metrics, "run_id": record.run_id}).encode(),
    )
    save_run(lake, record)
    track(record)  # MLflow too, when MLFLOW_TRACKING_URI is set
    return record


def write_json(path: Path, payload: Any) -> None:
    """Write a JSON report atomically (temp file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
