"""Model registration, experiment records and promotion.

Each run is an experiment record in the lake (``runs/<run id>.json``): what went into it (dataset
version, data contract, code content hash and git version, params, framework), its metrics, the
gate's decision and the artifact URI. Registered candidates are SageMaker model
packages (PendingManualApproval); the record is the source of truth for their metrics.

The gate comes before registration, as in the SageMaker pipeline (its condition step ends in a
Fail step and registers nothing): a candidate whose gate failed keeps its record and evaluation in
the lake and gets no model package.

Registration and approval are serialized per model package group through the
:data:`RegistryLock` port the caller provides (local mode: a file lock in the project). On top of
it, approval is conditional on the registry itself: the approved packages are read again right
before the candidate is approved, and if they changed the candidate is gated afresh against the
new champion, so two runs never both take over from the same champion.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlops.core.errors import GateBlocked, MlopsError, UserError
from mlops.pipelines.aws import call
from mlops.pipelines.evaluate import GateDecision, gate
from mlops.pipelines.identity import RunInputs
from mlops.pipelines.ports import ObjectStore, RegistryLock


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
    code_sha256: str = ""
    contract_sha256: str = ""
    framework: str = ""
    gate: dict[str, Any] = field(default_factory=dict)
    previous_run: str = ""  # the champion this run took over from when it was approved

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunRecord:
        """A record as stored; keys of other mlops-stack versions are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def replace(self, **changes: Any) -> RunRecord:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


def save_run(lake: ObjectStore, record: RunRecord) -> None:
    """Write (or update) a run's record."""
    lake.put(
        "runs",
        f"{record.run_id}.json",
        json.dumps(asdict(record), sort_keys=True, indent=1).encode(),
    )


def load_run(lake: ObjectStore, run: str) -> RunRecord:
    """Read a run's record."""
    return RunRecord.from_dict(lake.get_json("runs", f"{run}.json"))


def find_run(lake: ObjectStore, ref: str) -> RunRecord:
    """The run named ``ref``: its id, or a unique prefix of it (with or without ``run-``).

    Raises:
        UserError: no run matches (the message lists the newest known ones), or several do.
    """
    ids = sorted(key.removesuffix(".json") for key in lake.keys("runs") if key.endswith(".json"))
    if ref in ids:
        return load_run(lake, ref)
    bare = ref.removeprefix("run-")
    matches = [i for i in ids if i.removeprefix("run-").startswith(bare)] if bare else []
    if len(matches) == 1:
        return load_run(lake, matches[0])
    if matches:
        raise UserError(
            f"'{ref}' matches {len(matches)} runs ({', '.join(matches[:5])}); give more of the id"
        )
    known = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    raise UserError(f"no run '{ref}'; known runs: {known or 'none yet'} (see `mlops runs list`)")


def list_runs(lake: ObjectStore) -> list[RunRecord]:
    """Every run, oldest first."""
    runs = [
        load_run(lake, key.removesuffix(".json"))
        for key in lake.keys("runs")
        if key.endswith(".json")
    ]
    return sorted(runs, key=lambda r: r.created_at)


def new_record(
    inputs: RunInputs,
    metrics: dict[str, Any],
    code_version: str,
    artifact_uri: str = "",
    decision: GateDecision | None = None,
) -> RunRecord:
    """A record for a run that just trained."""
    return RunRecord(
        run_id=inputs.run_id,
        dataset_sha256=inputs.dataset_sha256,
        params=inputs.params,
        metrics=metrics,
        primary_metric=inputs.primary_metric,
        code_version=code_version,
        artifact_uri=artifact_uri,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        code_sha256=inputs.code_sha256,
        contract_sha256=inputs.contract_sha256,
        framework=inputs.framework,
        gate=decision.to_dict() if decision else {},
    )


def unlocked(group: str) -> AbstractContextManager[object]:
    """No lock: the registry's own conditional checks only."""
    return nullcontext()


APPROVAL_ATTEMPTS = 5
"""How often approval re-gates against a champion that changed under it before giving up."""


class NotRegistered(GateBlocked):
    """The gate failed before registration: the run's model was not registered.

    Args:
        decision: the gate's verdict.
        run_id: the run, whose record and evaluation stay in the lake.
        approving: it was asked to approve as well (``--approve``).
    """

    def __init__(self, decision: GateDecision, run_id: str, approving: bool = False) -> None:
        self.metric, self.candidate, self.approved, self.margin = (
            decision.metric,
            decision.candidate,
            decision.approved,
            decision.margin,
        )
        self.run_id = run_id
        if decision.approved is None:
            reason = f"candidate {decision.metric}={decision.candidate} cannot be compared"
        else:
            reason = (
                f"candidate {decision.metric}={decision.candidate:.4f} does not beat the approved"
                f" model ({decision.approved:.4f}) by {decision.margin}"
            )
        kept = f"{run_id} and its evaluation stay in the lake: `mlops runs compare`"
        message = f"{reason}; nothing registered ({kept})"
        if approving:
            message = f"not approved: {reason}, so nothing was registered to approve"
        MlopsError.__init__(self, message)


