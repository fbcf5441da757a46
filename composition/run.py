"""Run a project's training lifecycle: in-process on its local stack, or on SageMaker.

ingest -> validate -> train -> evaluate (and gate) -> register, and with ``approve`` the gated
approval. This module builds what the steps take (clients, the lake, the platform's settings,
the run's identity) and nothing else; the steps are :mod:`mlops.pipelines.steps`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.contracts import PlatformOutputs, decode_hyperparameters, encode_hyperparameters
from mlops.core.errors import UserError
from mlops.pipelines.data import SPLIT_SEED, DataContract, DatasetVersion, Table
from mlops.pipelines.executors import LocalExecutor, Step, StepResult
from mlops.pipelines.identity import RunInputs, code_files, content_hash, git_version
from mlops.pipelines.lake import Lake
from mlops.pipelines.model import Trainer, framework_version, load_trainer
from mlops.pipelines.registry import RegistryLock, RunRecord, unlocked


@dataclass
class RunRequest:
    """What a run needs.

    Attributes:
        project: the project directory (its local stack must be up).
        data: the CSV or Parquet file to ingest.
        params: hyperparameters over the stack's ``hyperparameters``.
        approve: approve the candidate if it beats the approved model by the margin.
        margin: the gate's margin; None takes the stack's ``evaluationMargin``.
        backtest_labels: labels of captured traffic; approval then also needs the candidate to
            do no worse than the live model on it.
    """

    project: Path
    data: Path
    params: dict[str, Any] = field(default_factory=dict)
    approve: bool = False
    margin: float | None = None
    backtest_labels: Path | None = None


@dataclass
class Lifecycle:
    """A project's lifecycle on one platform: the clients, the lake, and what steps hand on.

    Attributes:
        project: the project directory.
        platform: the platform's outputs (buckets, registry group, settings).
        sagemaker: a SageMaker client (the registry).
        lake: the platform's lake.
        contract: the project's data contract.
        values: what earlier steps produced (dataset version, table, model, record...).
        lock: serializes registration and approval in the registry (see ``RegistryLock``).
    """

    project: Path
    platform: PlatformOutputs
    sagemaker: Any
    lake: Lake
    contract: DataContract
    values: dict[str, Any] = field(default_factory=dict)
    lock: RegistryLock = unlocked

    @property
    def version(self) -> DatasetVersion:
        """The ingested dataset version."""
        value: DatasetVersion = self.values["version"]
        return value

    @property
    def record(self) -> RunRecord:
        """The run's record, once evaluated."""
        value: RunRecord = self.values["record"]
        return value


def local_lifecycle(project: Path) -> Lifecycle:
    """The lifecycle wired to the project's local stack.

    Raises:
        UserError: local mode is not up, or the project's contract is unreadable.
    """
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client

    state = localmode.require_state(project)
    platform = PlatformOutputs.from_mapping(state.platform)
    return Lifecycle(
        project,
        platform,
        client(state.endpoint, state.region, "sagemaker"),
        Lake(client(state.endpoint, state.region, "s3"), platform.buckets),
        DataContract.load(project / "data" / "contract.yaml"),
        lock=registry_lock(project),
    )


def unapplied_hyperparameters(project: Path, platform: PlatformOutputs) -> str:
    """Why ``Pulumi.local.yaml``'s hyperparameters are not what runs use; empty when they are.

    As in the cloud, where ``pulumi up`` bakes the hyperparameters into the pipeline definition,
    a local run trains with what ``mlops local up`` applied, not with the stack file as edited.

    Raises:
        UserError: the stack file cannot be read.
    """
    from mlops.infra import localmode

    def typed(values: dict[str, Any]) -> dict[str, Any]:
        return decode_hyperparameters(encode_hyperparameters(values))

    wanted = typed(localmode.hyperparameters(project))
    applied = typed(dict(platform.hyperparameters))
    if wanted == applied:
        return ""
    changes = ", ".join(
        f"{key} {_shown(wanted, key)} (applied: {_shown(applied, key)})"
        for key in sorted(set(wanted) | set(applied))
        if wanted.get(key, _UNSET) != applied.get(key, _UNSET)
    )
    return (
        f"Pulumi.local.yaml's hyperparameters differ from the applied local stack's ({changes});"
        " this run uses the applied ones, as the cloud pipeline uses what `pulumi up` applied:"
        " run `mlops local up` to apply the file"
    )


