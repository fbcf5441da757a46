"""SageMaker in local mode: pipeline, model group, model, endpoint and monitoring job definition.

AWS treats models, endpoint configurations, endpoints, job definitions (and, for the bootstrap,
pipelines) as immutable: a change replaces them. A model group with registered versions holds
data, so deleting it is refused and it stays.
"""

from __future__ import annotations

from typing import Any

from mlops.infra.api_shapes import request
from mlops.infra.local_services.base import (
    ApiCall,
    Context,
    LocalService,
    Operation,
    inputs,
    named,
)
from mlops.infra.mock_runtime import MockedResource


def _endpoint_config(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = inputs(r, "kmsKeyArn")
    extra = {"KmsKeyId": r.inputs["kmsKeyArn"]} if r.inputs.get("kmsKeyArn") else {}
    return [
        ApiCall(
            "sagemaker",
            "CreateEndpointConfig",
            request("sagemaker", "CreateEndpointConfig", body, EndpointConfigName=r.name, **extra),
        )
    ]


def _endpoint(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = inputs(r, "name", "endpointConfigName")
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
    body = inputs(r)
    output = body["dataQualityJobOutputConfig"]
    # The provider takes one monitoring output; the API takes a list.
    body["dataQualityJobOutputConfig"] = {
        **output,
        "monitoringOutputs": [output["monitoringOutputs"]],
    }
    op = "CreateDataQualityJobDefinition"
    return [ApiCall("sagemaker", op, request("sagemaker", op, body, JobDefinitionName=r.name))]


def _duplicate(code: str, message: str) -> bool:
    # SageMaker reports duplicates as a ValidationException that says so.
    return code == "ValidationException" and "already exist" in message.lower()


def _undo(op: str, name: str, *, replaced: bool) -> Operation:
    """A resource deleted by its name; ``replaced``: a change means delete, then create."""

    def delete(p: dict[str, Any], _ids: dict[str, str]) -> list[ApiCall]:
        # A ClientRequestToken the delete takes (DeletePipeline's) comes from with_tokens().
        return [ApiCall("sagemaker", op, {name: p[name]})]

    return Operation(delete=delete, replaced=replaced)


SERVICE = LocalService(
    "sagemaker",
    resources={
        "aws:sagemaker/pipeline:Pipeline": named("sagemaker", "CreatePipeline", "PipelineName"),
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup": named(
            "sagemaker", "CreateModelPackageGroup", "ModelPackageGroupName"
        ),
        "aws:sagemaker/model:Model": named("sagemaker", "CreateModel", "ModelName"),
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration": _endpoint_config,
        "aws:sagemaker/endpoint:Endpoint": _endpoint,
        "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": _data_quality,
    },
    operations={
        "CreatePipeline": _undo("DeletePipeline", "PipelineName", replaced=True),
        "CreateModelPackageGroup": _undo(
            "DeleteModelPackageGroup", "ModelPackageGroupName", replaced=False
        ),
        "CreateModel": _undo("DeleteModel", "ModelName", replaced=True),
        "CreateEndpointConfig": _undo("DeleteEndpointConfig", "EndpointConfigName", replaced=True),
        "CreateEndpoint": _undo("DeleteEndpoint", "EndpointName", replaced=True),
        "CreateDataQualityJobDefinition": _undo(
            "DeleteDataQualityJobDefinition", "JobDefinitionName", replaced=True
        ),
    },
    already_there=frozenset({"ResourceInUse", "ResourceInUseException"}),
    gone=frozenset({"ResourceNotFound"}),
    holds_data=frozenset({"ConflictException"}),
    duplicate=_duplicate,
)
