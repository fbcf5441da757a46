"""What the local bootstrap records of each resource, and how it changes or removes one.

Every applied resource is recorded with its type, a digest of its inputs, the first API call
that created it (its identity: bucket name, role name, alarm name...) and the ids AWS assigned
(a KMS key id, a topic or subscription ARN). On the next apply, a resource whose digest is
unchanged is left alone; a changed one is updated in place where the API allows it, replaced
where AWS itself treats the resource as immutable (SageMaker models, endpoint configs, job
definitions); a resource gone from the program is deleted, newest first. Deleting never takes
data with it: a bucket with objects, a repository with images or a model group with registered
versions is left in place and named. What each creation call's update, replacement, deletion
and assigned ids are is declared with its AWS service, in :mod:`mlops.infra.local_services`.

An API that takes an idempotency token (``ClientRequestToken``, ``ClientToken``: AWS wants 32 to
128 characters) gets one derived from the call and the resource's record (:func:`with_tokens`):
retrying the same removal sends the same token, and a resource created again gets another.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from functools import cache
from typing import Any

from mlops.infra.api_shapes import input_shape
from mlops.infra.local_services import OPERATIONS
from mlops.infra.local_services.base import ApiCall, Record
from mlops.infra.mock_runtime import MockedResource


def digest(resource: MockedResource) -> str:
    """A digest of a resource's type and inputs: it changes when what it would create does."""
    canonical = json.dumps([resource.type, resource.inputs], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def make_record(resource: MockedResource, calls: list[ApiCall], ids: dict[str, str]) -> Record:
    """What is kept of an applied resource (JSON-ready).

    ``instance`` tells this creation from a later one with the very same inputs, so the tokens
    of their removals differ (AWS would take the second removal for a retry of the first).
    """
    first = calls[0] if calls else None
    return {
        "type": resource.type,
        "digest": digest(resource),
        "call": [first.service, first.operation, first.params] if first else None,
        "ids": ids,
        "instance": secrets.token_hex(8),
    }


def client_token(*parts: Any) -> str:
    """An idempotency token for a request about ``parts``: their sha256, 64 hex characters.

    AWS takes 32 to 128 characters for every such token (botocore's shapes say so for each
    operation; tests/infra/local/test_reconcile_tokens.py holds the token to them).
    """
    canonical = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@cache
def token_members(service: str, operation: str) -> tuple[str, ...]:
    """The request members of ``service.operation`` that are idempotency tokens."""
    members = input_shape(service, operation).members
    return tuple(name for name, shape in members.items() if shape.metadata.get("idempotencyToken"))


def with_tokens(call: ApiCall, record: Record) -> ApiCall:
    """``call`` with every idempotency token its API takes and it lacks, from the record."""
    missing = [m for m in token_members(call.service, call.operation) if m not in call.params]
    if not missing:
        return call
    seed = (record.get("call"), record.get("digest"), record.get("instance"))
    token = client_token(call.service, call.operation, call.params, seed)
    return ApiCall(call.service, call.operation, {**call.params, **dict.fromkeys(missing, token)})


def records_from(done: dict[str, Record] | list[str] | None) -> dict[str, Record]:
    """Records as kept, or an older state's list of names (trusted as applied, unchanged)."""
    if done is None:
        return {}
    if isinstance(done, list):
        return {name: {} for name in done}
    return dict(done)


def _first(record: Record) -> tuple[str, str, dict[str, Any]] | None:
    call = record.get("call")
    return (call[0], call[1], call[2]) if call else None


def update_calls(record: Record, calls: list[ApiCall]) -> tuple[list[ApiCall], list[ApiCall]]:
    """For a changed resource: the calls that remove the old one first, then those to send.

    Put-style calls are upserts and are simply sent again (a creation that answers "already
    there" is skipped by the sender); a few creations have update operations of their own.
    """
    first = _first(record)
    if first is None or not calls:
        return [], calls
    _, operation, old = first
    new = calls[0].params
    known = OPERATIONS.get(operation)
    if known is not None and known.replaced:
        return delete_calls(record), calls
    if known is None or known.update is None:
        return [], calls
    updates = [with_tokens(c, record) for c in known.update(old, new, record.get("ids", {}))]
    return [], updates + calls[1:]


def delete_calls(record: Record) -> list[ApiCall]:
    """The calls that delete a recorded resource (none for a component or an old record)."""
    first = _first(record)
    if first is None:
        return []
    _, operation, params = first
    known = OPERATIONS.get(operation)
    build = known.delete if known is not None else None
    calls = build(params, record.get("ids", {})) if build else []
    return [with_tokens(call, record) for call in calls]


def assigned_ids(operation: str, response: dict[str, Any]) -> dict[str, str]:
    """The ids AWS assigned in a creation's answer that later updates and deletes need."""
    known = OPERATIONS.get(operation)
    return known.ids(response) if known is not None and known.ids is not None else {}
