"""Windows of data for the drift check: files, captured traffic, and rolling windows.

A window is a mapping of feature name to column: a NumPy float array for numbers (NaN marks a
missing value) or a pyarrow array for categories (strings, booleans, or integers named as
categorical; nulls are missing). What reads them:

* :func:`read_window`: a CSV or Parquet file (pyarrow's readers: a million rows in well under a
  second), or SageMaker data-capture JSON lines (a file, or a folder of them);
* :func:`captured_window`: the captured traffic of an endpoint straight from the lake, input
  features and the model's prediction;
* :func:`rolling_windows`: captured traffic split into consecutive windows by time (scenario II:
  no training data, so production windows are compared with each other).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core.errors import MonitoringInputError
from mlops.core.progress import Progress, no_progress
from mlops.pipelines.ports import ObjectStore

Window = dict[str, Any]
PREDICTION = "prediction"


def from_arrow(table: Any, categorical: Iterable[str] = ()) -> Window:
    """A window from a pyarrow table.

    Numbers become float arrays; the rest (and the columns in ``categorical``) stay pyarrow
    arrays, read as categories.
    """
    import pyarrow as pa

    forced = set(categorical)
    unknown = forced - set(table.column_names)
    if unknown:
        raise MonitoringInputError(
            f"no column(s) {', '.join(sorted(unknown))} to read as categories"
        )
    window: Window = {}
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
        if numeric and name not in forced:
            window[name] = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            window[name] = column
    return window


def read_window(
    path: Path, features: Sequence[str] = (), categorical: Iterable[str] = ()
) -> Window:
    """A CSV, Parquet or data-capture file (or folder of capture files) as a window.

    ``features`` names the captured rows' columns, in order (the data contract's features);
    without it they are ``feature_1``...

    Raises:
        MonitoringInputError: the path is missing, of an unknown kind, or unreadable.
    """
    if not path.exists():
        raise MonitoringInputError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if path.is_dir() or suffix in (".jsonl", ".json"):
            files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
            if not files:
                raise MonitoringInputError(f"{path} holds no captured .jsonl files")
            lines = (line for f in files for line in f.read_text().splitlines())
            return from_capture(lines, features, categorical)
        if suffix in (".csv", ".parquet", ".pq"):
            return from_arrow(read_table_file(path), categorical)
    except MonitoringInputError:
        raise
    except Exception as exc:  # pyarrow and json raise many types for bad files
        raise MonitoringInputError(f"cannot read {path}: {str(exc)[:300]}") from None
    raise MonitoringInputError(
        f"{path}: unknown kind of file; use .csv, .parquet, or captured .jsonl (or a folder)"
    )


def read_table_file(path: Path) -> Any:
    """A Parquet (``.parquet``, ``.pq``) or else CSV file as a pyarrow table."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.csv as pv

    return pv.read_csv(path)


def from_capture(
    lines: Iterable[str], features: Sequence[str] = (), categorical: Iterable[str] = ()
) -> Window:
    """Captured exchanges (SageMaker's data-capture JSON lines) as a window.

    Each input row becomes a row of the window; the model's output for it is the
    ``prediction`` column, so outputs are monitored with the inputs. Rows sent as objects of
    named features are read by ``features`` (a feature a row lacks is missing).
    """
    rows, predictions = captured_rows(lines, features)
    width = len(rows[0]) if rows else len(features)
    names = list(features) or [f"feature_{i + 1}" for i in range(width)]
    if any(len(r) != len(names) for r in rows):
        raise MonitoringInputError(
            f"captured rows do not all hold {len(names)} values ({', '.join(names[:5])}...):"
            " was the model's input changed?"
        )
    import pyarrow as pa

    columns = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    columns[PREDICTION] = predictions
    return from_arrow(pa.table({k: _array(v) for k, v in columns.items()}), categorical)


def _array(values: list[Any]) -> Any:
    """Numbers as numbers; a column that mixes in text is read as categories by their text."""
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])


