"""Request bodies of SageMaker's inference contract: JSON or CSV rows, checked against the contract.

What a body may hold (``Content-Type: application/json`` or ``text/csv``):

* positional rows, values in the contract's feature order: ``{"instances": [[...], ...]}``, a
  bare JSON list of rows, or CSV lines;
* named rows, each an object of feature name to value: ``{"instances": [{"tenure": 12, ...}]}``,
  a bare list of objects, or one bare object.

Numbers must be numbers (``"3"`` and ``true`` are refused, not coerced), finite, and whole where
the contract types the feature ``int``; a ``bool`` feature takes true/false (or 1/0); a
``category`` feature takes one of its declared values, or any text where the contract says
``unknown: ignore``. Anything else is a :class:`PayloadError` carrying the 4xx status and a
message that names the feature, never an internal resource.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.pipelines.data import BOOL_TEXT, label

if TYPE_CHECKING:
    from mlops.pipelines.data import Columns, DataContract

MAX_PAYLOAD = 6 * 1024 * 1024  # SageMaker's realtime request limit


class PayloadError(ValueError):
    """A request body the model cannot score; answered with a 4xx."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RowSchema:
    """The features a request row holds, in order, with their types.

    Attributes:
        names: feature names, in the model's column order.
        integer: per feature, whether the contract types it ``int``.
        kinds: per feature, its contract type (``int``, ``float``, ``bool``, ``category``);
            empty: ``int`` or ``float`` as ``integer`` says.
        categories: per feature, its declared values (empty unless a category).
        ignore_unknown: per feature, whether an undeclared category is accepted.
        columns: whether the model takes named columns (else a float matrix).
        typed: whether the names are the contract's (messages then name the features).
    """

    names: tuple[str, ...]
    integer: tuple[bool, ...]
    kinds: tuple[str, ...] = ()
    categories: tuple[tuple[str, ...], ...] = ()
    ignore_unknown: tuple[bool, ...] = ()
    columns: bool = False
    typed: bool = True

    def __post_init__(self) -> None:
        width = len(self.names)
        if not self.kinds:
            object.__setattr__(self, "kinds", tuple("int" if i else "float" for i in self.integer))
        if not self.categories:
            object.__setattr__(self, "categories", ((),) * width)
        if not self.ignore_unknown:
            object.__setattr__(self, "ignore_unknown", (False,) * width)

    @classmethod
    def of(cls, features: int | RowSchema) -> RowSchema:
        """A schema as given, or ``width`` untyped (float) features."""
        if isinstance(features, RowSchema):
            return features
        names = tuple(f"feature {i}" for i in range(features))
        return cls(names, (False,) * features, typed=False)

    @classmethod
    def from_contract(cls, contract: DataContract, columns: bool = False) -> RowSchema:
        """The contract's features, in order, with their types.

        ``columns``: the model takes named columns (its training module's ``INPUT``).
        """
        rules = [contract.columns[n] for n in contract.features]
        return cls(
            tuple(contract.features),
            tuple(r.type == "int" for r in rules),
            tuple(r.type for r in rules),
            tuple(tuple(r.values or ()) for r in rules),
            tuple(r.unknown == "ignore" for r in rules),
            columns,
        )

    @property
    def width(self) -> int:
        """Values per row."""
        return len(self.names)

    @property
    def numeric(self) -> bool:
        """Whether every feature is a number (rows are then a float matrix)."""
        return "category" not in self.kinds

    def to_columns(self, rows: np.ndarray) -> Columns:
        """Parsed rows as named columns: numbers as floats, categories as text."""
        return {
            name: rows[:, i] if kind == "category" else rows[:, i].astype(np.float64)
            for i, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True))
        }

    def model_input(self, rows: np.ndarray) -> Any:
        """What the model's ``predict_proba`` takes: named columns or the float matrix."""
        return self.to_columns(rows) if self.columns else np.asarray(rows, dtype=np.float64)


def _require_numbers(rows: list[Any]) -> None:
    """JSON rows must hold numbers: ``"3"`` or ``true`` are not read as 3 or 1."""
    for row in rows:
        for value in row:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PayloadError(400, f"{json.dumps(value)[:40]} is not a number")


def _json_rows(payload: Any, schema: RowSchema) -> list[Any]:
    """The rows of a JSON body, named rows put in the schema's order."""
    if isinstance(payload, dict):
        rows = payload["instances"] if "instances" in payload else [payload]
    else:
        rows = payload
    if not isinstance(rows, list):
        raise PayloadError(
            400, 'expected {"instances": [...]} or a list of rows (lists, or objects of features)'
        )
    if not rows:
        raise PayloadError(400, f"expected a non-empty list of rows of {schema.width} numbers")
    return [_positional(number, row, schema) for number, row in enumerate(rows, 1)]


def _positional(number: int, row: Any, schema: RowSchema) -> list[Any]:
    if isinstance(row, list):
        return row
    if not isinstance(row, dict):
        raise PayloadError(400, "each row must be a list of values or an object of features")
    unknown = [k for k in row if k not in schema.names]
    if unknown:
        raise PayloadError(
            400,
            f"row {number}: unknown feature '{str(unknown[0])[:60]}'; this model takes"
            f" {', '.join(schema.names)}",
        )
    missing = [n for n in schema.names if n not in row]
    if missing:
        raise PayloadError(
            400,
            f"row {number}: missing feature '{missing[0]}'; this model takes"
            f" {', '.join(schema.names)}",
        )
    return [row[n] for n in schema.names]


