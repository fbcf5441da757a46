"""Apply a Pulumi program's resources to a local AWS endpoint, without the Pulumi CLI.

The program runs under the SDK's mock runtime (:mod:`mlops.infra.mock_runtime`), which captures
every resource with its inputs resolved; each resource then becomes the AWS API calls the provider
would make, sent with boto3. Only loopback endpoints are accepted, every supported type is
declared by its AWS service in :mod:`mlops.infra.local_services`, and anything else fails
loudly, naming the type.

This is the no-CLI path of local mode. With the Pulumi CLI on PATH, local mode runs
``pulumi up`` against the same endpoint instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from mlops.core.errors import UserError
from mlops.core.progress import Progress, no_progress
from mlops.infra.local_endpoint import client as local_client
from mlops.infra.local_endpoint import require_loopback
from mlops.infra.local_services import GONE, HOLDS_DATA, OPERATIONS, RESOURCES, already_there
from mlops.infra.local_services.base import ApiCall, Context, Record
from mlops.infra.mock_runtime import MockedProgram, MockedResource
from mlops.infra.reconcile import (
    assigned_ids,
    delete_calls,
    digest,
    make_record,
    records_from,
    update_calls,
)

__all__ = ["Applied", "UnsupportedResourceError", "api_calls", "apply"]


class UnsupportedResourceError(UserError):
    """The bootstrap cannot create this resource type."""

    def __init__(self, resource: MockedResource) -> None:
        super().__init__(
            f"local bootstrap does not support {resource.type} ({resource.name}); install the"
            " Pulumi CLI so local mode can run `pulumi up`, or drop that resource from the"
            " local stack"
        )


def api_calls(resource: MockedResource, ctx: Context | None = None) -> list[ApiCall]:
    """The API calls that create ``resource`` (components need none).

    Raises:
        UnsupportedResourceError: no service of :mod:`mlops.infra.local_services` creates it.
    """
    if not resource.custom:
        return []
    builder = RESOURCES.get(resource.type)
    if builder is None:
        raise UnsupportedResourceError(resource)
    return builder(resource, ctx or Context())


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did.

    Attributes:
        created: type -> how many resources this apply created.
        updated: type -> how many changed resources it updated or replaced.
        deleted: type -> how many resources gone from the program it deleted.
        kept: resources gone from the program but left in place because they hold data.
        skipped: resources unchanged since the last apply, or already there.
        calls: API calls made.
        done: the record of every applied resource; pass it to the next apply.
    """

    created: dict[str, int]
    updated: dict[str, int]
    deleted: dict[str, int]
    kept: list[str]
    skipped: int
    calls: int
    done: dict[str, Record]


def apply(
    program: MockedProgram,
    endpoint_url: str,
    region: str,
    client: Callable[[str], Any] | None = None,
    done: dict[str, Record] | list[str] | None = None,
    progress: Progress = no_progress,
) -> Applied:
    """Reconcile a loopback endpoint with ``program``: create, update, delete.

    ``done`` is the previous apply's record. Resources it holds with unchanged inputs are
    skipped, so applying again is idempotent even for unnamed resources (KMS keys); changed
    ones are updated (or replaced, see :mod:`.reconcile`); recorded resources the program no
    longer has are deleted, newest first, except those holding data.

    Raises:
        UserError: the endpoint is not on loopback, or a resource type is unsupported (checked
            for every resource before the first call).
        ClientError: the endpoint rejected a creation or update.
    """
    require_loopback(endpoint_url)
    unsupported = [r for r in program.resources if r.custom and r.type not in RESOURCES]
    if unsupported:
        raise UnsupportedResourceError(unsupported[0])
    send = _Sender(client or _clients(endpoint_url, region))
    records = records_from(done)
    ctx = Context(
        key_ids={n: r["ids"]["KeyId"] for n, r in records.items() if "KeyId" in r.get("ids", {})},
        region=region,
    )
    created: dict[str, int] = {}
    updated: dict[str, int] = {}
    skipped = 0
    total = len(program.resources)
    for index, resource in enumerate(program.resources):
        progress(index, total, resource.name)
        old = records.get(resource.name)
        # An older state names resources without a digest: they are trusted as applied.
        if old is not None and old.get("digest", digest(resource)) == digest(resource):
            skipped += resource.custom
            continue
        calls = api_calls(resource, ctx)
        removals, sends = update_calls(old, calls) if old is not None else ([], calls)
        for call in removals:
            send.delete(call)
        ids = {}
        for call in sends:
            fresh, response = send(call)
            skipped += not fresh and old is None and call is calls[0]
            ids.update(assigned_ids(call.operation, response))
            if "KeyId" in ids:  # a key's id, for the aliases that name it
                ctx.key_ids[resource.name] = ids["KeyId"]
        if resource.custom:
            tally = created if old is None else updated
            tally[resource.type] = tally.get(resource.type, 0) + 1
        records[resource.name] = make_record(resource, calls, ids or (old or {}).get("ids", {}))
    progress(total, total, "done")
    deleted, kept = _delete_removed(send, records, {r.name for r in program.resources})
    return Applied(created, updated, deleted, kept, skipped, send.count, records)


def _delete_removed(
    send: _Sender, records: dict[str, Record], present: set[str]
) -> tuple[dict[str, int], list[str]]:
    """Delete recorded resources the program no longer has, newest first."""
    deleted: dict[str, int] = {}
    kept: list[str] = []
    for name in reversed([n for n in records if n not in present]):
        record = records.pop(name)
        try:
            for call in delete_calls(record):
                send.delete(call)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in HOLDS_DATA:
                records[name] = record  # tried again on the next apply
                raise
            kept.append(name)
            continue
        if record.get("type"):
            deleted[record["type"]] = deleted.get(record["type"], 0) + 1
    return deleted, kept


def _clients(endpoint_url: str, region: str) -> Callable[[str], Any]:
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = local_client(endpoint_url, region, service)
        return clients[service]

    return client


class _Sender:
    """Sends calls through per-service clients and counts them."""

    def __init__(self, client: Callable[[str], Any]) -> None:
        self.client, self.count = client, 0

    def __call__(self, call: ApiCall) -> tuple[bool, dict[str, Any]]:
        """Make one call: whether it created something, and the answer."""
        self.count += 1
        api = self.client(call.service)
        try:
            response = getattr(api, xform_name(call.operation))(**call.params)
        except ClientError as exc:
            if _already_there(exc):
                return False, {}
            raise
        known = OPERATIONS.get(call.operation)
        if known is not None and known.after is not None:
            known.after(api, response)
        return True, response

    def delete(self, call: ApiCall) -> None:
        """Make one removal; what is already gone is fine."""
        self.count += 1
        try:
            getattr(self.client(call.service), xform_name(call.operation))(**call.params)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in GONE and not _gone(exc):
                raise


def _gone(exc: ClientError) -> bool:
    message = exc.response["Error"].get("Message", "").lower()
    return "does not exist" in message or "not found" in message or "could not find" in message


def _already_there(exc: ClientError) -> bool:
    error = exc.response["Error"]
    return already_there(error["Code"], error.get("Message", ""))
