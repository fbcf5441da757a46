"""Turn Pulumi inputs (as the mocks recorded them) into AWS API requests, by the API's shapes.

Keys are matched to the operation's input shape case-insensitively and without underscores, so
``memorySizeInMb`` must find ``MemorySizeInMB``; a key the shape does not know is reported, not
dropped, so a misspelt or misplaced input fails the test instead of vanishing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


@cache
def input_shape(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def convert(shape: Any, value: Any, path: str, unknown: list[str]) -> Any:
    if value is None:
        return None
    if shape.type_name == "structure":
        members = {_norm(m): m for m in shape.members}
        out = {}
        for key, item in value.items():
            member = members.get(_norm(key))
            if member is None:
                unknown.append(f"{path}.{key}")
            elif item is not None:
                out[member] = convert(shape.members[member], item, f"{path}.{member}", unknown)
        return out
    if shape.type_name == "list":
        return [convert(shape.member, item, f"{path}[]", unknown) for item in value]
    if shape.type_name == "map":
        return {k: convert(shape.value, v, f"{path}.{k}", unknown) for k, v in value.items()}
    if shape.type_name in ("integer", "long") and isinstance(value, float) and value.is_integer():
        # Pulumi's wire format carries every number as a float; the provider narrows by schema.
        return int(value)
    return value


def request(service: str, operation: str, inputs: dict[str, Any], **fixed: Any) -> dict[str, Any]:
    """The API request for ``inputs``; ``fixed`` are set verbatim (names, reshaped fields).

    Raises:
        AssertionError: an input has no counterpart in the API's request shape.
    """
    unknown: list[str] = []
    converted = convert(input_shape(service, operation), inputs, operation, unknown)
    assert not unknown, f"inputs the {operation} API does not know: {unknown}"
    return {**converted, **fixed}