def refuse_failed_gate(record: RunRecord, decision: GateDecision | None) -> None:
    """Refuse to register a run whose gate failed: every registry adapter's first check.

    ``decision`` is this run's verdict; without it, the record's ``gate``.

    Raises:
        NotRegistered: the gate failed.
    """
    verdict = decision.to_dict() if decision is not None else record.gate
    if verdict and not verdict.get("passed"):
        failed = decision or GateDecision(
            str(verdict.get("metric", record.primary_metric)),
            float(verdict.get("candidate", float("nan"))),
            verdict.get("approved"),
            float(verdict.get("margin", 0.0)),
            False,
        )
        raise NotRegistered(failed, record.run_id)


def register(
    sm: Any,
    lake: ObjectStore,
    group: str,
    record: RunRecord,
    image_uri: str,
    lock: RegistryLock = unlocked,
    decision: GateDecision | None = None,
) -> RunRecord:
    """Register the run's model as a PendingManualApproval package; return the updated record.

    The gate comes first: ``decision`` (this run's verdict; without it, the record's ``gate``)
    must have passed. Under ``lock``: two runs of the same inputs at once register one package
    between them.

    Raises:
        NotRegistered: the gate failed; nothing was registered.
    """
    refuse_failed_gate(record, decision)
    if record.model_package_arn:
        return record  # re-running is idempotent: a run is registered once
    with lock(group):
        return _register(sm, lake, group, record, image_uri)


