"""Apply a Pulumi program's resources to a local AWS endpoint, without the Pulumi CLI.

The program runs under the SDK's mock runtime (:mod:`mlops.infra.testing`), which captures every
resource with its inputs resolved; each resource then becomes the AWS API calls the provider
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
from mlops.infra.local import client as local_client
from mlops.infra.local import require_loopback
from mlops.infra.testing import MockedProgram, MockedResource


@dataclass(frozen=True)
class ApiCall:
    """One AWS API call: service, operation (botocore's name) and parameters."""

    service: str
    operation: str
    params: dict[str, Any]


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
        skipped: resources already applied (named in ``done``) or already there.
        calls: API calls made.
        done: every resource applied so far; pass it to the next apply to resume.
    """

    created: dict[str, int]
    skipped: int
    calls: int
    done: list[str]


def apply(
    program: MockedProgram,
    endpoint_url: str,
    region: str,
    client: Callable[[str], Any] | None = None,
    done: list[str] | None = None,
) -> Applied:
    """Create every resource of ``program`` on a loopback endpoint, in registration order.

    Resources named in ``done`` (a previous apply's record) are skipped, so applying again
    only creates what is new: re-running is idempotent even for unnamed resources (KMS keys).

    Raises:
        UserError: the endpoint is not on loopback, or a resource type is unsupported (checked
            for every resource before the first call).
        ClientError: the endpoint rejected a call.
    """
    require_loopback(endpoint_url)
    unsupported = [r for r in program.resources if r.custom and r.type not in SUPPORTED]
    if unsupported:
        raise UnsupportedResourceError(unsupported[0])
    if client is None:
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = local_client(endpoint_url, region, service)
            return clients[service]

    ctx, created, skipped, count = Context(), dict[str, int](), 0, 0
    applied = list(done or [])
    for resource in program.resources:
        if resource.name in applied:
            skipped += resource.custom
            continue
        for call in api_calls(resource, ctx):
            count += 1
            skipped += not _send(client, call, resource, ctx)
        if resource.custom:
            created[resource.type] = created.get(resource.type, 0) + 1
        applied.append(resource.name)
    return Applied(created, skipped, count, applied)


def _send(
    client: Callable[[str], Any], call: ApiCall, resource: MockedResource, ctx: Context
) -> bool:
    """Make one call; return False when what it creates was already there."""
    api = client(call.service)
    try:
        response = getattr(api, xform_name(call.operation))(**call.params)
    except ClientError as exc:
        if _already_there(exc):
            return False
        raise
    if call.operation == "CreateKey":
        key_id = response["KeyMetadata"]["KeyId"]
        ctx.key_ids[resource.name] = key_id
        api.enable_key_rotation(KeyId=key_id)
    return True


def _already_there(exc: ClientError) -> bool:
    error = exc.response["Error"]
    if error["Code"] in ALREADY_THERE:
        return True
    # SageMaker reports duplicates as a ValidationException that says so.
    return (
        error["Code"] == "ValidationException"
        and "already exist" in error.get("Message", "").lower()
    )
