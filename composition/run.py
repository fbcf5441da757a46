"""Run a project's training lifecycle: in-process on its local stack, or on SageMaker.

ingest -> validate -> train -> evaluate (and gate) -> register, and with ``approve`` the gated
approval. The steps are the named methods of :class:`TrainingRun`, which hands what they make
on in a typed :class:`RunState`; the lifecycle they run on comes from
:func:`mlops.composition.lifecycle.lifecycle_for`; the step bodies are
:mod:`mlops.pipelines.steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mlops.composition.lifecycle import Lifecycle, lifecycle_for, stack_outputs
from mlops.core.contracts import PlatformOutputs, decode_hyperparameters, encode_hyperparameters
from mlops.core.errors import MlopsError, UserError
from mlops.pipelines.data import SPLIT_SEED, DataContract, DatasetVersion, Table, ingest
from mlops.pipelines.evaluate import GateDecision, gate
from mlops.pipelines.executors import LocalExecutor, Step, StepResult
from mlops.pipelines.identity import RunInputs, code_files, content_hash, git_version
from mlops.pipelines.lake import Lake
from mlops.pipelines.model import Trainer, framework_version, load_trainer
from mlops.pipelines.registry import NotRegistered, RunRecord, load_run
from mlops.pipelines.steps import evaluate_step, train_step, validate_step

T = TypeVar("T")


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
    # The effective hyperparameters: the train module's DEFAULTS under the stack's and the
    # run's, so a changed default shows in `runs compare`, not only in the code hash.
    defaults = getattr(trainer, "DEFAULTS", None)
    effective = {**defaults, **params} if isinstance(defaults, Mapping) else dict(params)
    return RunInputs(
        dataset_sha256=version.sha256,
        contract_sha256=contract.sha256,
        code_sha256=content_hash(project, code_files(project / package)),
        params=effective,
        framework=framework_version(trainer),
        primary_metric=primary_metric,
        seed=SPLIT_SEED,
    )


def tracking_for(life: Lifecycle) -> Callable[[RunRecord], object] | None:
    """MLflow tracking of the runs when a tracking server is configured (checked up front).

    ``MLFLOW_TRACKING_URI``, else the server ``mlops local up --mlflow`` started for the project.
    The tracker talks to MLflow's REST API (no mlflow package needed); its failures are logged
    by the evaluate step and never fail the run.

    Raises:
        UserError: ``MLFLOW_TRACKING_URI`` is not an http(s) URL.
    """
    import os

    from mlops.infra.local_mlflow import tracking_uri
    from mlops.pipelines.adapters.mlflow import MlflowApi, MlflowTracker

    api = MlflowApi.from_environ(os.environ)
    if api is None:
        url = tracking_uri(life.project)
        if not url:
            return None
        api = MlflowApi(url)
    return MlflowTracker(api, life.platform.project, life.lake)


def check_margin(margin: float) -> float:
    """A margin is a finite number in [0, 1].

    Raises:
        UserError: it is not.
    """
    if not 0 <= margin <= 1:  # NaN fails both comparisons
        raise UserError(f"the margin must be a number in [0, 1], got {margin}")
    return margin


@dataclass
class RunState:
    """What a run's steps hand on, each set by the step named beside it.

    Attributes:
        version: the ingested dataset version (ingest).
        table: the validated table (validate).
        trainer: the project's training module (train).
        model: the trained model, whatever the project's trainer makes (train).
        test: the held-out rows (train).
        record: the run's record (evaluate; updated by register and approve).
        gate: this run's gate verdict against the approved model (evaluate).
    """

    version: DatasetVersion | None = None
    table: Table | None = None
    trainer: Trainer | None = None
    model: Any = None
    test: Table | None = None
    record: RunRecord | None = None
    gate: GateDecision | None = None


def _ready(value: T | None, what: str, step: str) -> T:
    """A value an earlier step set; a clear error if the steps ran out of order."""
    if value is None:
        raise MlopsError(f"the run has no {what} yet: `{step}` runs first")
    return value


@dataclass
class TrainingRun:
    """One run of the lifecycle: ingest, validate, train, evaluate, register (and approve).

    Each step is a method that returns the figures the executor reports; what it makes goes to
    :attr:`state` for the next one.

    Attributes:
        life: the lifecycle on its platform.
        data: the CSV or Parquet file to ingest.
        hyper: the hyperparameters, after SageMaker's string round trip.
        margin: the gate's margin.
        backtest_labels: labels of captured traffic; approval then also needs the candidate to
            do no worse than the live model on it (``mlops monitor backtest``).
        tracker: MLflow tracking, when configured.
        state: what the steps made so far.
    """

    life: Lifecycle
    data: Path
    hyper: dict[str, Any]
    margin: float
    backtest_labels: Path | None = None
    tracker: Callable[[RunRecord], object] | None = None
    state: RunState = field(default_factory=RunState)

    @classmethod
    def of(
        cls,
        life: Lifecycle,
        data: Path,
        params: dict[str, Any],
        margin: float,
        backtest_labels: Path | None = None,
    ) -> TrainingRun:
        """A run of ``life`` on ``data`` with ``params`` over the stack's hyperparameters."""
        # Typed values take the same string round trip SageMaker's hyperparameters take.
        merged = {**life.platform.hyperparameters, **params}
        hyper = decode_hyperparameters(encode_hyperparameters(merged))
        return cls(life, data, hyper, margin, backtest_labels, tracking_for(life))

    @property
    def version(self) -> DatasetVersion:
        """The ingested dataset version."""
        return _ready(self.state.version, "dataset version", "ingest")

    @property
    def table(self) -> Table:
        """The validated table."""
        return _ready(self.state.table, "validated table", "validate")

    @property
    def trainer(self) -> Trainer:
        """The project's training module."""
        return _ready(self.state.trainer, "trainer", "train")

    @property
    def test(self) -> Table:
        """The held-out rows."""
        return _ready(self.state.test, "test rows", "train")

    @property
    def record(self) -> RunRecord:
        """The run's record."""
        return _ready(self.state.record, "record", "evaluate")

    @property
    def gate(self) -> GateDecision:
        """This run's gate verdict."""
        return _ready(self.state.gate, "gate verdict", "evaluate")

    def steps(self, approve: bool) -> list[Step]:
        """The named steps, in order (with ``approve``, the approval last)."""
        steps: list[Step] = [
            ("ingest", self.ingest),
            ("validate", self.validate),
            ("train", self.train),
            ("evaluate", self.evaluate),
            ("register", self.register),
        ]
        return [*steps, ("approve", self.approve)] if approve else steps

    def ingest(self) -> dict[str, Any]:
        """Store the data as a content-addressed dataset version."""
        life = self.life
        self.state.version = version = ingest(life.lake, self.data, life.platform.package)
        return {"dataset_version": version.sha256, "created": version.created}

    def validate(self) -> dict[str, Any]:
        """Check the version against the data contract."""
        self.state.table, report = validate_step(self.life.lake, self.version, self.life.contract)
        figures: dict[str, Any] = {"rows": report.rows}
        if report.ignored:
            figures["not_in_contract"] = ",".join(report.ignored)
        return figures

    def train(self) -> dict[str, Any]:
        """Train the project's model on the training split."""
        life = self.life
        self.state.trainer = trainer = load_trainer(life.project, life.platform.package)
        self.state.model, self.state.test = train_step(
            trainer, self.table, life.contract, self.hyper
        )
        return {
            "train_rows": len(self.table) - 2 * len(self.test),
            "test_rows": len(self.test),
        }

    def evaluate(self) -> dict[str, Any]:
        """Evaluate on the test split and gate against the approved model."""
        life, platform = self.life, self.life.platform
        inputs = run_inputs(
            life.project,
            platform.package,
            self.version,
            life.contract,
            self.hyper,
            self.trainer,
            platform.primary_metric,
        )
        current = life.registry.approved_run()
        approved = None
        if current is not None and current.run_id != inputs.run_id:
            approved = current.metrics.get(inputs.primary_metric)
        self.state.record = record = evaluate_step(
            life.lake,
            self.trainer,
            self.state.model,
            self.test,
            life.contract,
            inputs,
            git_version(life.project),
            approved,
            self.margin,
            self.tracker,
            reference=self.table,
        )
        # Decided afresh on every run, as every pipeline execution decides it (a re-run with
        # identical inputs keeps its record, not the verdict against an older champion).
        metric = record.primary_metric
        self.state.gate = verdict = gate(
            metric, float(record.metrics[metric]), approved, self.margin
        )
        return {
            "run_id": record.run_id,
            **{k: v for k, v in record.metrics.items() if k != "confusion_matrix"},
            "confusion_matrix": record.metrics.get("confusion_matrix"),
            "gate": "passed" if verdict.passed else "failed",
        }

    def register(self) -> dict[str, Any]:
        """Register the candidate, after the gate as in the cloud pipeline's condition step.

        A failed gate registers nothing: the figures say why, and the run's record and
        evaluation stay in the lake.
        """
        life = self.life
        try:
            self.state.record = life.registry.register(
                self.record, life.platform.image_uri, life.lock, self.gate
            )
        except NotRegistered as refused:
            return {"registered": False, "reason": str(refused)}
        return {"model_package": self.record.model_package_arn}

    def approve(self) -> dict[str, Any]:
        """Approve the registered candidate, gated against the champion of the moment.

        Raises:
            NotRegistered: the run's gate failed, so there is nothing to approve.
            BacktestBlocked: with ``backtest_labels``, it did worse than the live model on them.
            GateBlocked: it does not beat the approved model (of now) by the margin.
        """
        life = self.life
        labels = self.backtest_labels
        figures = backtest_gate(life, self.record, labels) if labels is not None else {}
        if not self.gate.passed:
            raise NotRegistered(self.gate, self.record.run_id, approving=True)
        decision, record = approve_registered(life, self.record, self.margin)
        self.state.record = record
        return {
            "approved": decision.passed,
            "metric": decision.metric,
            "candidate": decision.candidate,
            "previous": decision.approved,
            "previous_run": record.previous_run,
            **figures,
        }


