"""EventBridge in local mode: rules and their targets (Pulumi files them under cloudwatch)."""

from __future__ import annotations

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


def _event_target(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = inputs(r, "rule")
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


SERVICE = LocalService(
    "events",
    resources={
        "aws:cloudwatch/eventRule:EventRule": named("events", "PutRule", "Name"),
        "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    },
    operations={
        "PutRule": Operation(
            delete=lambda p, _: [ApiCall("events", "DeleteRule", {"Name": p["Name"]})]
        ),
        "PutTargets": Operation(
            delete=lambda p, _: [
                ApiCall(
                    "events",
                    "RemoveTargets",
                    {"Rule": p["Rule"], "Ids": [t["Id"] for t in p["Targets"]]},
                )
            ]
        ),
    },
    already_there=frozenset({"ResourceAlreadyExistsException"}),
    gone=frozenset({"ResourceNotFoundException"}),
)
