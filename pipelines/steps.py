"""The lifecycle's steps as plain functions: clients in, records out, nothing half-written.

Every executor runs these: the local executor calls them in-process, and the container entry
points (:mod:`mlops.pipelines.container`) call them inside SageMaker's jobs. A step writes its
outputs to the lake only after its work succeeded, and under content- or run-addressed keys, so
a failed step leaves nothing behind and re-running changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core.errors import DataError, MlopsError, ProjectCodeError
from mlops.pipelines.data import (
    SPLIT_SEED,
    DataContract,
    DatasetVersion,
    Table,
    ValidationReport,
    feature_columns,
    load_version,
    split,
    validate,
)
from mlops.pipelines.evaluate import (
    GateDecision,
    check_primary_metric,
    gate,
    task_metrics,
)
from mlops.pipelines.identity import RunInputs
from mlops.pipelines.model import CONTRACT_FILE, ModelContract, Trainer, pack, takes_columns
from mlops.pipelines.ports import ObjectStore
from mlops.pipelines.reference import reference_files
from mlops.pipelines.registry import RunRecord, load_run, new_record, save_run

_log = logging.getLogger(__name__)


def validation_record(dataset_sha256: str, report: ValidationReport) -> dict[str, Any]:
    """The validation report as stored, locally and by the container's ``validate``."""
    return {"dataset": dataset_sha256, "passed": report.passed, **asdict(report)}


def validate_step(
    lake: ObjectStore, version: DatasetVersion, contract: DataContract
) -> tuple[Table, ValidationReport]:
    """Check a dataset version against the contract and write the report.

    Raises:
        DataError: the data breaks the contract; the report is still written, with the reasons.
    """
    table = load_version(lake, version)
    report = validate(table, contract)
    body = json.dumps(validation_record(version.sha256, report), indent=1).encode()
    lake.put("validation", f"{version.sha256}/report.json", body)
    if not report.passed:
        raise DataError(version.key, report.problems)
    return table, report


def model_input(trainer: Trainer, table: Table, contract: DataContract) -> Any:
    """The features as the training module takes them: named columns, or the float matrix.

    See :mod:`mlops.pipelines.model` (``INPUT``).
    """
    if takes_columns(trainer):
        return feature_columns(table, contract)
    return table.select(contract.features)


def train_step(
    trainer: Trainer,
    table: Table,
    contract: DataContract,
    params: dict[str, Any],
    seed: int = SPLIT_SEED,
) -> tuple[Any, Table]:
    """Train on the seeded train split; return the model and the held-out test split."""
    train, _, test = split(table, seed)
    with project_code(trainer, "train"):
        model = trainer.train(
            model_input(trainer, train, contract), train.column(contract.label), params
        )
    return model, test


@contextmanager
def project_code(trainer: Trainer, function: str) -> Iterator[None]:
    """Turn an exception from the project's train module into one clear error naming it."""
    try:
        yield
    except MlopsError:
        raise
    except Exception as exc:  # any failure of user code, reported as such
        module = getattr(trainer, "__name__", "the train module")
        raise ProjectCodeError(f"{module}.{function}", exc) from exc


def score(trainer: Trainer, model: Any, test: Table, contract: DataContract) -> dict[str, Any]:
    """The task's metrics of ``model`` on the held-out split."""
    with project_code(trainer, "predict_proba"):
        scores = np.asarray(trainer.predict_proba(model, model_input(trainer, test, contract)))
    return task_metrics(contract.task, test.column(contract.label), scores)


def evaluate(
    trainer: Trainer,
    model: Any,
    test: Table,
    contract: DataContract,
    metric: str,
    approved: float | None,
    margin: float,
) -> tuple[dict[str, Any], GateDecision]:
    """Score the model and gate it against the approved model's figure on ``metric``.

    Raises:
        UserError: the task does not compute ``metric``.
    """
    check_primary_metric(contract.task, metric)
    metrics = score(trainer, model, test, contract)
    return metrics, gate(metric, float(metrics[metric]), approved, margin)


def evaluation_record(
    dataset_sha256: str, metrics: dict[str, Any], decision: GateDecision
) -> dict[str, Any]:
    """The evaluation record: what the registry's model metrics and the pipeline's gate read."""
    return {
        "dataset_sha256": dataset_sha256,
        "primary_metric": decision.metric,
        "metrics": metrics,
        "gate": decision.to_dict(),
    }


def evaluate_step(
    lake: ObjectStore,
    trainer: Trainer,
    model: Any,
    test: Table,
    contract: DataContract,
    inputs: RunInputs,
    code_version: str,
    approved: float | None = None,
    margin: float = 0.0,
    tracker: Callable[[RunRecord], object] | None = None,
    reference: Table | None = None,
) -> RunRecord:
    """Score and gate the model; store its artifact, evaluation and run record.

    ``reference`` (the training data) is sampled into the artifact for monitoring; the data
    contract goes into it too (:data:`~mlops.pipelines.model.CONTRACT_FILE`), so the model is
    served under the contract it was trained on.

    A run whose every input is identical to an earlier one (same id) keeps that run's record.
    ``tracker`` (e.g. MLflow) also gets the record; it is a side channel, so its failure is
    logged and the run goes on.
    """
    if lake.exists("runs", f"{inputs.run_id}.json"):
        return load_run(lake, inputs.run_id)
    metrics, decision = evaluate(
        trainer, model, test, contract, inputs.primary_metric, approved, margin
    )
    key = f"{inputs.run_id}/model.tar.gz"
    if not lake.exists("models", key):  # a run's artifact is written once, never overwritten
        extra = {CONTRACT_FILE: ModelContract.of(trainer, contract).to_json()}
        if reference is not None:
            extra.update(reference_files(reference, contract.features, contract))
        with project_code(trainer, "save"):
            artifact = pack(trainer, model, extra)
        lake.put_once("models", key, artifact)
    record = new_record(inputs, metrics, code_version, lake.uri("models", key), decision)
    body = {**evaluation_record(inputs.dataset_sha256, metrics, decision), "run_id": record.run_id}
    # Keyed by run: a run that did not finish writing its record is the only one rewritten.
    lake.put("evaluation", f"{record.run_id}.json", json.dumps(body, sort_keys=True).encode())
    save_run(lake, record)
    if tracker is not None:
        try:
            tracker(record)
        except Exception as exc:  # tracking never fails the run
            _log.warning(
                "tracking %s failed, the run is recorded in the lake: %s", record.run_id, exc
            )
    return record


def write_json(path: Path, payload: Any) -> None:
    """Write a JSON report atomically (temp file, then rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
