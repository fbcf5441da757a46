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

from mlops.pipelines.data import Table
from mlops.pipelines.windows import Window, from_arrow

REFERENCE_FILE = "reference.parquet"
SAMPLE_ROWS = 10_000
SEED = 0


def reference_sample(table: Table, features: Sequence[str], rows: int = SAMPLE_ROWS) -> bytes:
    """Parquet bytes of a seeded sample of ``table``'s feature rows (all rows if fewer)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = table.select(list(features))
    if len(values) > rows:
        chosen = np.sort(np.random.default_rng(SEED).choice(len(values), rows, replace=False))
        values = values[chosen]
    columns = {name: pa.array(values[:, i], from_pandas=True) for i, name in enumerate(features)}
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def write_reference(model_dir: Path, table: Table, features: Sequence[str]) -> Path:
    """Put the reference sample beside the model files (the container's train step)."""
    path = model_dir / REFERENCE_FILE
    path.write_bytes(reference_sample(table, features))
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
