"""Tables, data contracts, dataset versions and splits.

A dataset version is content-addressed: its key holds the sha256 of the exact bytes ingested,
so ingesting the same file twice creates nothing new and a version is never overwritten.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.core import yamlfile
from mlops.core.errors import DataError, UserError
from mlops.pipelines.ports import ObjectStore

Columns = dict[str, np.ndarray]  # feature name -> values (see :func:`feature_columns`)

# What a ``bool`` column may hold, as text (case does not matter) or as a number.
BOOL_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}


@dataclass(frozen=True)
class Table:
    """Named columns of equal length: numbers in ``values`` (NaN marks a missing value).

    A column with text in it is NaN in ``values`` and named in ``text`` with its first
    non-number, so validation can say whether it breaks the contract or is not in the contract at
    all; its cells are kept in ``raw`` (str, None when empty), which is what a ``category`` or
    ``bool`` column reads.
    """

    columns: tuple[str, ...]
    values: np.ndarray  # shape (rows, columns), float64
    text: Mapping[str, str] = field(default_factory=dict)  # column -> "line N: 'value'"
    raw: Mapping[str, np.ndarray] = field(default_factory=dict)  # text column -> its cells

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def column(self, name: str) -> np.ndarray:
        """One column's values."""
        return self.values[:, self.columns.index(name)]

    def select(self, names: list[str]) -> np.ndarray:
        """Several columns as a (rows, len(names)) array."""
        return self.values[:, [self.columns.index(n) for n in names]]

    def labels(self, name: str) -> np.ndarray:
        """One column as text labels (an object array; None marks a missing value).

        A number reads as its shortest text: ``1.0`` is ``"1"``, as a category declares it.
        """
        if name in self.raw:
            return self.raw[name]
        return np.array([label(v) for v in self.column(name)], dtype=object)

    def take(self, index: np.ndarray) -> Table:
        """Rows at ``index``."""
        raw = {name: cells[index] for name, cells in self.raw.items()}
        return Table(self.columns, self.values[index], self.text, raw)


def label(value: Any) -> str | None:
    """A cell as a category's text: None for a missing value, ``"1"`` for ``1.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def read_table(body: bytes, source: str, fmt: str = "csv") -> Table:
    """Parse CSV or Parquet bytes into a :class:`Table`.

    Raises:
        DataError: empty, malformed, ragged, or non-numeric data; the message names where.
    """
    if not body.strip():
        raise DataError(source, ["file is empty"])
    if fmt == "parquet":
        return _read_parquet(body, source)
    try:
        rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(source, [f"not a readable CSV file: {exc}"]) from None
    header, data = rows[0], [r for r in rows[1:] if r]
    if not data:
        raise DataError(source, ["has a header but no data rows"])
    problems = [
        f"line {i}: {len(r)} fields, expected {len(header)}"
        for i, r in enumerate(rows[1:], start=2)
        if r and len(r) != len(header)
    ]
    if problems:
        raise DataError(source, ["malformed CSV", *problems[:5]])
    values = np.empty((len(data), len(header)))
    text: dict[str, str] = {}
    for i, row in enumerate(data):
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell) if cell.strip() else math.nan
            except ValueError:
                values[i, j] = math.nan
                text.setdefault(header[j], f"line {i + 2}: {cell!r}")
    raw = {
        name: np.array([row[j].strip() or None for row in data], dtype=object)
        for j, name in enumerate(header)
        if name in text
    }
    return Table(tuple(header), values, text, raw)


def _read_parquet(body: bytes, source: str) -> Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(body))
    except Exception as exc:  # pyarrow raises many types for bad files
        raise DataError(source, [f"not a readable Parquet file: {exc}"]) from None
    columns, text, cells = [], {}, {}
    for name in table.column_names:
        raw = table.column(name).to_numpy(zero_copy_only=False)
        try:
            columns.append(raw.astype(float))
        except (ValueError, TypeError):
            columns.append(np.full(len(raw), math.nan))
            text[name] = f"row 1 or later: {raw[0]!r}"
            cells[name] = np.array([label(v) for v in raw], dtype=object)
    return Table(tuple(table.column_names), np.column_stack(columns), text, cells)


class ColumnRule(BaseModel):
    """What one column may hold.

    ``int`` and ``float`` columns hold numbers within ``[min, max]``; a ``bool`` column holds
    true/false (or 1/0); a ``category`` column holds one of its declared ``values``, and
    ``unknown`` says what a value not declared means: ``error`` (the default) refuses it in
    validation and in serving, ``ignore`` accepts it and the features transform encodes it as
    no category at all (an all-zero one-hot).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["int", "float", "bool", "category"] = "float"
    min: float = -math.inf
    max: float = math.inf
    max_missing: float = Field(default=0.0, ge=0, le=1)
    values: list[str] | None = None
    unknown: Literal["error", "ignore"] = "error"

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, values: Any) -> Any:
        """``values: [1, 2]`` declares the categories ``"1"`` and ``"2"``."""
        if isinstance(values, list):
            return [label(v) if isinstance(v, int | float) else v for v in values]
        return values

    @model_validator(mode="after")
    def _fits_its_type(self) -> ColumnRule:
        if self.type == "category":
            if not self.values:
                raise ValueError("a category column declares its values: values: [a, b, ...]")
            if len(set(self.values)) != len(self.values):
                raise ValueError("a category's values must be different from each other")
        elif self.values is not None:
            raise ValueError(f"values are declared for a category column, not a {self.type}")
        elif self.unknown != "error":
            raise ValueError("unknown applies to a category column only")
        if self.type in ("category", "bool") and (self.min, self.max) != (-math.inf, math.inf):
            raise ValueError(f"min and max apply to numbers, not to a {self.type} column")
        return self

    @property
    def categorical(self) -> bool:
        """Whether the column's values are categories (``category`` or ``bool``)."""
        return self.type in ("category", "bool")