def approve_registered(
    life: Lifecycle, record: RunRecord, margin: float
) -> tuple[GateDecision, RunRecord]:
    """Approve a registered run's package, gated against the champion of the moment.

    The one approval path: ``mlops pipeline run --approve`` and ``mlops approve`` both take it.
    Under the lifecycle's registry lock, conditional on the registry (see
    :func:`mlops.pipelines.registry.approve`). Returns the verdict and the run's record as saved.

    Raises:
        GateBlocked: it does not beat the approved model by ``margin``; nothing changed.
    """
    decision = life.registry.approve(record, margin, life.lock)
    return decision, load_run(life.lake, record.run_id)


def backtest_gate(life: Lifecycle, candidate: RunRecord, labels: Path) -> dict[str, Any]:
    """Replay captured traffic through the candidate and the live model; block if it is worse.

    Raises:
        BacktestBlocked: on the labelled traffic the candidate scores worse than the live model.
    """
    from mlops.composition.monitor import backtest_candidate
    from mlops.core.errors import BacktestBlocked

    live = life.registry.approved_run()
    if live is None or live.run_id == candidate.run_id:
        return {"backtest": "no other live model to compare with"}
    result = backtest_candidate(life.project, candidate.run_id, labels)
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
    life = lifecycle_for(request.project)
    if warn is not None:
        unapplied = unapplied_hyperparameters(request.project, life.platform)
        if unapplied:
            warn(unapplied)
    margin = check_margin(
        life.platform.evaluation_margin if request.margin is None else request.margin
    )
    run = TrainingRun.of(life, request.data, request.params, margin, request.backtest_labels)
    steps = run.steps(request.approve)
    return LocalExecutor(show_progress).run(steps)


def start_sagemaker(
    project: Path, stack: str, data: Path, sagemaker: Any = None, s3: Any = None
) -> str:
    """Ingest ``data`` into the stack's lake and start its training pipeline on that version.

    The pipeline gets the dataset version's prefix (the same key local runs use) and the
    approved model's figure on the primary metric, so its gate decides as a local run would.
    Returns the execution's ARN.
    """
    from mlops.core.contracts import APPROVED_FROM_REGISTRY
    from mlops.pipelines.data import version_prefix
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
    # None known here: the evaluate step reads the champion from the registry when it runs.
    approved = APPROVED_FROM_REGISTRY if figure is None else repr(float(figure))
    return SageMakerExecutor(sagemaker, platform.pipeline_name).start(
        {
            "InputDataUri": lake.uri("datasets", version_prefix(platform.package, version.sha256)),
            "ApprovedModelMetric": approved,
            "TriggeredBy": "cli",
        }
    )
