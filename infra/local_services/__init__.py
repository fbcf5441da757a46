"""Local mode's AWS services, one module each: what to call to create, change and delete.

To support one more resource type, add it to its service's module (its creation calls, and
how each creation is undone and updated); a new service is one more module, listed here.
:data:`RESOURCES`, :data:`OPERATIONS` and the error-code sets are this registry's merge of
every service, read by :mod:`mlops.infra.bootstrap` and :mod:`mlops.infra.reconcile`.
"""

from __future__ import annotations

from mlops.infra.local_services import (
    appautoscaling,
    cloudwatch,
    ecr,
    events,
    glue,
    iam,
    kms,
    logs,
    s3,
    sagemaker,
    scheduler,
    sns,
)
from mlops.infra.local_services.base import Builder, LocalService, Operation

SERVICES: tuple[LocalService, ...] = (
    s3.SERVICE,
    kms.SERVICE,
    glue.SERVICE,
    ecr.SERVICE,
    logs.SERVICE,
    iam.SERVICE,
    sagemaker.SERVICE,
    sns.SERVICE,
    events.SERVICE,
    scheduler.SERVICE,
    cloudwatch.SERVICE,
    appautoscaling.SERVICE,
)


RESOURCES: dict[str, Builder] = {t: b for s in SERVICES for t, b in s.resources.items()}
"""Every Pulumi type local mode's bootstrap creates, with the calls that create one."""
OPERATIONS: dict[str, Operation] = {op: o for s in SERVICES for op, o in s.operations.items()}
"""Every creation call, with how it is undone, updated and answered."""
ALREADY_THERE: frozenset[str] = frozenset().union(*(s.already_there for s in SERVICES))
"""Creation calls that answer these on a re-run: applying twice changes nothing."""
GONE: frozenset[str] = frozenset().union(*(s.gone for s in SERVICES))
"""The resource is already gone: nothing to delete."""
HOLDS_DATA: frozenset[str] = frozenset().union(*(s.holds_data for s in SERVICES))
"""AWS refuses these deletes because the resource holds data: it stays, and is named."""


def already_there(code: str, message: str) -> bool:
    """Whether a creation's error (code and message) means the resource is already there."""
    return code in ALREADY_THERE or any(
        s.duplicate(code, message) for s in SERVICES if s.duplicate is not None
    )
