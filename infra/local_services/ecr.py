"""ECR in local mode: the image repository."""

from __future__ import annotations

from mlops.infra.api_shapes import request
from mlops.infra.local_services.base import ApiCall, Context, LocalService, Operation, inputs
from mlops.infra.mock_runtime import MockedResource


def _repository(r: MockedResource, ctx: Context) -> list[ApiCall]:
    body = inputs(r, "name", "encryptionConfigurations")
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


SERVICE = LocalService(
    "ecr",
    resources={"aws:ecr/repository:Repository": _repository},
    operations={
        "CreateRepository": Operation(
            delete=lambda p, _: [
                ApiCall("ecr", "DeleteRepository", {"repositoryName": p["repositoryName"]})
            ]
        ),
    },
    already_there=frozenset({"RepositoryAlreadyExistsException"}),
    gone=frozenset({"RepositoryNotFoundException"}),
    holds_data=frozenset({"RepositoryNotEmptyException"}),
)
