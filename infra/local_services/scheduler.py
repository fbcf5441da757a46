"""EventBridge Scheduler in local mode: schedules (the drift check's).

The embedded endpoint records a schedule and its target; it does not fire them, so locally
``mlops monitor run`` runs the check the schedule would start (:mod:`mlops.pipelines.monitor_job`).
"""

from __future__ import annotations

from typing import Any

from mlops.infra.local_services.base import ApiCall, Context, LocalService, Operation
from mlops.infra.mock_runtime import MockedResource


def _target(target: dict[str, Any]) -> dict[str, Any]:
    """The provider's target block as the API's ``Target`` (names differ, as for EventBridge)."""
    made: dict[str, Any] = {"Arn": target["arn"], "RoleArn": target["roleArn"]}
    pipeline = target.get("sagemakerPipelineParameters")
    if pipeline is not None:
        made["SageMakerPipelineParameters"] = {
            "PipelineParameterList": [
                {"Name": p["name"], "Value": p["value"]}
                for p in pipeline.get("pipelineParameters") or []
            ]
        }
    retry = target.get("retryPolicy")
    if retry is not None:
        made["RetryPolicy"] = {
            "MaximumEventAgeInSeconds": int(retry["maximumEventAgeInSeconds"]),
            "MaximumRetryAttempts": int(retry["maximumRetryAttempts"]),
        }
    return made


def _schedule(r: MockedResource, ctx: Context) -> list[ApiCall]:
    inputs = r.inputs
    params: dict[str, Any] = {
        "Name": inputs.get("name") or r.name,
        "ScheduleExpression": inputs["scheduleExpression"],
        "FlexibleTimeWindow": {"Mode": inputs.get("flexibleTimeWindow", {}).get("mode", "OFF")},
        "Target": _target(inputs["target"]),
    }
    if inputs.get("description"):
        params["Description"] = inputs["description"]
    return [ApiCall("scheduler", "CreateSchedule", params)]


SERVICE = LocalService(
    "scheduler",
    resources={"aws:scheduler/schedule:Schedule": _schedule},
    operations={
        "CreateSchedule": Operation(
            delete=lambda p, _: [ApiCall("scheduler", "DeleteSchedule", {"Name": p["Name"]})],
            update=lambda _old, new, _ids: [ApiCall("scheduler", "UpdateSchedule", new)],
        ),
    },
    already_there=frozenset({"ConflictException"}),
    gone=frozenset({"ResourceNotFoundException"}),
)