_UNSET = object()


def _shown(values: dict[str, Any], key: str) -> str:
    return repr(values[key]) if key in values else "unset"


def registry_lock(project: Path, timeout: float = 120.0) -> RegistryLock:
    """Local mode's registry lock: a file lock per model package group in ``.mlops/``.

    Two `mlops pipeline run`s of one project (processes or threads) register and approve one
    at a time; a holder that is killed releases it with its process.
    """
    import re

    from mlops.core.process import file_lock

    def lock(group: str) -> AbstractContextManager[object]:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", group)[:100]
        busy = (
            f"another `mlops pipeline run` has been registering or approving a model in {group}"
            f" for over {timeout:.0f} s; try again when it finishes"
        )
        return file_lock(project / ".mlops" / f"registry-{name}.lock", timeout, busy)

    return lock


def local_lake(project: Path) -> Lake:
    """The lake of the project's local stack."""
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client

    state = localmode.require_state(project)
    buckets = PlatformOutputs.from_mapping(state.platform).buckets
    return Lake(client(state.endpoint, state.region, "s3"), buckets)


def run_inputs(
    project: Path,
    package: str,
    version: DatasetVersion,
    contract: DataContract,
    params: dict[str, Any],
    trainer: Trainer,
    primary_metric: str,
) -> RunInputs:
    """Everything that names a run: the project's code by content, not by commit."""
    return RunInputs(
        dataset_sha256=version.sha256,
        contract_sha256=contract.sha256,
        code_sha256=content_hash(project, code_files(project / package)),
        params=params,
        framework=framework_version(trainer),
        primary_metric=primary_metric,
        seed=SPLIT_SEED,
    )


def tracking_from_environment() -> Callable[[RunRecord], object] | None:
    """MLflow tracking when ``MLFLOW_TRACKING_URI`` is set, checked before anything runs.

    Raises:
        UserError: a tracking URI is set but mlflow is not installed.
    """
    import os

    from mlops.pipelines.registry import track

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        return None
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise UserError(
            f"MLFLOW_TRACKING_URI is set ({uri}) but mlflow is not installed: pip install mlflow"
        ) from None
    return lambda record: track(record, uri)


def check_margin(margin: float) -> float:
    """A margin is a finite number in [0, 1].

    Raises:
        UserError: it is not.
    """
    if not 0 <= margin <= 1:  # NaN fails both comparisons
        raise UserError(f"the margin must be a number in [0, 1], got {margin}")
    return margin


