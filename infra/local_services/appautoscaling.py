"""Application Auto Scaling in local mode: the endpoint's scalable target and its policy."""

from __future__ import annotations

from typing import Any

from mlops.infra.api_shapes import request
from mlops.infra.local_services.base import ApiCall, Context, LocalService, Operation, inputs
from mlops.infra.mock_runtime import MockedResource

SERVICE_NAME = "application-autoscaling"


def _target(r: MockedResource, ctx: Context) -> list[ApiCall]:
    op = "RegisterScalableTarget"
    return [ApiCall(SERVICE_NAME, op, request(SERVICE_NAME, op, inputs(r)))]


def _scaling_policy(r: MockedResource, ctx: Context) -> list[ApiCall]:
    op = "PutScalingPolicy"
    return [ApiCall(SERVICE_NAME, op, request(SERVICE_NAME, op, inputs(r), PolicyName=r.name))]


def _scalable(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}


SERVICE = LocalService(
    SERVICE_NAME,
    resources={
        "aws:appautoscaling/target:Target": _target,
        "aws:appautoscaling/policy:Policy": _scaling_policy,
    },
    operations={
        "RegisterScalableTarget": Operation(
            delete=lambda p, _: [ApiCall(SERVICE_NAME, "DeregisterScalableTarget", _scalable(p))]
        ),
        "PutScalingPolicy": Operation(
            delete=lambda p, _: [
                ApiCall(
                    SERVICE_NAME,
                    "DeleteScalingPolicy",
                    {"PolicyName": p["PolicyName"], **_scalable(p)},
                )
            ]
        ),
    },
    gone=frozenset({"ObjectNotFoundException"}),
)
