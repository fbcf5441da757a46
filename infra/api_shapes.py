"""Turn Pulumi resource inputs into AWS API requests, guided by the API's own shapes.

Keys are matched to the operation's input shape case-insensitively and without underscores
(``memorySizeInMb`` finds ``MemorySizeInMB``), numbers are narrowed to integers where the shape
says so (Pulumi's wire format carries every number as a float), and a key the shape does not
know is an error rather than silently dropped. The contract tests and the local bootstrap both
build their requests with :func:`request`.
"""

from __future__ import annotations

from functools import cache
from typing import Any


class UnknownInputError(ValueError):
    """Inputs that have no counterpart in the API request."""


def _norm(key: str) -> str:
    return key.replace("_", "").lower()


@cache
def input_shape(service: str, operation: str) -> Any:
    """Botocore's input shape of ``service.operation``."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape


def convert(shape: Any, value: Any, path: str, unknown: list[str]) -> Any:
    """Convert ``value`` to ``shape``, collecting keys the shape lacks into ``unknown``."""
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
        return int(value)
    return value


def request(service: str, operation: str, inputs: dict[str, Any], **fixed: Any) -> dict[str, Any]:
    """The API request for ``inputs``; ``fixed`` are set verbatim (names, reshaped fields).

    Raises:
        UnknownInputError: an input has no counterpart in the API's request shape.
    """
    unknown: list[str] = []
    converted = convert(input_shape(service, operation), inputs, operation, unknown)
    if unknown:
        raise UnknownInputError(f"inputs the {operation} API does not know: {unknown}")
    return {**converted, **fixed}
