"""IAM in local mode: roles and their inline policies."""

from __future__ import annotations

from mlops.infra.local_services.base import (
    ApiCall,
    Context,
    Ids,
    LocalService,
    Operation,
    Params,
)
from mlops.infra.mock_runtime import MockedResource


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


def _role_update(old: Params, new: Params, _ids: Ids) -> list[ApiCall]:
    name = new["RoleName"]
    return [
        ApiCall(
            "iam",
            "UpdateAssumeRolePolicy",
            {"RoleName": name, "PolicyDocument": new["AssumeRolePolicyDocument"]},
        ),
        ApiCall("iam", "UpdateRole", {"RoleName": name, "Description": new.get("Description", "")}),
    ]


SERVICE = LocalService(
    "iam",
    resources={"aws:iam/role:Role": _role, "aws:iam/rolePolicy:RolePolicy": _role_policy},
    operations={
        "CreateRole": Operation(
            delete=lambda p, _: [ApiCall("iam", "DeleteRole", {"RoleName": p["RoleName"]})],
            update=_role_update,
        ),
        "PutRolePolicy": Operation(
            delete=lambda p, _: [
                ApiCall(
                    "iam",
                    "DeleteRolePolicy",
                    {"RoleName": p["RoleName"], "PolicyName": p["PolicyName"]},
                )
            ]
        ),
    },
    already_there=frozenset({"EntityAlreadyExists"}),
    gone=frozenset({"NoSuchEntity"}),
)