class DataContract(BaseModel):
    """The project's data contract (``data/contract.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    label: str
    task: Literal["classification", "regression"] = "classification"
    columns: dict[str, ColumnRule]

    @property
    def features(self) -> list[str]:
        """Every contract column but the label, in contract order."""
        return [c for c in self.columns if c != self.label]

    @property
    def categorical(self) -> list[str]:
        """Features whose values are categories (``category`` and ``bool``), in contract order."""
        return [c for c in self.features if self.columns[c].categorical]

    @classmethod
    def load(cls, path: Path) -> DataContract:
        """Read a contract file.

        Raises:
            UserError: the file is missing, is not YAML, or breaks the contract's schema (one
                line that names the file and each broken rule).
        """
        try:
            data, lines = yamlfile.load_with_lines(path)
            return cls.model_validate(data)
        except yamlfile.YamlFileError as exc:
            raise UserError(f"{exc.source} is not a valid data contract: {exc.reason}") from None
        except ValidationError as exc:
            problems = _one_line(exc, lines)
            raise UserError(f"{path} is not a valid data contract: {problems}") from None

    @classmethod
    def from_json(cls, body: bytes, source: str) -> DataContract:
        """A contract stored as JSON (inside a model artifact).

        Raises:
            UserError: the JSON is not a contract.
        """
        try:
            return cls.model_validate_json(body)
        except ValidationError as exc:
            raise UserError(f"{source} is not a valid data contract: {_one_line(exc)}") from None

    def to_json(self) -> bytes:
        """The contract as JSON, columns in contract order: what a model artifact stores.

        Unbounded ranges and undeclared values are left out (JSON has no infinity).
        """
        data = self.model_dump(mode="json")
        for rule in data["columns"].values():
            for key in ("min", "max", "values"):
                if rule[key] is None or rule[key] in (math.inf, -math.inf):
                    del rule[key]
        return json.dumps(data, indent=1, allow_nan=False).encode()

    @property
    def sha256(self) -> str:
        """Digest of the contract's meaning (not its comments or layout): part of a run's id."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _one_line(exc: ValidationError, lines: yamlfile.Lines | None = None) -> str:
    """Pydantic's errors as one line: ``columns.plan: values ...; label: Field required``.

    With the file's ``lines`` (:func:`mlops.core.yamlfile.load_with_lines`), each error starts
    with the line of the key it is about (or of the nearest key written above it):
    ``line 7: columns.plan.type: ...``.
    """
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "the file"
        message = str(error["msg"]).removeprefix("Value error, ")
        line = yamlfile.line_of(lines, error["loc"]) if lines else None
        parts.append(f"line {line}: {where}: {message}" if line else f"{where}: {message}")
    return "; ".join(parts)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of checking a table against a contract."""

    rows: int
    problems: list[str] = field(default_factory=list)
    missing_rates: dict[str, float] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # columns the contract does not name

    @property
    def passed(self) -> bool:
        """Whether no rule was broken."""
        return not self.problems


def validate(table: Table, contract: DataContract) -> ValidationReport:
    """Check schema, types, missing-value rates and ranges; every broken rule is reported."""
    missing = [c for c in contract.columns if c not in table.columns]
    problems = [f"missing column {c}" for c in missing]
    # Columns the contract does not name are not the model's: noted, never trained on.
    ignored = [c for c in table.columns if c not in contract.columns]
    problems += [
        f"column {c}, {where} is not a number"
        for c, where in table.text.items()
        if c in contract.columns and not contract.columns[c].categorical
    ]
    rates: dict[str, float] = {}
    for name, rule in contract.columns.items():
        if name in missing:
            continue
        if rule.categorical:
            rates[name], found = _check_categories(name, rule, table.labels(name))
            problems += found
            continue
        values = table.column(name)
        present = values[~np.isnan(values)]
        rates[name] = round(1 - len(present) / max(len(values), 1), 6)
        if rates[name] > rule.max_missing and name not in table.text:  # text: reported above
            problems.append(
                f"{name}: {rates[name]:.1%} missing, at most {rule.max_missing:.1%} allowed"
            )
        if rule.type == "int" and not np.all(np.mod(present, 1) == 0):
            problems.append(f"{name}: expected integers")
        outside = int(((present < rule.min) | (present > rule.max)).sum())
        if outside:
            problems.append(f"{name}: {outside} value(s) outside [{rule.min:g}, {rule.max:g}]")
    if contract.task == "classification" and contract.label in table.columns:
        labels = table.column(contract.label)
        classes = np.unique(labels[~np.isnan(labels)])
        if len(classes) < 2:
            seen = ", ".join(f"{c:g}" for c in classes) or "none"
            problems.append(
                f"{contract.label}: {len(classes)} class(es) ({seen}); a classifier needs at"
                " least two, so the data must hold examples of each outcome"
            )
    return ValidationReport(len(table), problems, rates, ignored)


def _check_categories(name: str, rule: ColumnRule, cells: np.ndarray) -> tuple[float, list[str]]:
    """A ``category`` or ``bool`` column's missing rate and broken rules."""
    present = [c for c in cells if c is not None]
    rate = round(1 - len(present) / max(len(cells), 1), 6)
    problems = []
    if rate > rule.max_missing:
        problems.append(f"{name}: {rate:.1%} missing, at most {rule.max_missing:.1%} allowed")
    if rule.type == "bool":
        bad = [c for c in present if str(c).lower() not in BOOL_TEXT]
        if bad:
            problems.append(f"{name}: {len(bad)} value(s) not true/false, e.g. {bad[0]!r}")
    elif rule.unknown == "error":
        declared = set(rule.values or ())
        bad = [c for c in present if c not in declared]
        if bad:
            allowed = ", ".join(rule.values or ())
            problems.append(
                f"{name}: {len(bad)} value(s) not among its declared values ({allowed}),"
                f" e.g. {bad[0]!r}"
            )
    return rate, problems


