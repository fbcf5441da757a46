"""CloudWatch in local mode: metric alarms and dashboards."""

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


def _alarm(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = inputs(r, "name", "dimensions")
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


SERVICE = LocalService(
    "cloudwatch",
    resources={
        "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
        "aws:cloudwatch/dashboard:Dashboard": named("cloudwatch", "PutDashboard", "DashboardName"),
    },
    operations={
        "PutMetricAlarm": Operation(
            delete=lambda p, _: [
                ApiCall("cloudwatch", "DeleteAlarms", {"AlarmNames": [p["AlarmName"]]})
            ]
        ),
        "PutDashboard": Operation(
            delete=lambda p, _: [
                ApiCall("cloudwatch", "DeleteDashboards", {"DashboardNames": [p["DashboardName"]]})
            ]
        ),
    },
    gone=frozenset({"ResourceNotFound", "ResourceNotFoundException"}),
)