def lifecycle_steps(
    life: Lifecycle,
    data: Path,
    params: dict[str, Any],
    approve: bool,
    margin: float,
    backtest_labels: Path | None = None,
) -> list[Step]:
    """ingest, validate, train, evaluate, register (and approve): each a step of the executor.

    With ``backtest_labels``, approval also requires the candidate to score at least as well as
    the live model on labelled, captured production traffic (``mlops monitor backtest``).
    """
    from mlops.pipelines import data as datasets
    from mlops.pipelines import registry
    from mlops.pipelines.evaluate import gate
    from mlops.pipelines.steps import evaluate_step, train_step, validate_step

    platform, values = life.platform, life.values
    tracker = tracking_from_environment()
    # Typed values take the same string round trip SageMaker's hyperparameters take.
    hyper = decode_hyperparameters(encode_hyperparameters({**platform.hyperparameters, **params}))

    def ingest() -> dict[str, Any]:
        values["version"] = datasets.ingest(life.lake, data, platform.package)
        return {"dataset_version": life.version.sha256, "created": life.version.created}

    def validate() -> dict[str, Any]:
        table: Table
        table, report = validate_step(life.lake, life.version, life.contract)
        values["table"] = table
        figures: dict[str, Any] = {"rows": report.rows}
        if report.ignored:
            figures["not_in_contract"] = ",".join(report.ignored)
        return figures

    def train() -> dict[str, Any]:
        values["trainer"] = load_trainer(life.project, platform.package)
        values["model"], values["test"] = train_step(
            values["trainer"], values["table"], life.contract, hyper
        )
        return {
            "train_rows": len(values["table"]) - 2 * len(values["test"]),
            "test_rows": len(values["test"]),
        }

    def evaluate() -> dict[str, Any]:
        inputs = run_inputs(
            life.project,
            platform.package,
            life.version,
            life.contract,
            hyper,
            values["trainer"],
            platform.primary_metric,
        )
        current = registry.approved_run(life.sagemaker, life.lake, platform.model_package_group)
        approved = None
        if current is not None and current.run_id != inputs.run_id:
            approved = current.metrics.get(inputs.primary_metric)
        values["record"] = record = evaluate_step(
            life.lake,
            values["trainer"],
            values["model"],
            values["test"],
            life.contract,
            inputs,
            git_version(life.project),
            approved,
            margin,
            tracker,
            reference=values["table"],
        )
        # Decided afresh on every run, as every pipeline execution decides it (a re-run with
        # identical inputs keeps its record, not the verdict against an older champion).
        metric = record.primary_metric
        values["gate"] = verdict = gate(metric, float(record.metrics[metric]), approved, margin)
        return {
            "run_id": record.run_id,
            **{k: v for k, v in record.metrics.items() if k != "confusion_matrix"},
            "confusion_matrix": record.metrics.get("confusion_matrix"),
            "gate": "passed" if verdict.passed else "failed",
        }

    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("ingest", ingest),
        ("validate", validate),
        ("train", train),
        ("evaluate", evaluate),
        ("register", lambda: register_candidate(life)),
    ]
    if approve:
        steps.append(("approve", lambda: approve_candidate(life, margin, backtest_labels)))
    return steps


def register_candidate(life: Lifecycle) -> dict[str, Any]:
    """The register step, after the gate as in the cloud pipeline's condition step.

    A failed gate registers nothing: the figures say why, and the run's record and evaluation
    stay in the lake.
    """
    from mlops.pipelines import registry

    try:
        life.values["record"] = registry.register(
            life.sagemaker,
            life.lake,
            life.platform.model_package_group,
            life.record,
            life.platform.image_uri,
            lock=life.lock,
            decision=life.values["gate"],
        )
    except registry.NotRegistered as refused:
        return {"registered": False, "reason": str(refused)}
    return {"model_package": life.record.model_package_arn}


def approve_candidate(
    life: Lifecycle, margin: float, backtest_labels: Path | None = None
) -> dict[str, Any]:
    """The approve step: the registered candidate, gated against the champion of the moment.

    Raises:
        NotRegistered: the run's gate failed, so there is nothing to approve.
        BacktestBlocked: with ``backtest_labels``, it did worse than the live model on them.
        GateBlocked: it does not beat the approved model (of now) by the margin.
    """
    from mlops.pipelines import registry

    figures = backtest_gate(life, backtest_labels) if backtest_labels is not None else {}
    if not life.values["gate"].passed:
        raise registry.NotRegistered(life.values["gate"], life.record.run_id, approving=True)
    group = life.platform.model_package_group
    decision = registry.approve(
        life.sagemaker, life.lake, group, life.record, margin, lock=life.lock
    )
    life.values["record"] = record = registry.load_run(life.lake, life.record.run_id)
    return {
        "approved": decision.passed,
        "metric": decision.metric,
        "candidate": decision.candidate,
        "previous": decision.approved,
        "previous_run": record.previous_run,
        **figures,
    }


