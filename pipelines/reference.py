"""The reference sample a model is monitored against, stored inside its artifact (scenario I).

At training time a seeded sample of the training data's feature rows (at most
:data:`SAMPLE_ROWS`, missing values kept) is written as ``reference.parquet`` next to the model
files, so it travels in ``model.tar.gz`` with the model version: monitoring needs the
registered artifact, never the training data store. A sample of 10,000 rows estimates the
drift statistics within about 0.01 (normed Wasserstein, Jensen-Shannon) of the full data's,
a tenth of their default thresholds.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlops.pipelines.data import DataContract, Table, feature_columns
from mlops.pipelines.windows import Window, from_arrow

REFERENCE_FILE = "reference.parquet"
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(table) > rows:
        chosen = np.sort(np.random.default_rng(SEED).choice(len(table), rows, replace=False))
        table = table.take(chosen)
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
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def write_reference(
    model_dir: Path, table: Table, features: Sequence[str], contract: DataContract | None = None
) -> Path:
    """Put the reference sample beside the model files (the container's train step)."""
    path = model_dir / REFERENCE_FILE
    path.write_bytes(reference_sample(table, features, contract=contract))
    return path


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
