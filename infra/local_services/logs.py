"""CloudWatch Logs in local mode: log groups and their retention."""

from __future__ import annotations

from mlops.infra.local_services.base import ApiCall, Context, LocalService, Operation
from mlops.infra.mock_runtime import MockedResource


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


SERVICE = LocalService(
    "logs",
    resources={"aws:cloudwatch/logGroup:LogGroup": _log_group},
    operations={
        "CreateLogGroup": Operation(
            delete=lambda p, _: [
                ApiCall("logs", "DeleteLogGroup", {"logGroupName": p["logGroupName"]})
            ]
        ),
    },
    already_there=frozenset({"ResourceAlreadyExistsException"}),
    gone=frozenset({"ResourceNotFoundException"}),
)
