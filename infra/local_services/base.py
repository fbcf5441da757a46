"""What a service module of local mode declares: its resources' calls, and how to undo them.

Each AWS service the platform uses has one module here (as moto lays out its services): the
Pulumi types it creates and the API calls that create each one, and for every creation call how
it is updated in place or replaced, how it is deleted, which ids AWS assigns in its answer, and
the service's error codes for "already there", "already gone" and "holds data".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.infra.api_shapes import request
from mlops.infra.mock_runtime import MockedResource


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call: service, operation (botocore's name) and parameters."""

    service: str
    operation: str
    params: dict[str, Any]


Record = dict[str, Any]
"""What the bootstrap keeps of an applied resource (:func:`mlops.infra.reconcile.make_record`)."""


@dataclass
class Context:
    """What earlier calls returned that later calls need (e.g. KMS key ids)."""

    key_ids: dict[str, str] = field(default_factory=dict)
    # The stack's region: S3 refuses a bucket outside us-east-1 without its location constraint.
    region: str = "us-east-1"


Builder = Callable[[MockedResource, Context], list[ApiCall]]
"""The calls that create one resource of a type."""
Params = dict[str, Any]
Ids = dict[str, str]
Delete = Callable[[Params, Ids], list[ApiCall]]
"""The calls that undo a creation call, from its parameters and the ids AWS assigned."""
Update = Callable[[Params, Params, Ids], list[ApiCall]]
"""The calls that change a created resource in place: old parameters, new ones, assigned ids."""


@dataclass(frozen=True)
class Operation:
    """How one creation call is undone, updated and answered.

    Attributes:
        delete: the calls that undo it (None: nothing to undo, or it goes with its parent).
        update: the calls that change the resource in place; None, and not ``replaced``: the
            call is an upsert and is simply sent again.
        replaced: AWS treats the resource as immutable, so a change means delete, then create.
        ids: the ids AWS assigns in the answer that later updates and deletes need.
        after: a call the answer needs at once, made with the service's client (not counted).
    """

    delete: Delete | None = None
    update: Update | None = None
    replaced: bool = False
    ids: Callable[[Mapping[str, Any]], Ids] | None = None
    after: Callable[[Any, Mapping[str, Any]], None] | None = None


@dataclass(frozen=True)
class LocalService:
    """One AWS service as local mode's bootstrap uses it.

    Attributes:
        name: the service (botocore's client name).
        resources: Pulumi type token -> the calls that create a resource of that type.
        operations: creation operation -> how it is undone, updated and answered.
        already_there: error codes a creation answers with when it already exists.
        gone: error codes a deletion answers with when the resource is already gone.
        holds_data: error codes of a deletion AWS refuses because the resource holds data.
        duplicate: another way the service says a creation already exists, from the error's
            code and message.
    """

    name: str
    resources: Mapping[str, Builder]
    operations: Mapping[str, Operation]
    already_there: frozenset[str] = frozenset()
    gone: frozenset[str] = frozenset()
    holds_data: frozenset[str] = frozenset()
    duplicate: Callable[[str, str], bool] | None = None


DROP = ("tags", "region", "forceDestroy", "forceDelete")


def inputs(resource: MockedResource, *drop: str) -> dict[str, Any]:
    """The resource's inputs without the provider-only ones and ``drop``."""
    return {k: v for k, v in resource.inputs.items() if k not in (*DROP, *drop)}


def tag_list(
    resource: MockedResource, key: str = "Key", value: str = "Value"
) -> list[dict[str, str]]:
    """The resource's tags as the list of pairs most AWS APIs take."""
    return [{key: k, value: v} for k, v in (resource.inputs.get("tags") or {}).items()]


def named(service: str, op: str, name_field: str, drop: tuple[str, ...] = ()) -> Builder:
    """Resources whose physical name is their logical name unless an input names them."""

    def build(r: MockedResource, ctx: Context) -> list[ApiCall]:
        body = inputs(r, *drop)
        explicit = {k: body.pop(k) for k in list(body) if k.lower() == name_field.lower()}
        name = next(iter(explicit.values()), r.inputs.get("name", r.name))
        return [ApiCall(service, op, request(service, op, body, **{name_field: name}))]

    return build
