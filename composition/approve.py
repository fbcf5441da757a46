"""A model already registered, approved by a person (``mlops approve``) or shown (``runs show``).

Approval is the human in the loop, as in SageMaker's console, but gated as a run is: the package
must beat the approved model on the primary metric by the margin. It takes the one approval path
(:func:`mlops.composition.run.approve_registered`), under the registry lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.composition.lifecycle import Lifecycle, lifecycle_for
from mlops.composition.run import approve_registered, check_margin
from mlops.composition.serve import choose_model
from mlops.core.errors import UserError
from mlops.pipelines.evaluate import GateDecision
from mlops.pipelines.registry import RunRecord, package_version

APPROVED = "Approved"


@dataclass(frozen=True)
class Approval:
    """What ``mlops approve`` did.

    Attributes:
        record: the run's record after approval.
        version: its model package version.
        decision: the gate's verdict; None when it was approved already (nothing changed).
        champion: the newest approved model's run when it was approved already (may be itself).
    """

    record: RunRecord
    version: str
    decision: GateDecision | None
    champion: RunRecord | None = None
    rolled: str = ""  # a k8s stack: the Deployment restarted to serve the new champion


def registered(life: Lifecycle, ref: str) -> RunRecord:
    """The registered run that ``ref`` names: a package version number, a run id or prefix.

    Raises:
        UserError: no such version or run, or the run was never registered (its gate failed).
    """
    record = choose_model(life, ref)
    if not record.model_package_arn:
        raise UserError(
            f"{record.run_id} has no model package: its gate failed, so it was not registered"
            " (see `mlops runs show`); train it again to register it"
        )
    return record


def approve(
    project: Path,
    ref: str,
    margin: float | None = None,
    stack: str | None = None,
    say: Callable[[str], None] = print,
) -> Approval:
    """Approve the registered model ``ref`` names if it beats the approved one by the margin.

    ``margin`` None takes the stack's ``evaluationMargin``. A package the registry has approved
    already is left as it is. ``stack`` None is local mode's; a k8s stack's registry is its
    MLflow server, where approval moves ``@champion`` and the model server is then restarted
    (see :mod:`mlops.composition.k8s_lifecycle`).

    Raises:
        UserError: local mode is down, the margin is out of range, or ``ref`` names no
            registered model.
        GateBlocked: it does not beat the approved model by the margin; nothing changed.
    """
    facts = None
    if stack is not None:
        from mlops.composition.k8s_lifecycle import k8s_lifecycle, k8s_stack

        facts = k8s_stack(project, stack)
    if facts is not None and stack is not None:
        life = k8s_lifecycle(project, stack, facts)
    else:
        life = lifecycle_for(project, stack, act=False)
    margin = check_margin(life.platform.evaluation_margin if margin is None else margin)
    record = registered(life, ref)
    version = package_version(record.model_package_arn)
    if life.registry.approval_status(record.model_package_arn) == APPROVED:
        return Approval(record, version, None, life.registry.approved_run())
    decision, record = approve_registered(life, record, margin)
    rolled = ""
    if facts is not None:
        from mlops.composition.k8s_lifecycle import roll_out

        rolled = roll_out(facts, say)
    return Approval(record, version, decision, rolled=rolled)


def run_details(project: Path, ref: str) -> dict[str, Any]:
    """Everything a run's record says, with its model package as the registry has it now.

    Raises:
        UserError: local mode is down, or no run (or several) match ``ref``.
    """
    from dataclasses import asdict

    from mlops.pipelines.registry import find_run

    life = lifecycle_for(project, act=False)
    record = find_run(life.lake, ref)
    details = asdict(record)
    arn = details.pop("model_package_arn")
    details["model_package"] = (
        {
            "arn": arn,
            "version": package_version(arn),
            "approval_status": life.registry.approval_status(arn),
        }
        if arn
        else None
    )
    return details
