"""Apply a Pulumi program's resources to a local AWS endpoint, without the Pulumi CLI.

The program runs under the SDK's mock runtime (:mod:`mlops.infra.mock_runtime`), which captures
every resource with its inputs resolved; each resource then becomes the AWS API calls the provider
would make, sent with boto3. Only loopback endpoints are accepted, every supported type is
listed in :data:`SUPPORTED`, and anything else fails loudly, naming the type.

This is the no-CLI path of local mode. With the Pulumi CLI on PATH, local mode runs
``pulumi up`` against the same endpoint instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from mlops.core.errors import UserError
from mlops.infra.api_shapes import request
from mlops.infra.local_endpoint import client as local_client
from mlops.infra.local_endpoint import require_loopback
from mlops.infra.mock_runtime import MockedProgram, MockedResource
from mlops.infra.reconcile import (
    GONE,
    HOLDS_DATA,
    ApiCall,
    Record,
    assigned_ids,
    delete_calls,
    digest,
    make_record,
    records_from,
    update_calls,
)

__all__ = ["SUPPORTED", "ApiCall", "Applied", "UnsupportedResourceError", "api_calls", "apply"]


class UnsupportedResourceError(UserError):
    """The bootstrap cannot create this resource type."""

    def __init__(self, resource: MockedResource) -> None:
        super().__init__(
            f"local bootstrap does not support {resource.type} ({resource.name}); install the"
            " Pulumi CLI so local mode can run `pulumi up`, or drop that resource from the"
            " local stack"
        )


@dataclass
class Context:
    """What earlier calls returned that later calls need (e.g. KMS key ids)."""

    key_ids: dict[str, str] = field(default_factory=dict)


DROP = ("tags", "region", "forceDestroy", "forceDelete")


def _inputs(resource: MockedResource, *drop: str) -> dict[str, Any]:
    return {k: v for k, v in resource.inputs.items() if k not in (*DROP, *drop)}


def _tag_list(
    resource: MockedResource, key: str = "Key", value: str = "Value"
) -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in (resource.inputs.get("tags") or {}).items()]


def _s3(
    op: str, r: MockedResource, wrapper: str | None = None, inner: dict[str, Any] | None = None
) -> ApiCall:
    body = inner if inner is not None else _inputs(r, "bucket")
    params = {"bucket": r.inputs["bucket"], **({wrapper: body} if wrapper else body)}
    return ApiCall("s3", op, request("s3", op, params))


def _bucket(r: MockedResource, ctx: Context) -> list[ApiCall]:
    name = r.inputs.get("bucket", r.name)
    calls = [ApiCall("s3", "CreateBucket", {"Bucket": name})]
    if r.inputs.get("tags"):
        calls.append(
            ApiCall("s3", "PutBucketTagging", {"Bucket": name, "Tagging": {"TagSet": _tag_list(r)}})
        )
    return calls


def _encryption(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3(
            "PutBucketEncryption",
            r,
            "serverSideEncryptionConfiguration",
            {"rules": r.inputs["rules"]},
        )
    ]


def _public_access(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [_s3("PutPublicAccessBlock", r, "publicAccessBlockConfiguration")]


def _ownership(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3("PutBucketOwnershipControls", r, "ownershipControls", {"rules": [r.inputs["rule"]]})
    ]


def _lifecycle(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3(
            "PutBucketLifecycleConfiguration",
            r,
            "lifecycleConfiguration",
            {"rules": r.inputs["rules"]},
        )
    ]


def _logging(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        _s3("PutBucketLogging", r, "bucketLoggingStatus", {"loggingEnabled": _inputs(r, "bucket")})
    ]


def _kms_key(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r, "enableKeyRotation", "deletionWindowInDays")
    params = request("kms", "CreateKey", body, Tags=_tag_list(r, "TagKey", "TagValue"))
    return [ApiCall("kms", "CreateKey", params)]


def _kms_alias(r: MockedResource, ctx: Context) -> list[ApiCall]:
    key = ctx.key_ids.get(r.inputs["targetKeyId"].removesuffix("-key-id"), r.inputs["targetKeyId"])
    return [ApiCall("kms", "CreateAlias", {"AliasName": r.inputs["name"], "TargetKeyId": key})]


def _named(
    service: str, op: str, name_field: str, drop: tuple[str, ...] = ()
) -> Callable[[MockedResource, Context], list[ApiCall]]:
    """Resources whose physical name is their logical name unless an input names them."""

    def build(r: MockedResource, ctx: Context) -> list[ApiCall]:
        body = _inputs(r, *drop)
        explicit = {k: body.pop(k) for k in list(body) if k.lower() == name_field.lower()}
        name = next(iter(explicit.values()), r.inputs.get("name", r.name))
        return [ApiCall(service, op, request(service, op, body, **{name_field: name}))]

    return build


def _endpoint_config(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r, "kmsKeyArn")
    extra = {"KmsKeyId": r.inputs["kmsKeyArn"]} if r.inputs.get("kmsKeyArn") else {}
    return [
        ApiCall(
            "sagemaker",
            "CreateEndpointConfig",
            request("sagemaker", "CreateEndpointConfig", body, EndpointConfigName=r.name, **extra),
        )
    ]


def _endpoint(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r, "name", "endpointConfigName")
    return [
        ApiCall(
            "sagemaker",
            "CreateEndpoint",
            request(
                "sagemaker",
                "CreateEndpoint",
                body,
                EndpointName=r.inputs["name"],
                EndpointConfigName=r.inputs["endpointConfigName"],
            ),
        )
    ]


def _data_quality(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r)
    output = body["dataQualityJobOutputConfig"]
    # The provider takes one monitoring output; the API takes a list.
    body["dataQualityJobOutputConfig"] = {
        **output,
        "monitoringOutputs": [output["monitoringOutputs"]],
    }
    op = "CreateDataQualityJobDefinition"
    return [ApiCall("sagemaker", op, request("sagemaker", op, body, JobDefinitionName=r.name))]


def _repository(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r, "name", "encryptionConfigurations")
    encryption = (r.inputs.get("encryptionConfigurations") or [None])[0]
    extra = (
        {
            "encryptionConfiguration": request(
                "ecr", "CreateRepository", {"encryptionConfiguration": encryption}
            )["encryptionConfiguration"]
        }
        if encryption
        else {}
    )
    return [
        ApiCall(
            "ecr",
            "CreateRepository",
            request("ecr", "CreateRepository", body, repositoryName=r.inputs["name"], **extra),
        )
    ]


def _log_group(r: MockedResource, ctx: Context) -> list[ApiCall]:
    name = r.inputs["name"]
    calls = [ApiCall("logs", "CreateLogGroup", {"logGroupName": name})]
    if "retentionInDays" in r.inputs:
        calls.append(
            ApiCall(
                "logs",
                "PutRetentionPolicy",
                {"logGroupName": name, "retentionInDays": int(r.inputs["retentionInDays"])},
            )
        )
    return calls


def _role(r: MockedResource, ctx: Context) -> list[ApiCall]:
    params = {
        "RoleName": r.inputs.get("name", r.name),
        "AssumeRolePolicyDocument": r.inputs["assumeRolePolicy"],
    }
    if r.inputs.get("description"):
        params["Description"] = r.inputs["description"]
    return [ApiCall("iam", "CreateRole", params)]


def _role_policy(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        ApiCall(
            "iam",
            "PutRolePolicy",
            {
                "RoleName": r.inputs["role"],
                "PolicyName": r.name,
                "PolicyDocument": r.inputs["policy"],
            },
        )
    ]


def _topic(r: MockedResource, ctx: Context) -> list[ApiCall]:
    attributes = (
        {"KmsMasterKeyId": r.inputs["kmsMasterKeyId"]} if r.inputs.get("kmsMasterKeyId") else {}
    )
    return [
        ApiCall(
            "sns", "CreateTopic", {"Name": r.name, "Attributes": attributes, "Tags": _tag_list(r)}
        )
    ]


def _topic_policy(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        ApiCall(
            "sns",
            "SetTopicAttributes",
            {
                "TopicArn": r.inputs["arn"],
                "AttributeName": "Policy",
                "AttributeValue": r.inputs["policy"],
            },
        )
    ]


def _subscription(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        ApiCall(
            "sns",
            "Subscribe",
            {
                "TopicArn": r.inputs["topic"],
                "Protocol": r.inputs["protocol"],
                "Endpoint": r.inputs["endpoint"],
            },
        )
    ]


def _event_target(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r, "rule")
    pipeline = body.pop("sagemakerPipelineTarget", None)
    transformer = body.pop("inputTransformer", None)
    target = request("events", "PutTargets", {"targets": [{"id": r.name[-64:], **body}]})[
        "Targets"
    ][0]
    if pipeline is not None:  # the provider and the API name this block differently
        target["SageMakerPipelineParameters"] = {
            "PipelineParameterList": [
                {"Name": p["name"], "Value": p["value"]} for p in pipeline["pipelineParameterLists"]
            ]
        }
    if transformer is not None:
        target["InputTransformer"] = {
            "InputPathsMap": transformer["inputPaths"],
            "InputTemplate": transformer["inputTemplate"],
        }
    return [ApiCall("events", "PutTargets", {"Rule": r.inputs["rule"], "Targets": [target]})]


def _alarm(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = _inputs(r, "name", "dimensions")
    dims = [{"Name": k, "Value": v} for k, v in (r.inputs.get("dimensions") or {}).items()]
    return [
        ApiCall(
            "cloudwatch",
            "PutMetricAlarm",
            request(
                "cloudwatch", "PutMetricAlarm", body, AlarmName=r.inputs["name"], Dimensions=dims
            ),
        )
    ]


def _scaling_policy(r: MockedResource, ctx: Context) -> list[ApiCall]:
    return [
        ApiCall(
            "application-autoscaling",
            "PutScalingPolicy",
            request("application-autoscaling", "PutScalingPolicy", _inputs(r), PolicyName=r.name),
        )
    ]


Builder = Callable[[MockedResource, Context], list[ApiCall]]
_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
SUPPORTED: dict[str, Builder] = {
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketVersioning:BucketVersioning": lambda r, c: [_s3("PutBucketVersioning", r)],
    _SSE: _encryption,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _public_access,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _ownership,
    "aws:s3/bucketPolicy:BucketPolicy": lambda r, c: [_s3("PutBucketPolicy", r)],
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _lifecycle,
    "aws:s3/bucketLogging:BucketLogging": _logging,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:glue/catalogDatabase:CatalogDatabase": lambda r, c: [
        ApiCall(
            "glue",
            "CreateDatabase",
            {
                "DatabaseInput": request("glue", "CreateDatabase", {"databaseInput": _inputs(r)})[
                    "DatabaseInput"
                ]
            },
        )
    ],
    "aws:ecr/repository:Repository": _repository,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:sagemaker/pipeline:Pipeline": _named("sagemaker", "CreatePipeline", "PipelineName"),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": _named(
        "sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName"
    ),
    "aws:sagemaker/model:Model": _named("sagemaker", "CreateModel", "ModelName"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _endpoint_config,
    "aws:sagemaker/endpoint:Endpoint": _endpoint,
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": _data_quality,
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicPolicy:TopicPolicy": _topic_policy,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
    "aws:cloudwatch/eventRule:EventRule": _named("events", "PutRule", "Name"),
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/dashboard:Dashboard": _named("cloudwatch", "PutDashboard", "DashboardName"),
    "aws:appautoscaling/target:Target": lambda r, c: [
        ApiCall(
            "application-autoscaling",
            "RegisterScalableTarget",
            request("application-autoscaling", "RegisterScalableTarget", _inputs(r)),
        )
    ],
    "aws:appautoscaling/policy:Policy": _scaling_policy,
}
# Creation calls that answer "already there" on a re-run: applying twice changes nothing.
ALREADY_THERE = {
    "BucketAlreadyOwnedByYou",
    "EntityAlreadyExists",
    "ResourceInUse",
    "ResourceInUseException",
    "RepositoryAlreadyExistsException",
    "ResourceAlreadyExistsException",
    "AlreadyExistsException",
}


def api_calls(resource: MockedResource, ctx: Context | None = None) -> list[ApiCall]:
    """The API calls that create ``resource`` (components need none).

    Raises:
        UnsupportedResourceError: the type is not in :data:`SUPPORTED`.
    """
    if not resource.custom:
        return []
    builder = SUPPORTED.get(resource.type)
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
    unsupported = [r for r in program.resources if r.custom and r.type not in SUPPORTED]
    if unsupported:
        raise UnsupportedResourceError(unsupported[0])
    send = _Sender(client or _clients(endpoint_url, region))
    records = records_from(done)
    ctx = Context(
        key_ids={n: r["ids"]["KeyId"] for n, r in records.items() if "KeyId" in r.get("ids", {})}
    )
    created: dict[str, int] = {}
    updated: dict[str, int] = {}
    skipped = 0
    for resource in program.resources:
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
            if call.operation == "CreateKey" and "KeyId" in ids:
                ctx.key_ids[resource.name] = ids["KeyId"]
        if resource.custom:
            tally = created if old is None else updated
            tally[resource.type] = tally.get(resource.type, 0) + 1
        records[resource.name] = make_record(resource, calls, ids or (old or {}).get("ids", {}))
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
        if call.operation == "CreateKey":
            api.enable_key_rotation(KeyId=response["KeyMetadata"]["KeyId"])
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
    if error["Code"] in ALREADY_THERE:
        return True
    # SageMaker reports duplicates as a ValidationException that says so.
    return (
        error["Code"] == "ValidationException"
        and "already exist" in error.get("Message", "").lower()
    )