def _register(
    sm: Any, lake: ObjectStore, group: str, record: RunRecord, image_uri: str
) -> RunRecord:
    # A register interrupted after CreateModelPackage but before its record was saved left a
    # package behind: find it by its description instead of registering the run twice.
    existing = _package_of(sm, group, record.run_id)
    if existing:
        updated = record.replace(model_package_arn=existing, status="registered")
        save_run(lake, updated)
        return updated
    created = call(
        "sagemaker.CreateModelPackage",
        sm.create_model_package,
        ModelPackageGroupName=group,
        ModelPackageDescription=f"{record.run_id}{DESCRIPTION_SEPARATOR}{record.dataset_sha256[:12]}",
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
    updated = record.replace(model_package_arn=created["ModelPackageArn"], status="registered")
    save_run(lake, updated)
    return updated


DESCRIPTION_SEPARATOR = " on dataset "


def _packages(sm: Any, group: str, **filters: Any) -> Iterator[dict[str, Any]]:
    """The group's package summaries matching ``filters``, every page of them."""
    token: dict[str, Any] = {}
    while True:
        page = call(
            "sagemaker.ListModelPackages",
            sm.list_model_packages,
            ModelPackageGroupName=group,
            MaxResults=100,
            **filters,
            **token,
        )
        yield from page.get("ModelPackageSummaryList", [])
        if not page.get("NextToken"):
            return
        token = {"NextToken": page["NextToken"]}


def _package_of(sm: Any, group: str, run_id: str) -> str:
    """The ARN of the package this run registered already, or an empty string."""
    prefix = f"{run_id}{DESCRIPTION_SEPARATOR}"
    return next(
        (
            str(package["ModelPackageArn"])
            for package in _packages(sm, group)
            if str(package.get("ModelPackageDescription", "")).startswith(prefix)
        ),
        "",
    )


def approved_packages(sm: Any, group: str) -> list[str]:
    """The group's approved packages' ARNs, newest version first (the registry's own data)."""
    arns = [
        str(package["ModelPackageArn"])
        for package in _packages(
            sm, group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
        )
    ]
    # Newest package first: records made in the same second cannot be told apart by their time.
    return sorted(arns, key=_version, reverse=True)


def approval_status(sm: Any, arn: str) -> str:
    """A model package's ``ModelApprovalStatus`` as the registry has it (e.g. ``Approved``)."""
    described = call(
        "sagemaker.DescribeModelPackage", sm.describe_model_package, ModelPackageName=arn
    )
    return str(described.get("ModelApprovalStatus", ""))


def package_version(arn: str) -> str:
    """A model package's version as shown to people: the number that ends its ARN."""
    return arn.rsplit("/", 1)[-1]


def approved_run(sm: Any, lake: ObjectStore, group: str) -> RunRecord | None:
    """The newest approved package's run record, if any."""
    return _champion(lake, approved_packages(sm, group))


def approved_metric(sm: Any, lake: ObjectStore, group: str, metric: str) -> float | None:
    """The newest approved package's recorded figure on ``metric``; None when none is approved.

    Read from the registry itself (the package's model-quality statistics, the evaluation
    record it was registered with), so packages the SageMaker pipeline registered, which have
    no run record, count too. A package whose record lacks the metric gates as none approved,
    as :func:`gate_against` does.
    """
    approved = approved_packages(sm, group)
    if not approved:
        return None
    package = call(
        "sagemaker.DescribeModelPackage", sm.describe_model_package, ModelPackageName=approved[0]
    )
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    if not uri.get("S3Uri"):
        raise MlopsError(f"approved package {approved[0]} records no model-quality statistics")
    figure = json.loads(lake.read_uri(uri["S3Uri"])).get("metrics", {}).get(metric)
    return None if figure is None else float(figure)


def _champion(lake: ObjectStore, approved: list[str]) -> RunRecord | None:
    """The run record of the newest of the ``approved`` packages that has one."""
    runs = {r.model_package_arn: r for r in list_runs(lake) if r.model_package_arn}
    return next((runs[arn] for arn in approved if arn in runs), None)


def _version(arn: str) -> int:
    """A model package's version, the number that ends its ARN (``.../group/3``)."""
    tail = arn.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def gate_against(candidate: RunRecord, approved: RunRecord | None, margin: float) -> GateDecision:
    """The gate for ``candidate`` against the approved run's figure on the same metric."""
    metric = candidate.primary_metric
    reference = None if approved is None else approved.metrics.get(metric)
    return gate(
        metric,
        float(candidate.metrics[metric]),
        None if reference is None else float(reference),
        margin,
    )


class OlderThanApproved(UserError):
    """The candidate's package is an older version than the approved model's.

    The newest approved version is the one that serves (:func:`approved_run`), so approving
    an older one would change nothing that serves; it is refused instead.

    Args:
        candidate: the run asked to be approved.
        current: the approved model's run.
    """

    def __init__(self, candidate: RunRecord, current: RunRecord) -> None:
        self.run_id, self.current = candidate.run_id, current.run_id
        super().__init__(
            f"version {package_version(candidate.model_package_arn)} ({candidate.run_id}) is"
            f" older than the approved version {package_version(current.model_package_arn)}"
            f" ({current.run_id}), and the newest approved version is the one that serves:"
            " nothing approved (to serve it anyway, name it: `mlops deploy --version"
            f" {package_version(candidate.model_package_arn)}`)"
        )


def approve(
    sm: Any,
    lake: ObjectStore,
    group: str,
    candidate: RunRecord,
    margin: float,
    lock: RegistryLock = unlocked,
) -> GateDecision:
    """Approve the candidate's package if it passes the gate against the current champion.

    Under ``lock``, and conditional on the registry: right before approving, the approved
    packages are read again; if another run was approved meanwhile, the candidate is gated
    against that one instead. The approved record names the champion it replaced
    (``previous_run``).

    Raises:
        GateBlocked: it did not beat the approved model by the margin; nothing changed.
        OlderThanApproved: its package is older than the approved one's, so approving it
            would not make it the model that serves (the newest approved version does).
        UserError: the champion kept changing while this approval tried to take over.
    """
    with lock(group):
        for _ in range(APPROVAL_ATTEMPTS):
            seen = approved_packages(sm, group)
            current = _champion(lake, seen)
            if current is not None and current.run_id == candidate.run_id:
                # Identical inputs ran again: this is the approved model, not a rival.
                return gate_against(candidate, None, margin)
            decision = gate_against(candidate, current, margin)
            if not decision.passed:
                raise GateBlocked(decision.metric, decision.candidate, decision.approved, margin)
            if current is not None and _version(candidate.model_package_arn) < _version(
                current.model_package_arn
            ):
                raise OlderThanApproved(candidate, current)
            if approved_packages(sm, group) != seen:
                continue  # another run was approved meanwhile: gate against it instead
            call(
                "sagemaker.UpdateModelPackage",
                sm.update_model_package,
                ModelPackageArn=candidate.model_package_arn,
                ModelApprovalStatus="Approved",
            )
            previous = current.run_id if current is not None else ""
            save_run(lake, candidate.replace(status="approved", previous_run=previous))
            return decision
    raise UserError(
        f"the approved model of {group} changed {APPROVAL_ATTEMPTS} times while approving"
        f" {candidate.run_id}; run the approval again"
    )
