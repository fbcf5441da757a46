"""The reference sample a model is monitored against, stored inside its artifact (scenario I).

At training time a seeded sample of the training data's feature rows (at most
:data:`SAMPLE_ROWS`, missing values kept) is written as ``reference.parquet`` next to the model
files, so it travels in ``model.tar.gz`` with the model version: monitoring needs the
registered artifact, never the training data store. A sample of 10,000 rows estimates the
drift statistics within about 0.01 (normed Wasserstein, Jensen-Shannon) of the full data's,
a tenth of their default thresholds.

Beside it, ``reference-summary.json`` holds the summary of *all* the training rows
(:mod:`mlops.pipelines.sketch`: the grid histograms, category and missing counts), computed
once here, so monitoring compares traffic with the full training data's distributions and reads
the sample only for an exact statistic near a threshold.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.pipelines.data import DataContract, Table, feature_columns
from mlops.pipelines.windows import Window, from_arrow

if TYPE_CHECKING:
    from mlops.pipelines.sketch import WindowSummary

REFERENCE_FILE = "reference.parquet"
SUMMARY_FILE = "reference-summary.json"
SAMPLE_ROWS = 10_000
SEED = 0


def reference_sample(
    table: Table,
    features: Sequence[str],
    rows: int = SAMPLE_ROWS,
    contract: DataContract | None = None,
) -> bytes:
    """Parquet bytes of a seeded sample of ``table``'s feature rows (all rows if fewer).

    With the ``contract``, its categorical features are stored as what they are (text for a
    ``category``, booleans for a ``bool``), so drift checks them with the categorical tests.
    """
    import pyarrow.parquet as pq

    if len(table) > rows:
        chosen = np.sort(np.random.default_rng(SEED).choice(len(table), rows, replace=False))
        table = table.take(chosen)
    buffer = io.BytesIO()
    pq.write_table(_typed(table, features, contract), buffer)
    return buffer.getvalue()


def _typed(table: Table, features: Sequence[str], contract: DataContract | None) -> Any:
    """The feature columns as a pyarrow table, categorical ones as what they are."""
    import pyarrow as pa

    typed = feature_columns(table, contract) if contract is not None else {}
    columns = {}
    for name in features:
        kind = contract.columns[name].type if contract is not None else "float"
        if kind == "category":
            columns[name] = pa.array(list(typed[name]), type=pa.string())
        elif kind == "bool":
            flags = [None if np.isnan(v) else bool(v) for v in typed[name]]
            columns[name] = pa.array(flags, type=pa.bool_())
        else:
            columns[name] = pa.array(table.column(name), from_pandas=True)
    return pa.table(columns)


def reference_summary(
    table: Table, features: Sequence[str], contract: DataContract | None = None
) -> bytes:
    """The summary of every row of ``table`` (JSON), for ``reference-summary.json``."""
    from mlops.pipelines.sketch import summarize, to_json

    window = from_arrow(_typed(table, features, contract))
    return to_json(summarize(window, list(features), moments=True)).encode()


def reference_files(
    table: Table, features: Sequence[str], contract: DataContract | None = None
) -> dict[str, bytes]:
    """What goes beside the model files: the reference sample and the full data's summary."""
    return {
        REFERENCE_FILE: reference_sample(table, features, contract=contract),
        SUMMARY_FILE: reference_summary(table, features, contract),
    }


def write_reference(
    model_dir: Path, table: Table, features: Sequence[str], contract: DataContract | None = None
) -> Path:
    """Put the reference sample (and the summary) beside the model files (the train step)."""
    for name, body in reference_files(table, features, contract).items():
        (model_dir / name).write_bytes(body)
    return model_dir / REFERENCE_FILE


def read_reference(artifact: bytes) -> Window | None:
    """The reference sample in a ``model.tar.gz``, or None for a model trained without one."""
    import pyarrow.parquet as pq

    with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
        try:
            member = tar.getmember(REFERENCE_FILE)
        except KeyError:
            return None
        handle = tar.extractfile(member)
        if handle is None:
            return None
        return from_arrow(pq.read_table(io.BytesIO(handle.read())))


def read_reference_summary(artifact: bytes) -> WindowSummary | None:
    """The training data's summary in a ``model.tar.gz``, when it adds to the sample.

    None for a model trained without one, or when the sample holds every training row (the
    sample then gives the same summary, with the exact values besides).
    """
    from mlops.pipelines.sketch import from_json

    with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
        try:
            handle = tar.extractfile(tar.getmember(SUMMARY_FILE))
        except KeyError:
            return None
        if handle is None:
            return None
        summary = from_json(handle.read())
    return summary if summary.rows > SAMPLE_ROWS else None
