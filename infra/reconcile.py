"""What the local bootstrap records of each resource, and how it changes or removes one.

Every applied resource is recorded with its type, a digest of its inputs, the first API call
that created it (its identity: bucket name, role name, alarm name...) and the ids AWS assigned
(a KMS key id, a topic or subscription ARN). On the next apply, a resource whose digest is
unchanged is left alone; a changed one is updated in place where the API allows it, replaced
where AWS itself treats the resource as immutable (SageMaker models, endpoint configs, job
definitions); a resource gone from the program is deleted, newest first. Deleting never takes
data with it: a bucket with objects, a repository with images or a model group with registered
versions is left in place and named.

An API that takes an idempotency token (``ClientRequestToken``, ``ClientToken``: AWS wants 32 to
128 characters) gets one derived from the call and the resource's record (:func:`with_tokens`):
retrying the same removal sends the same token, and a resource created again gets another.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from mlops.infra.api_shapes import input_shape
from mlops.infra.mock_runtime import MockedResource


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call: service, operation (botocore's name) and parameters."""

    service: str
    operation: str
    params: dict[str, Any]


Record = dict[str, Any]

# AWS refuses these deletes because the resource holds data: it stays, and is named.
HOLDS_DATA = {
    "BucketNotEmpty",
    "RepositoryNotEmptyException",
    "ConflictException",
}
# The resource is already gone: nothing to delete.
GONE = {
    "NoSuchBucket",
    "NoSuchEntity",
    "NotFoundException",
    "NotFound",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "RepositoryNotFoundException",
    "EntityNotFoundException",
    "ObjectNotFoundException",
}
# AWS treats these as immutable: a change means delete, then create.
REPLACED = {
    "CreateModel",
    "CreateEndpointConfig",
    "CreateEndpoint",
    "CreateDataQualityJobDefinition",
    "CreatePipeline",
}


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
    operation; tests/test_reconcile_tokens.py holds the token to them).
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
    if operation in REPLACED:
        return delete_calls(record), calls
    special = _UPDATES.get(operation)
    if special is None:
        return [], calls
    updates = [with_tokens(c, record) for c in special(old, new, record.get("ids", {}))]
    return [], updates + calls[1:]


def _key_update(old: dict[str, Any], new: dict[str, Any], ids: dict[str, str]) -> list[ApiCall]:
    key = ids.get("KeyId")
    if not key:
        return []
    calls = [
        ApiCall(
            "kms", "UpdateKeyDescription", {"KeyId": key, "Description": new.get("Description", "")}
        )
    ]
    if new.get("Policy"):
        calls.append(
            ApiCall(
                "kms",
                "PutKeyPolicy",
                {"KeyId": key, "PolicyName": "default", "Policy": new["Policy"]},
            )
        )
    return calls


def _role_update(old: dict[str, Any], new: dict[str, Any], _ids: dict[str, str]) -> list[ApiCall]:
    name = new["RoleName"]
    return [
        ApiCall(
            "iam",
            "UpdateAssumeRolePolicy",
            {"RoleName": name, "PolicyDocument": new["AssumeRolePolicyDocument"]},
        ),
        ApiCall("iam", "UpdateRole", {"RoleName": name, "Description": new.get("Description", "")}),
    ]


def _topic_update(old: dict[str, Any], new: dict[str, Any], ids: dict[str, str]) -> list[ApiCall]:
    arn = ids.get("TopicArn")
    if not arn:
        return []
    return [
        ApiCall(
            "sns", "SetTopicAttributes", {"TopicArn": arn, "AttributeName": k, "AttributeValue": v}
        )
        for k, v in new.get("Attributes", {}).items()
    ]


def _alias_update(old: dict[str, Any], new: dict[str, Any], _ids: dict[str, str]) -> list[ApiCall]:
    return [
        ApiCall(
            "kms", "UpdateAlias", {"AliasName": new["AliasName"], "TargetKeyId": new["TargetKeyId"]}
        )
    ]


def _database_update(
    old: dict[str, Any], new: dict[str, Any], _ids: dict[str, str]
) -> list[ApiCall]:
    database = new["DatabaseInput"]
    return [
        ApiCall("glue", "UpdateDatabase", {"Name": database["Name"], "DatabaseInput": database})
    ]


_UPDATES: dict[str, Callable[[dict[str, Any], dict[str, Any], dict[str, str]], list[ApiCall]]] = {
    "CreateKey": _key_update,
    "CreateRole": _role_update,
    "CreateTopic": _topic_update,
    "CreateAlias": _alias_update,
    "CreateDatabase": _database_update,
}


def _scalable(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}


