"""Windows of data for the drift check: files, captured traffic, and rolling windows.

A window is a mapping of feature name to column: a NumPy float array for numbers (NaN marks a
missing value) or a pyarrow array for categories (strings, booleans, or integers named as
categorical; nulls are missing). What reads them:

* :func:`read_window`: a CSV or Parquet file (pyarrow's readers: a million rows in well under a
  second), or SageMaker data-capture JSON lines (a file, or a folder of them);
* :func:`captured_source`: the captured traffic of an endpoint straight from the lake, input
  features and the model's prediction, one capture object a chunk;
* :func:`rolling_windows`: captured traffic split into consecutive windows by time (scenario II:
  no training data, so production windows are compared with each other).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
        column = table.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
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
            f"{len(keys)} capture object(s) cannot make {count} windows: windows are cut"
            " between capture objects (oldest first, about equal numbers of objects each), so"
            f" {count} windows need at least {count} objects; capture more traffic or compare"
            " fewer windows"
        )
    ordered = sorted(keys, key=capture_time)
    bounds = np.linspace(0, len(ordered), count + 1).round().astype(int)
    return [ordered[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# --- windows read chunk by chunk --------------------------------------------------------------

CHUNK_ROWS = 262_144  # rows per chunk read from Parquet (memory: a chunk and the summaries)
CSV_BLOCK = 32 << 20  # bytes per chunk read from CSV
Chunks = Callable[[Sequence[str] | None], Iterator[Window]]


@dataclass(frozen=True)
class Source:
    """A window read chunk by chunk, as often as needed, never held whole.

    Attributes:
        label: what it is, for messages.
        columns: the window's column names.
        chunks: the chunks of the window, of the named columns (all when None).
        ranges: each numeric column's (min, max) without reading the data (Parquet
            statistics), or None.
        path: the file it reads (engines that read files themselves: Spark).
    """

    label: str
    columns: list[str]
    chunks: Chunks
    ranges: Callable[[], dict[str, tuple[float, float]] | None] = lambda: None
    path: Path | None = None


def memory_source(window: Mapping[str, Any], label: str = "window") -> Source:
    """A window held in memory, as one chunk."""

    def chunks(columns: Sequence[str] | None) -> Iterator[Window]:
        yield {k: window[k] for k in (columns or window)}

    return Source(label, list(window), chunks)


def file_source(
    path: Path, features: Sequence[str] = (), categorical: Iterable[str] = ()
) -> Source:
    """A CSV or Parquet file (or captured .jsonl, or a folder of it) read chunk by chunk.

    Parquet is read by record batches of :data:`CHUNK_ROWS` rows (text columns as dictionaries,
    which are counted without decoding each string), CSV by blocks, capture files one by one.

    Raises:
        MonitoringInputError: the path is missing, of an unknown kind, or unreadable.
    """
    if not path.exists():
        raise MonitoringInputError(f"{path} does not exist")
    suffix = path.suffix.lower()
    forced = list(categorical)
    if path.is_dir() or suffix in (".jsonl", ".json"):
        files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise MonitoringInputError(f"{path} holds no captured .jsonl files")
        objects = [(str(f), _text_of(f)) for f in files]
        return _capture_source(str(path), objects, features, forced)
    if suffix in (".parquet", ".pq"):
        return _guarded(_parquet_source(lambda: str(path), str(path), forced, path), path)
    if suffix == ".csv":
        return _guarded(_csv_source(lambda: str(path), str(path), forced, path), path)
    raise MonitoringInputError(
        f"{path}: unknown kind of file; use .csv, .parquet, or captured .jsonl (or a folder)"
    )


def bytes_source(body: bytes, parquet: bool, label: str, categorical: Iterable[str] = ()) -> Source:
    """A Parquet or CSV object held as bytes (a dataset version), read chunk by chunk."""
    import io

    make = _parquet_source if parquet else _csv_source
    return _guarded(make(lambda: io.BytesIO(body), label, list(categorical), None), Path(label))


def _guarded(make: Callable[[], Source], path: Path) -> Source:
    try:
        return make()
    except MonitoringInputError:
        raise
    except Exception as exc:  # pyarrow raises many types for bad files
        raise MonitoringInputError(f"cannot read {path}: {str(exc)[:300]}") from None


def _reading(label: str, chunks: Chunks) -> Chunks:
    def guarded(columns: Sequence[str] | None) -> Iterator[Window]:
        try:
            yield from chunks(columns)
        except MonitoringInputError:
            raise
        except Exception as exc:  # pyarrow raises many types for bad files
            raise MonitoringInputError(f"cannot read {label}: {str(exc)[:300]}") from None

    return guarded


def _parquet_source(
    opener: Callable[[], Any], label: str, categorical: list[str], path: Path | None
) -> Callable[[], Source]:
    def make() -> Source:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(opener()).schema_arrow
        text = [
            f.name
            for f in schema
            if pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type)
        ]
        _check_forced(categorical, schema.names)

        def chunks(columns: Sequence[str] | None) -> Iterator[Window]:
            handle = pq.ParquetFile(opener(), read_dictionary=text)
            names = list(columns or schema.names)
            forced = [c for c in categorical if c in names]
            for batch in handle.iter_batches(CHUNK_ROWS, columns=names):
                yield from_arrow(batch, forced)

        def ranges() -> dict[str, tuple[float, float]] | None:
            return _parquet_ranges(pq.ParquetFile(opener()), categorical)

        return Source(label, list(schema.names), _reading(label, chunks), ranges, path)

    return make


def _parquet_ranges(handle: Any, categorical: list[str]) -> dict[str, tuple[float, float]] | None:
    """Numeric columns' min and max from the row groups' statistics (None if any lacks them)."""
    import pyarrow as pa

    meta, schema = handle.metadata, handle.schema_arrow
    numeric = [
        i for i, f in enumerate(schema)
        if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
        and f.name not in categorical
    ]  # fmt: skip
    found: dict[str, tuple[float, float]] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in numeric:
            stats = group.column(i).statistics
            if stats is None or not stats.has_min_max:
                return None
            low, high = float(stats.min), float(stats.max)
            if not (np.isfinite(low) and np.isfinite(high)):
                return None  # infinities are missing values here: read the data instead
            name = schema.names[i]
            old = found.get(name, (low, high))
            found[name] = (min(old[0], low), max(old[1], high))
    return found


def _csv_source(
    opener: Callable[[], Any], label: str, categorical: list[str], path: Path | None
) -> Callable[[], Source]:
    def make() -> Source:
        import pyarrow as pa
        import pyarrow.csv as pv

        schema = pv.open_csv(opener(), read_options=pv.ReadOptions(block_size=CSV_BLOCK)).schema
        _check_forced(categorical, schema.names)
        # Whole numbers in the first block may be followed by fractions: read numbers as floats.
        types = {f.name: pa.float64() for f in schema if pa.types.is_integer(f.type)}

        def chunks(columns: Sequence[str] | None) -> Iterator[Window]:
            convert = pv.ConvertOptions(
                column_types=types,
                include_columns=list(columns or schema.names),
                strings_can_be_null=True,  # an empty field is a missing value, not a category
            )
            read = pv.ReadOptions(block_size=CSV_BLOCK)
            forced = [c for c in categorical if c in convert.include_columns]
            for batch in pv.open_csv(opener(), read_options=read, convert_options=convert):
                yield from_arrow(batch, forced)

        return Source(label, list(schema.names), _reading(label, chunks), path=path)

    return make


def _check_forced(categorical: Iterable[str], names: Sequence[str]) -> None:
    unknown = set(categorical) - set(names)
    if unknown:
        raise MonitoringInputError(
            f"no column(s) {', '.join(sorted(unknown))} to read as categories"
        )


def _capture_source(
    label: str,
    objects: Sequence[tuple[str, Callable[[], str]]],
    features: Sequence[str],
    categorical: Sequence[str],
    progress: Progress = no_progress,
) -> Source:
    def chunks(columns: Sequence[str] | None) -> Iterator[Window]:
        total = len(objects)
        for index, (name, read) in enumerate(objects):
            progress(index, total, name)
            window = from_capture(read().splitlines(), features, categorical)
            yield {k: window[k] for k in (columns or window)}
        progress(total, total, "read")

    return Source(label, [*features, PREDICTION], _reading(label, chunks))


def captured_source(
    lake: ObjectStore,
    endpoint: str,
    features: Sequence[str],
    keys: Sequence[str] = (),
    categorical: Iterable[str] = (),
    progress: Progress = no_progress,
) -> Source:
    """An endpoint's captured traffic (or the objects ``keys``), one capture object a chunk.

    ``progress`` hears of each capture object as it is read; ``categorical`` features (the
    contract's ``category`` and ``bool`` ones) are read as categories whatever their values look
    like.

    Raises:
        MonitoringInputError: nothing was captured yet.
    """
    keys = list(keys) or captured_keys(lake, endpoint)
    if not keys:
        raise MonitoringInputError(
            f"no traffic captured for {endpoint} yet: send requests to the endpoint first"
        )

    def reader(key: str) -> Callable[[], str]:
        return lambda: lake.get("capture", key).decode()

    objects = [(k, reader(k)) for k in keys]
    return _capture_source(endpoint, objects, features, list(categorical), progress)


def _text_of(path: Path) -> Callable[[], str]:
    return path.read_text