def _width_error(rows: list[Any], schema: RowSchema) -> PayloadError:
    if not schema.typed:
        return PayloadError(400, f"expected a non-empty list of rows of {schema.width} numbers")
    number, row = next((i, r) for i, r in enumerate(rows, 1) if len(r) != schema.width)
    return PayloadError(
        400,
        f"row {number}: {len(row)} values, but this model takes {schema.width}:"
        f" {', '.join(schema.names)}",
    )


def parse_rows(body: bytes, content_type: str, features: int | RowSchema) -> tuple[np.ndarray, str]:
    """Rows from a JSON or CSV body, and the encoding SageMaker would record for it.

    The rows are a float matrix when every feature is a number, else an object matrix (floats
    and the categories' text) that :meth:`RowSchema.model_input` hands the model.

    Raises:
        PayloadError: unsupported content type (415), or unreadable rows (400).
    """
    schema = RowSchema.of(features)
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("text/csv", "application/json", ""):
        raise PayloadError(
            415, f"unsupported content type '{kind}'; send application/json or text/csv"
        )
    try:
        rows, encoding = _rows(body, kind, schema)
        if schema.kinds and all(k in ("int", "float") for k in schema.kinds):
            array = _numbers(rows, csv=encoding == "CSV")
        else:
            array = _typed(rows, schema, csv=encoding == "CSV")
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError(400, "cannot read rows: JSON nested too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
        raise PayloadError(400, f"cannot read rows: {str(exc)[:200]}") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] != schema.width:
        raise PayloadError(400, f"expected a non-empty list of rows of {schema.width} numbers")
    if schema.numeric:
        if not np.all(np.isfinite(array)):
            raise PayloadError(400, "rows must hold finite numbers")
        _check_integers(array, schema)
    return array, encoding


def _rows(body: bytes, kind: str, schema: RowSchema) -> tuple[list[list[Any]], str]:
    """The body's rows, each a list of the schema's width, and its encoding."""
    if kind == "text/csv":
        lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
        rows: list[Any] = [[v.strip() for v in line.split(",")] for line in lines]
        if not rows:
            raise PayloadError(400, f"expected a non-empty list of rows of {schema.width} numbers")
        encoding = "CSV"
    else:
        rows, encoding = _json_rows(json.loads(body.decode("utf-8")), schema), "JSON"
    if any(not isinstance(r, list) for r in rows):
        raise PayloadError(400, "each row must be a list of values or an object of features")
    if any(len(r) != schema.width for r in rows):
        raise _width_error(rows, schema)
    return rows, encoding


def _numbers(rows: list[Any], csv: bool) -> np.ndarray:
    """Rows of numbers only: the fast path (a NumPy conversion, no per-value Python)."""
    if csv:
        return np.asarray([[float(v) for v in row] for row in rows], dtype=np.float64)
    _require_numbers(rows)
    return np.asarray(rows, dtype=np.float64)


def _typed(rows: list[Any], schema: RowSchema, csv: bool) -> np.ndarray:
    """Rows with booleans or categories, value by value."""
    out = np.empty((len(rows), schema.width), dtype=np.float64 if schema.numeric else object)
    for r, row in enumerate(rows):
        for j, value in enumerate(row):
            out[r, j] = _value(r + 1, j, value, schema, csv)
    return out


def _value(row: int, j: int, value: Any, schema: RowSchema, csv: bool) -> Any:
    name, kind = schema.names[j], schema.kinds[j]
    shown = (repr(value) if csv else json.dumps(value))[:40]
    if kind == "category":
        return _category(row, j, value, schema, shown)
    if kind == "bool":
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        key = value.lower() if isinstance(value, str) else label(value)
        # JSON says true/false (or 1/0); a string "true" is refused as "3" is for a number.
        readable = csv or isinstance(value, int | float)
        if readable and key in BOOL_TEXT:
            return BOOL_TEXT[str(key)]
        raise PayloadError(400, f"row {row}: {name} must be true or false, got {shown}")
    return _number(row, name, kind, value, csv, shown)


def _number(row: int, name: str, kind: str, value: Any, csv: bool, shown: str) -> float:
    if csv:
        number = float(value) if value else math.nan
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(400, f"row {row}: {name}: {shown} is not a number")
    else:
        number = float(value)
    if not math.isfinite(number):
        raise PayloadError(400, f"row {row}: {name} must be a finite number, got {shown}")
    if kind == "int" and not number.is_integer():
        raise PayloadError(400, f"row {row}: {name} must be a whole number, got {number:g}")
    return number


def _category(row: int, j: int, value: Any, schema: RowSchema, shown: str) -> str:
    """A category's text, if declared (or accepted as unknown: ``unknown: ignore``)."""
    name = schema.names[j]
    text = value if isinstance(value, str) else label(value)
    if isinstance(value, list | dict) or not text:
        raise PayloadError(400, f"row {row}: {name} must be one of its categories, got {shown}")
    if text not in schema.categories[j] and not schema.ignore_unknown[j]:
        allowed = ", ".join(schema.categories[j])
        raise PayloadError(400, f"row {row}: {name} {shown} is not one of {allowed}")
    return text


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