_DELETES: dict[str, Callable[[dict[str, Any], dict[str, str]], list[ApiCall]]] = {
    "CreateBucket": lambda p, _: [ApiCall("s3", "DeleteBucket", {"Bucket": p["Bucket"]})],
    "PutBucketTagging": lambda p, _: [
        ApiCall("s3", "DeleteBucketTagging", {"Bucket": p["Bucket"]})
    ],
    "PutBucketVersioning": lambda p, _: [
        ApiCall(
            "s3",
            "PutBucketVersioning",
            {"Bucket": p["Bucket"], "VersioningConfiguration": {"Status": "Suspended"}},
        )
    ],
    "PutBucketEncryption": lambda p, _: [
        ApiCall("s3", "DeleteBucketEncryption", {"Bucket": p["Bucket"]})
    ],
    "PutPublicAccessBlock": lambda p, _: [
        ApiCall("s3", "DeletePublicAccessBlock", {"Bucket": p["Bucket"]})
    ],
    "PutBucketOwnershipControls": lambda p, _: [
        ApiCall("s3", "DeleteBucketOwnershipControls", {"Bucket": p["Bucket"]})
    ],
    "PutBucketPolicy": lambda p, _: [ApiCall("s3", "DeleteBucketPolicy", {"Bucket": p["Bucket"]})],
    "PutBucketLifecycleConfiguration": lambda p, _: [
        ApiCall("s3", "DeleteBucketLifecycle", {"Bucket": p["Bucket"]})
    ],
    "PutBucketLogging": lambda p, _: [
        ApiCall("s3", "PutBucketLogging", {"Bucket": p["Bucket"], "BucketLoggingStatus": {}})
    ],
    "CreateKey": lambda p, ids: (
        [ApiCall("kms", "ScheduleKeyDeletion", {"KeyId": ids["KeyId"], "PendingWindowInDays": 7})]
        if "KeyId" in ids
        else []
    ),
    "CreateAlias": lambda p, _: [ApiCall("kms", "DeleteAlias", {"AliasName": p["AliasName"]})],
    "CreateDatabase": lambda p, _: [
        ApiCall("glue", "DeleteDatabase", {"Name": p["DatabaseInput"]["Name"]})
    ],
    "CreateRepository": lambda p, _: [
        ApiCall("ecr", "DeleteRepository", {"repositoryName": p["repositoryName"]})
    ],
    "CreateLogGroup": lambda p, _: [
        ApiCall("logs", "DeleteLogGroup", {"logGroupName": p["logGroupName"]})
    ],
    "CreateRole": lambda p, _: [ApiCall("iam", "DeleteRole", {"RoleName": p["RoleName"]})],
    "PutRolePolicy": lambda p, _: [
        ApiCall(
            "iam", "DeleteRolePolicy", {"RoleName": p["RoleName"], "PolicyName": p["PolicyName"]}
        )
    ],
    "CreatePipeline": lambda p, _: [
        ApiCall(
            "sagemaker",
            "DeletePipeline",
            {"PipelineName": p["PipelineName"]},  # its ClientRequestToken: with_tokens()
        )
    ],
    "CreateModelPackageGroup": lambda p, _: [
        ApiCall(
            "sagemaker",
            "DeleteModelPackageGroup",
            {"ModelPackageGroupName": p["ModelPackageGroupName"]},
        )
    ],
    "CreateModel": lambda p, _: [
        ApiCall("sagemaker", "DeleteModel", {"ModelName": p["ModelName"]})
    ],
    "CreateEndpointConfig": lambda p, _: [
        ApiCall(
            "sagemaker", "DeleteEndpointConfig", {"EndpointConfigName": p["EndpointConfigName"]}
        )
    ],
    "CreateEndpoint": lambda p, _: [
        ApiCall("sagemaker", "DeleteEndpoint", {"EndpointName": p["EndpointName"]})
    ],
    "CreateDataQualityJobDefinition": lambda p, _: [
        ApiCall(
            "sagemaker",
            "DeleteDataQualityJobDefinition",
            {"JobDefinitionName": p["JobDefinitionName"]},
        )
    ],
    "CreateTopic": lambda p, ids: (
        [ApiCall("sns", "DeleteTopic", {"TopicArn": ids["TopicArn"]})] if "TopicArn" in ids else []
    ),
    "SetTopicAttributes": lambda p, _: [],  # goes with its topic
    "Subscribe": lambda p, ids: (
        [ApiCall("sns", "Unsubscribe", {"SubscriptionArn": ids["SubscriptionArn"]})]
        if "SubscriptionArn" in ids
        else []
    ),
    "PutRule": lambda p, _: [ApiCall("events", "DeleteRule", {"Name": p["Name"]})],
    "PutTargets": lambda p, _: [
        ApiCall(
            "events", "RemoveTargets", {"Rule": p["Rule"], "Ids": [t["Id"] for t in p["Targets"]]}
        )
    ],
    "PutMetricAlarm": lambda p, _: [
        ApiCall("cloudwatch", "DeleteAlarms", {"AlarmNames": [p["AlarmName"]]})
    ],
    "PutDashboard": lambda p, _: [
        ApiCall("cloudwatch", "DeleteDashboards", {"DashboardNames": [p["DashboardName"]]})
    ],
    "RegisterScalableTarget": lambda p, _: [
        ApiCall("application-autoscaling", "DeregisterScalableTarget", _scalable(p))
    ],
    "PutScalingPolicy": lambda p, _: [
        ApiCall(
            "application-autoscaling",
            "DeleteScalingPolicy",
            {"PolicyName": p["PolicyName"], **_scalable(p)},
        )
    ],
}


def delete_calls(record: Record) -> list[ApiCall]:
    """The calls that delete a recorded resource (none for a component or an old record)."""
    first = _first(record)
    if first is None:
        return []
    _, operation, params = first
    build = _DELETES.get(operation)
    calls = build(params, record.get("ids", {})) if build else []
    return [with_tokens(call, record) for call in calls]


def assigned_ids(operation: str, response: dict[str, Any]) -> dict[str, str]:
    """The ids AWS assigned in a creation's answer that later updates and deletes need."""
    if operation == "CreateKey":
        return {"KeyId": response["KeyMetadata"]["KeyId"]}
    if operation == "CreateTopic":
        return {"TopicArn": response["TopicArn"]}
    if operation == "Subscribe":
        return {"SubscriptionArn": response["SubscriptionArn"]}
    return {}
