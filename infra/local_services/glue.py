"""Glue in local mode: the lake's catalogue database."""

from __future__ import annotations

from mlops.infra.api_shapes import request
from mlops.infra.local_services.base import (
    ApiCall,
    Context,
    Ids,
    LocalService,
    Operation,
    Params,
    inputs,
)
from mlops.infra.mock_runtime import MockedResource


def _database(r: MockedResource, ctx: Context) -> list[ApiCall]:
    database = request("glue", "CreateDatabase", {"databaseInput": inputs(r)})["DatabaseInput"]
    return [ApiCall("glue", "CreateDatabase", {"DatabaseInput": database})]


def _database_update(old: Params, new: Params, _ids: Ids) -> list[ApiCall]:
    database = new["DatabaseInput"]
    return [
        ApiCall("glue", "UpdateDatabase", {"Name": database["Name"], "DatabaseInput": database})
    ]


SERVICE = LocalService(
    "glue",
    resources={"aws:glue/catalogDatabase:CatalogDatabase": _database},
    operations={
        "CreateDatabase": Operation(
            delete=lambda p, _: [
                ApiCall("glue", "DeleteDatabase", {"Name": p["DatabaseInput"]["Name"]})
            ],
            update=_database_update,
        ),
    },
    already_there=frozenset({"AlreadyExistsException"}),
    gone=frozenset({"EntityNotFoundException"}),
)