def captured_rows(
    lines: Iterable[str], features: Sequence[str] = ()
) -> tuple[list[list[Any]], list[Any]]:
    """Input rows and predictions of captured exchanges, in order.

    A request's rows may be positional lists or objects of named features (put in
    ``features`` order); a bare object is one row.
    """
    rows: list[list[Any]] = []
    predictions: list[Any] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            capture = json.loads(line)["captureData"]
            inputs = _decode(capture["endpointInput"])
            outputs = _decode(capture["endpointOutput"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MonitoringInputError(
                f"captured line {number} is not SageMaker data capture: {str(exc)[:120]}"
            ) from None
        if isinstance(inputs, dict):
            batch = inputs["instances"] if "instances" in inputs else [inputs]
        else:
            batch = inputs
        answers = outputs.get("predictions", outputs) if isinstance(outputs, dict) else outputs
        if not isinstance(batch, list) or not isinstance(answers, list):
            raise MonitoringInputError(f"captured line {number} holds no rows")
        rows.extend(_row(r, features, number) for r in batch)
        padded = list(answers) + [None] * (len(batch) - len(answers))
        predictions.extend(padded[: len(batch)])
    return rows, predictions


def _row(row: Any, features: Sequence[str], number: int) -> list[Any]:
    if isinstance(row, list):
        return row
    if isinstance(row, dict):
        if not features:
            raise MonitoringInputError(
                f"captured line {number} names its features: say which, in order (the data"
                " contract's features)"
            )
        return [row.get(name) for name in features]
    return [row]


def _decode(event: Mapping[str, Any]) -> Any:
    data = event["data"]
    if event.get("encoding") == "BASE64":
        import base64

        data = base64.b64decode(data).decode()
    if event.get("encoding") == "CSV" or "csv" in event.get("observedContentType", ""):
        return [[_number(v) for v in line.split(",")] for line in data.splitlines() if line]
    return json.loads(data)


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text.strip() or None


def captured_keys(lake: ObjectStore, endpoint: str) -> list[str]:
    """The endpoint's capture objects, oldest first (the key holds the capture time)."""
    return sorted(lake.keys("capture", f"{endpoint}/"))


def captured_window(
    lake: ObjectStore,
    endpoint: str,
    features: Sequence[str],
    keys: Sequence[str] = (),
    categorical: Iterable[str] = (),
    progress: Progress = no_progress,
) -> Window:
    """An endpoint's captured traffic (or the objects ``keys``) from the lake, as one window.

    ``progress`` hears of each capture object as it is read.

    ``categorical`` features (the contract's ``category`` and ``bool`` ones) are read as
    categories whatever their values look like.

    Raises:
        MonitoringInputError: nothing was captured yet.
    """
    keys = list(keys) or captured_keys(lake, endpoint)
    if not keys:
        raise MonitoringInputError(
            f"no traffic captured for {endpoint} yet: send requests to the endpoint first"
        )
    total = len(keys)

    def read(index: int, key: str) -> list[str]:
        progress(index, total, key)
        return lake.get("capture", key).decode().splitlines()

    lines = (line for i, key in enumerate(keys) for line in read(i, key))
    window = from_capture(lines, features, categorical)
    progress(total, total, "read")
    return window


def capture_time(key: str) -> datetime:
    """When a capture object was written, from its key (``.../YYYY/MM/DD/HH/mm-ss-fff-id``)."""
    parts = key.split("/")
    year, month, day, hour = (int(p) for p in parts[-5:-1])
    minute, second = (int(p) for p in parts[-1].split("-")[:2])
    return datetime(year, month, day, hour, minute, second)  # keys are UTC


def rolling_windows(keys: Sequence[str], count: int) -> list[list[str]]:
    """Split capture objects, oldest first, into ``count`` consecutive windows.

    The windows are of about equal size; scenario II compares each with the one before it.

    Raises:
        MonitoringInputError: fewer objects than windows.
    """
    if count < 2:
        raise MonitoringInputError("compare at least 2 windows")
    if len(keys) < count:
        raise MonitoringInputError(
            f"{len(keys)} capture object(s) cannot make {count} windows: capture more traffic"
        )
    ordered = sorted(keys, key=capture_time)
    bounds = np.linspace(0, len(ordered), count + 1).round().astype(int)
    return [ordered[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