def backtest_gate(life: Lifecycle, labels: Path) -> dict[str, Any]:
    """Replay captured traffic through the candidate and the live model; block if it is worse.

    Raises:
        BacktestBlocked: on the labelled traffic the candidate scores worse than the live model.
    """
    from mlops.composition.monitor import backtest_candidate
    from mlops.core.errors import BacktestBlocked
    from mlops.pipelines.registry import approved_run

    live = approved_run(life.sagemaker, life.lake, life.platform.model_package_group)
    if live is None or live.run_id == life.record.run_id:
        return {"backtest": "no other live model to compare with"}
    result = backtest_candidate(life.project, life.record.run_id, labels)
    if result.candidate_not_worse is False:
        raise BacktestBlocked(result.metric, result.candidate, result.live, result.labelled)
    return {
        "backtest_rows": result.rows,
        "backtest_labelled": result.labelled,
        "backtest_live": result.live,
        "backtest_candidate": result.candidate,
    }


def run_local(
    request: RunRequest,
    show_progress: bool = True,
    warn: Callable[[str], object] | None = None,
) -> list[StepResult]:
    """Run the steps in-process against the local stack; stop at the first failure.

    ``warn`` hears, before anything runs, when ``Pulumi.local.yaml`` was changed since
    ``mlops local up`` applied it (see :func:`unapplied_hyperparameters`).
    """
    life = local_lifecycle(request.project)
    if warn is not None:
        unapplied = unapplied_hyperparameters(request.project, life.platform)
        if unapplied:
            warn(unapplied)
    margin = check_margin(
        life.platform.evaluation_margin if request.margin is None else request.margin
    )
    steps = lifecycle_steps(
        life, request.data, request.params, request.approve, margin, request.backtest_labels
    )
    return LocalExecutor(show_progress).run(steps)


def stack_outputs(project: Path, stack: str) -> PlatformOutputs:
    """A stack's ``platform`` output: from the Pulumi CLI, else from ``.mlops/platform.json``.

    Raises:
        UserError: neither is available, or the output is not a platform's.
    """
    import json
    import shutil
    import subprocess

    if shutil.which("pulumi"):
        try:
            proc = subprocess.run(
                ["pulumi", "stack", "output", "platform", "--json", "--stack", stack],
                cwd=project,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        except subprocess.TimeoutExpired:
            proc = None
        if proc is not None and proc.returncode == 0:
            return PlatformOutputs.from_mapping(json.loads(proc.stdout))
    saved = project / ".mlops" / "platform.json"
    if saved.exists():
        try:
            return PlatformOutputs.from_mapping(json.loads(saved.read_text()))
        except ValueError as exc:
            raise UserError(f"{saved} is not JSON ({exc}); save it again") from None
    raise UserError(
        f"cannot read the {stack} stack's outputs: install the Pulumi CLI, or save them with"
        f" `pulumi stack output platform --json --stack {stack} > .mlops/platform.json`"
    )


def start_sagemaker(
    project: Path, stack: str, data: Path, sagemaker: Any = None, s3: Any = None
) -> str:
    """Ingest ``data`` into the stack's lake and start its training pipeline on that version.

    The pipeline gets the dataset version's prefix (the same key local runs use) and the
    approved model's figure on the primary metric, so its gate decides as a local run would.
    Returns the execution's ARN.
    """
    from mlops.pipelines.data import ingest, version_prefix
    from mlops.pipelines.executors import SageMakerExecutor
    from mlops.pipelines.registry import approved_run

    platform = stack_outputs(project, stack)
    if sagemaker is None or s3 is None:
        import boto3

        sagemaker = sagemaker or boto3.client("sagemaker", region_name=platform.region)
        s3 = s3 or boto3.client("s3", region_name=platform.region)
    lake = Lake(s3, platform.buckets)
    version = ingest(lake, data, platform.package)
    current = approved_run(sagemaker, lake, platform.model_package_group)
    figure = current.metrics.get(platform.primary_metric) if current is not None else None
    return SageMakerExecutor(sagemaker, platform.pipeline_name).start(
        {
            "InputDataUri": lake.uri("datasets", version_prefix(platform.package, version.sha256)),
            "ApprovedModelMetric": "" if figure is None else repr(float(figure)),
            "TriggeredBy": "cli",
        }
    )
