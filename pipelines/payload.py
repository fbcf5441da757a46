"""Request bodies of SageMaker's inference contract: JSON or CSV rows, checked against the contract.

``{"instances": [[...], ...]}``, a bare JSON list of rows, or CSV lines. Every value must be a
number (``"3"`` and ``true`` are refused, not coerced), finite, and whole where the data
contract says the feature is an integer. Anything else is a :class:`PayloadError` carrying the
4xx status and a message that names the feature, never an internal resource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mlops.pipelines.data import DataContract

MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's realtime request limit


class PayloadError(ValueError):
    """A request body the model cannot score; answered with a 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RowSchema:
    """The features a request row holds, in order, and which must be whole numbers.

    Attributes:
        names: feature names, in the model's column order.
        integer: per feature, whether the contract types it ``int``.
    """

    names: tuple[str, ...]
    integer: tuple[bool, ...]

    @classmethod
    def of(cls, features: int | RowSchema) -> RowSchema:
        """A schema as given, or ``width`` untyped (float) features."""
        if isinstance(features, RowSchema):
            return features
        return cls(tuple(f"feature {i}" for i in range(features)), (False,) * features)

    @classmethod
    def from_contract(cls, contract: DataContract) -> RowSchema:
        """The contract's features, in order, with their types."""
        names = tuple(contract.features)
        return cls(names, tuple(contract.columns[n].type == "int" for n in names))

    @property
    def width(self) -> int:
        """Values per row."""
        return len(self.names)


def _require_numbers(rows: Any) -> None:
    """JSON rows must hold numbers: ``"3"`` or ``true`` are not read as 3 or 1."""
    if not isinstance(rows, list):
        raise PayloadError(400, 'expected {"instances": [[...], ...]} or a list of rows')
    for row in rows:
        if not isinstance(row, list):
            raise PayloadError(400, "each row must be a list of numbers")
        for value in row:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PayloadError(400, f"{json.dumps(value)[:40]} is not a number")


def _decode(body: bytes, kind: str) -> tuple[Any, str]:
    if kind == "text/csv":
        lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
        return [[float(v) for v in line.split(",")] for line in lines], "CSV"
    if kind in ("application/json", ""):
        payload = json.loads(body.decode("utf-8"))
        rows = payload.get("instances") if isinstance(payload, dict) else payload
        _require_numbers(rows)
        return rows, "JSON"
    raise PayloadError(415, f"unsupported content type '{kind}'; send application/json or text/csv")


def parse_rows(body: bytes, content_type: str, features: int | RowSchema) -> tuple[np.ndarray, str]:
    """Rows from a JSON or CSV body, and the encoding SageMaker would record for it.

    Raises:
        PayloadError: unsupported content type (415), or unreadable rows (400).
    """
    schema = RowSchema.of(features)
    kind = content_type.split(";")[0].strip().lower()
    try:
        rows, encoding = _decode(body, kind)
        array = np.asarray(rows, dtype=np.float64)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(400, "cannot read rows: JSON nested too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
        raise PayloadError(400, f"cannot read rows: {str(exc)[:200]}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != schema.width:
        raise PayloadError(400, f"expected a non-empty list of rows of {schema.width} numbers")
    if not np.all(np.isfinite(array)):
        raise PayloadError(400, "rows must hold finite numbers")
    _check_integers(array, schema)
    return array, encoding


def _check_integers(array: np.ndarray, schema: RowSchema) -> None:
    """Features the contract types ``int`` must hold whole numbers (``2.5`` children is a typo)."""
    if not any(schema.integer):
        return
    columns = np.flatnonzero(schema.integer)
    fractional = np.mod(array[:, columns], 1) != 0
    if fractional.any():
        row, col = (int(i) for i in np.argwhere(fractional)[0])
        name = schema.names[columns[col]]
        value = array[row, columns[col]]
        raise PayloadError(400, f"row {row + 1}: {name} must be a whole number, got {value:g}")