def feature_columns(table: Table, contract: DataContract) -> Columns:
    """The contract's features as named columns, in contract order: what ``train()`` receives.

    ``int`` and ``float`` features are float arrays (NaN missing), ``bool`` features float
    arrays of 1.0 and 0.0 (NaN missing), ``category`` features object arrays of their text
    (None missing).
    """
    columns: Columns = {}
    for name in contract.features:
        kind = contract.columns[name].type
        if kind == "category":
            columns[name] = table.labels(name)
        elif kind == "bool":
            columns[name] = np.array(
                [math.nan if c is None else BOOL_TEXT.get(str(c).lower(), math.nan)
                 for c in table.labels(name)],
                dtype=np.float64,
            )  # fmt: skip
        else:
            columns[name] = table.column(name)
    return columns


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable, content-addressed dataset in the lake.

    Attributes:
        sha256: digest of the ingested bytes.
        key: the data object's key under the ``datasets`` place.
        manifest: sha256, rows, schema and source.
        created: whether this ingest wrote it (False: the same bytes were already there).
    """

    sha256: str
    key: str
    manifest: dict[str, Any]
    created: bool


FORMATS = ("csv", "parquet")


def data_format(path: Path) -> str:
    """``parquet`` for a ``.parquet`` file, else ``csv``."""
    return "parquet" if path.suffix.lower() == ".parquet" else "csv"


def version_prefix(name: str, sha256: str) -> str:
    """Where a dataset version lives under the ``datasets`` place: data and manifest."""
    return f"{name}/sha256={sha256}/"


def version_key(name: str, sha256: str, fmt: str) -> str:
    """The data object of a dataset version, under the ``datasets`` place."""
    return f"{version_prefix(name, sha256)}data.{fmt}"


def find_data_file(directory: Path) -> Path:
    """The dataset in a job's input directory.

    That is ``data.csv``/``data.parquet`` of a dataset version (its ``manifest.json`` beside it
    is skipped), else the only CSV or Parquet file.

    Raises:
        DataError: no data file, or several that could each be it.
    """
    for fmt in FORMATS:
        if (directory / f"data.{fmt}").is_file():
            return directory / f"data.{fmt}"
    found = sorted(p for p in directory.glob("*") if p.suffix.lower() in {".csv", ".parquet"})
    if len(found) != 1:
        what = "no CSV or Parquet file" if not found else f"{len(found)} data files"
        raise DataError(directory, [f"{what}; expected one (data.csv or data.parquet)"])
    return found[0]


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(path, [exc.strerror or str(exc)]) from None


def read_file(path: Path) -> tuple[Table, str]:
    """Read a local CSV or Parquet file; return the table and the sha256 of its bytes.

    Raises:
        DataError: the file is missing, unreadable, empty or malformed.
    """
    body = _read_bytes(path)
    return read_table(body, str(path), data_format(path)), hashlib.sha256(body).hexdigest()


def ingest(lake: ObjectStore, path: Path, name: str) -> DatasetVersion:
    """Copy a local CSV or Parquet file into the lake's raw zone as a dataset version.

    Raises:
        DataError: the file is missing, unreadable, empty or malformed.
    """
    fmt = data_format(path)
    body = _read_bytes(path)
    table, digest = read_table(body, str(path), fmt), hashlib.sha256(body).hexdigest()
    base = version_prefix(name, digest).rstrip("/")
    manifest: dict[str, Any] = {
        "name": name,
        "sha256": digest,
        "rows": len(table),
        "schema": {c: "string" if c in table.text else "float64" for c in table.columns},
        "format": fmt,
        "source": str(path),
        "key": version_key(name, digest, fmt),
    }
    key = str(manifest["key"])
    manifest_key = f"{base}/manifest.json"
    created = lake.put_once("datasets", key, body)
    if not created:
        # The same bytes were ingested before: that ingest's manifest stands, if it is whole.
        stored = _stored_manifest(lake, manifest_key, digest)
        if stored is not None:
            return DatasetVersion(digest, key, stored, False)
    # A new version, or one whose manifest an interrupted ingest never wrote (or left corrupt):
    # the manifest is derived from the verified bytes, so writing it again loses nothing.
    lake.put("datasets", manifest_key, json.dumps(manifest, sort_keys=True).encode())
    return DatasetVersion(digest, key, manifest, created)


def _stored_manifest(lake: ObjectStore, key: str, digest: str) -> dict[str, Any] | None:
    """The stored manifest of a version, or None when it is missing, corrupt or another's."""
    if not lake.exists("datasets", key):
        return None
    try:
        stored = json.loads(lake.get("datasets", key))
    except ValueError:
        return None
    return stored if isinstance(stored, dict) and stored.get("sha256") == digest else None


def load_version(lake: ObjectStore, version: DatasetVersion) -> Table:
    """Read a dataset version back from the lake."""
    return read_table(lake.get("datasets", version.key), version.key, version.manifest["format"])


# The split every executor uses unless a run names another seed.
SPLIT_SEED = 7
SPLIT_FRACTIONS = (0.7, 0.15)


def split(
    table: Table, seed: int = SPLIT_SEED, fractions: tuple[float, float] = SPLIT_FRACTIONS
) -> tuple[Table, Table, Table]:
    """Shuffle once with ``seed`` and cut into train, validation and test."""
    order = np.random.default_rng(seed).permutation(len(table))
    n_train = int(len(order) * fractions[0])
    n_val = int(len(order) * fractions[1])
    return (
        table.take(order[:n_train]),
        table.take(order[n_train : n_train + n_val]),
        table.take(order[n_train + n_val :]),
    )
