"""KMS in local mode: keys (rotation turned on as they are created) and their aliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.infra.api_shapes import request
from mlops.infra.local_services.base import (
    ApiCall,
    Context,
    Ids,
    LocalService,
    Operation,
    Params,
    inputs,
    tag_list,
)
from mlops.infra.mock_runtime import MockedResource


def _key(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = inputs(r, "enableKeyRotation", "deletionWindowInDays")
    params = request("kms", "CreateKey", body, Tags=tag_list(r, "TagKey", "TagValue"))
    return [ApiCall("kms", "CreateKey", params)]


def _alias(r: MockedResource, ctx: Context) -> list[ApiCall]:
    key = ctx.key_ids.get(r.inputs["targetKeyId"].removesuffix("-key-id"), r.inputs["targetKeyId"])
    return [ApiCall("kms", "CreateAlias", {"AliasName": r.inputs["name"], "TargetKeyId": key})]


def _key_update(old: Params, new: Params, ids: Ids) -> list[ApiCall]:
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


def _key_delete(p: Params, ids: Ids) -> list[ApiCall]:
    if "KeyId" not in ids:
        return []
    params = {"KeyId": ids["KeyId"], "PendingWindowInDays": 7}
    return [ApiCall("kms", "ScheduleKeyDeletion", params)]


def _alias_update(old: Params, new: Params, _ids: Ids) -> list[ApiCall]:
    return [
        ApiCall(
            "kms", "UpdateAlias", {"AliasName": new["AliasName"], "TargetKeyId": new["TargetKeyId"]}
        )
    ]


def _rotate(api: Any, answer: Mapping[str, Any]) -> None:
    # CreateKey takes no rotation setting: the provider turns it on right after, and so do we.
    api.enable_key_rotation(KeyId=answer["KeyMetadata"]["KeyId"])


SERVICE = LocalService(
    "kms",
    resources={"aws:kms/key:Key": _key, "aws:kms/alias:Alias": _alias},
    operations={
        "CreateKey": Operation(
            delete=_key_delete,
            update=_key_update,
            ids=lambda answer: {"KeyId": answer["KeyMetadata"]["KeyId"]},
            after=_rotate,
        ),
        "CreateAlias": Operation(
            delete=lambda p, _: [ApiCall("kms", "DeleteAlias", {"AliasName": p["AliasName"]})],
            update=_alias_update,
        ),
    },
    already_there=frozenset({"AlreadyExistsException"}),
    gone=frozenset({"NotFoundException"}),
)
