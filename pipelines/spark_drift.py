"""The drift summaries computed by Spark, for windows larger than one machine reads well.

The same summaries as the NumPy engine (:mod:`mlops.pipelines.sketch`), made with PySpark
DataFrame aggregations (no Python UDFs: every expression runs in the JVM), collected to the
driver and handed to the same verdict code
(:func:`mlops.pipelines.drift.compare_summaries`). Per window:

* one aggregation for row counts, present counts, min and max (and, for the reference, mean and
  variance) of every numeric feature, and the missing count of every categorical one;
* a ``groupBy`` per numeric feature on its grid bin, computed in the JVM with the same
  floating-point steps as NumPy's (so the bins are identical), reading only that column;
* a ``groupBy`` per categorical feature for its category counts;
* for numeric features that might have at most 5 distinct values, a few small aggregations that
  find them exactly (as :func:`mlops.pipelines.sketch.few_values` does).

A window of at most :data:`~mlops.pipelines.sketch.RAW_LIMIT` rows is collected to the driver
and summarized there, so small windows keep their exact statistics. On large windows a
Wasserstein distance too close to its threshold to decide from the grid is decided by the
bracket's midpoint, and the feature's ``error`` states the bound.

PySpark is an optional dependency (``pip install 'mlops-stack[spark]'``) and needs Java 17+.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlops.core.errors import MonitoringInputError
from mlops.pipelines.drift import DriftOptions, DriftReport, compare_summaries
from mlops.pipelines.sketch import (
    FEW,
    GRID,
    RAW_LIMIT,
    CategoricalSummary,
    FeatureSpec,
    NumericSummary,
    Summary,
    WindowSummary,
    label_of,
    summarize,
)
from mlops.pipelines.windows import from_arrow

SAMPLE_FOR_VALUES = 256


def session(master: str | None = "local[*]") -> Any:
    """A Spark session (local by default; the UI off, few shuffle partitions).

    ``master`` None: the one ``spark-submit`` was given (SageMaker's ``smspark-submit``: YARN
    over the job's instances), and that launcher's shuffle partitions; outside ``spark-submit``
    (which hands its driver ``PYSPARK_GATEWAY_PORT``) and with no active session, ``local[*]``.

    Raises:
        MonitoringInputError: PySpark is not installed.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MonitoringInputError(
            "--engine spark needs PySpark: pip install 'mlops-stack[spark]' (and Java 17+)"
        ) from None
    launched = "PYSPARK_GATEWAY_PORT" in os.environ or SparkSession.getActiveSession()
    if master is None and not launched:
        master = "local[*]"
    builder = SparkSession.builder.appName("mlops-drift")
    if master is not None:
        builder = (
            builder.master(master)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
        )
    return (
        builder.config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


def read(spark: Any, path: Path) -> Any:
    """A Parquet or CSV file (or folder of Parquet parts) as a DataFrame."""
    if path.suffix.lower() == ".csv":
        return spark.read.csv(str(path), header=True, inferSchema=True)
    return spark.read.parquet(str(path))


def compare_files(
    reference: Path,
    current: Path,
    features: Sequence[str],
    options: DriftOptions | None = None,
    categorical: Sequence[str] = (),
    master: str = "local[*]",
) -> DriftReport:
    """Compare two Parquet or CSV files with Spark; the verdicts are the NumPy engine's code."""
    spark = session(master)
    ref = summarize_frame(read(spark, reference), features, None, categorical, moments=True)
    cur = summarize_frame(read(spark, current), features, ref.spec(), categorical)
    return compare_summaries(ref, cur, features, options)


def summarize_frame(
    frame: Any,
    features: Sequence[str],
    spec: Mapping[str, FeatureSpec] | None = None,
    categorical: Iterable[str] = (),
    moments: bool = False,
) -> WindowSummary:
    """A DataFrame's summary; without ``spec``, on its own grids (a reference).

    Raises:
        MonitoringInputError: the frame lacks a feature.
    """
    from pyspark.sql import types as T

    forced = set(categorical)
    lacking = [n for n in features if n not in frame.columns]
    if lacking:
        raise MonitoringInputError(f"the window lacks feature(s): {', '.join(lacking)}")
    frame = frame.select(*features)
    kinds = {f.name: f.dataType for f in frame.schema.fields}
    numeric = [
        n for n in features if isinstance(kinds[n], T.NumericType) and n not in forced
    ]
    text = [n for n in features if n not in numeric and isinstance(kinds[n], T.StringType)]
    other = [n for n in features if n not in numeric and n not in text]
    _check_kinds(numeric, spec)
    basic = _basics(frame, numeric, [*text, *other], kinds, moments)
    rows = int(basic["rows"])
    if rows <= RAW_LIMIT:  # small: on the driver, with the exact values
        window = from_arrow(to_arrow(frame), forced)
        return summarize(window, features, spec, forced, moments)
    grids: dict[str, FeatureSpec] = {}
    for i, name in enumerate(numeric):
        if spec is not None:
            grids[name] = spec[name]
        else:
            low, high = basic[f"lo{i}"], basic[f"hi{i}"]
            grids[name] = FeatureSpec.numeric(
                math.inf if low is None else low, -math.inf if high is None else high
            )
    hists = _histograms(frame, numeric, grids)
    values = _few_values(frame, numeric)
    out = WindowSummary(rows)
    for i, name in enumerate(numeric):
        present = int(basic[f"p{i}"])
        low, high = basic[f"lo{i}"], basic[f"hi{i}"]
        mean = float(basic[f"m{i}"] or 0.0) if moments else 0.0
        m2 = float(basic[f"v{i}"] or 0.0) * present if moments else 0.0
        summary: Summary = NumericSummary(
            rows, present, math.inf if low is None else float(low),
            -math.inf if high is None else float(high), hists[name], values.get(name),
            None, None, mean, m2, grids[name].lo, grids[name].hi,
        )  # fmt: skip
        out.features[name] = summary
    counts = _category_counts(frame, text, other, kinds)
    for i, name in enumerate([*text, *other]):
        out.features[name] = CategoricalSummary(rows, counts[name], int(basic[f"miss{i}"]))
    return out


def to_arrow(frame: Any) -> Any:
    """A (small) DataFrame collected as a pyarrow table, on Spark 4 and on Spark 3.5.

    ``DataFrame.toArrow`` came with Spark 4.0; SageMaker's Spark processing images run 3.5,
    whose DataFrame collects Arrow batches by ``_collect_as_arrow`` (what 4.0's ``toArrow``
    calls).
    """
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    batches = frame._collect_as_arrow()
    if not batches:
        return to_arrow_schema(frame.schema).empty_table()
    return pa.Table.from_batches(batches)


def _check_kinds(numeric: Sequence[str], spec: Mapping[str, FeatureSpec] | None) -> None:
    for name in numeric if spec is not None else ():
        if name not in spec:  # type: ignore[operator]
            raise MonitoringInputError(f"the reference window lacks feature(s): {name}")
        if spec[name].kind != "numeric":  # type: ignore[index]
            raise MonitoringInputError(
                f"{name} is categorical in the reference but numeric in the current window:"
                " a column of mixed types; fix its type at the source"
            )


def _finite(name: str) -> Any:
    """The column as doubles, NaN and infinities null (missing)."""
    from pyspark.sql import functions as F

    x = F.col(name).cast("double")
    return F.when(~F.isnan(x) & ~x.isin(math.inf, -math.inf), x)


def _basics(
    frame: Any,
    numeric: Sequence[str],
    categorical: Sequence[str],
    kinds: Mapping[str, Any],
    moments: bool,
) -> Any:
    """One aggregation: rows; numeric present counts, min, max (mean, variance); missing."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, name in enumerate(numeric):
        x = _finite(name)
        aggs += [F.count(x).alias(f"p{i}"), F.min(x).alias(f"lo{i}"), F.max(x).alias(f"hi{i}")]
        if moments:
            aggs += [F.avg(x).alias(f"m{i}"), F.var_pop(x).alias(f"v{i}")]
    for i, name in enumerate(categorical):
        c = F.col(name)
        missing = c.isNull()
        if isinstance(kinds[name], T.FractionalType):
            missing = missing | F.isnan(c)
        aggs.append(F.count(F.when(missing, 1)).alias(f"miss{i}"))
    return frame.agg(*aggs).collect()[0]


def _histograms(
    frame: Any, numeric: Sequence[str], grids: Mapping[str, FeatureSpec]
) -> dict[str, np.ndarray]:
    """Every numeric feature's grid counts, a ``groupBy`` on its bin each.

    One job per feature reads only that column; stacking every feature's (feature, bin) pair
    into one ``groupBy`` instead multiplies the rows by the features, and costs ten times more.
    """
    from pyspark.sql import functions as F

    hists = {name: np.zeros(GRID + 2, dtype=np.int64) for name in numeric}
    for name in numeric:
        grid = grids[name]
        scale = GRID / (grid.hi - grid.lo)
        x = _finite(name)
        # NumPy's steps, in order: (x - lo) * scale, + 1, clip to [0, GRID + 1], truncate
        t = (x - F.lit(grid.lo)) * F.lit(scale) + F.lit(1.0)
        # (greatest and least skip nulls: a missing value must stay missing)
        index = F.when(x.isNotNull(), F.greatest(F.least(t, F.lit(GRID + 1.0)), F.lit(0.0)))
        binned = frame.select(index.cast("int").alias("b")).where(F.col("b").isNotNull())
        for row in binned.groupBy("b").count().collect():
            hists[name][row["b"]] = row["count"]
    return hists


def _few_values(frame: Any, numeric: Sequence[str]) -> dict[str, dict[float, int] | None]:
    """Each numeric feature's distinct values and counts if at most FEW (else None), exactly.

    Candidates come from the first rows; each aggregation either proves a feature has no value
    outside its candidates (and counts them) or finds one more, until it has more than FEW.
    """
    from pyspark.sql import functions as F

    first = frame.select(*numeric).limit(SAMPLE_FOR_VALUES).collect()
    candidates: dict[str, set[float]] = {}
    for name in numeric:
        seen = {float(r[name]) for r in first if r[name] is not None}
        candidates[name] = {v for v in seen if math.isfinite(v)}
    found: dict[str, dict[float, int] | None] = {}
    while True:
        open_ = [n for n in numeric if n not in found]
        for name in open_:
            if len(candidates[name]) > FEW:
                found[name] = None
        open_ = [n for n in numeric if n not in found]
        if not open_:
            return found
        aggs = []
        for i, name in enumerate(open_):
            x = _finite(name)
            known = sorted(candidates[name])
            outside = F.when(~x.isin(*known), x) if known else x
            aggs += [F.count(outside).alias(f"o{i}"), F.min(outside).alias(f"n{i}")]
            aggs += [F.count(F.when(x == v, 1)).alias(f"c{i}_{j}") for j, v in enumerate(known)]
        row = frame.agg(*aggs).collect()[0]
        for i, name in enumerate(open_):
            known = sorted(candidates[name])
            if row[f"o{i}"] == 0:
                found[name] = {v: int(row[f"c{i}_{j}"]) for j, v in enumerate(known)}
            else:
                candidates[name].add(float(row[f"n{i}"]))


def _category_counts(
    frame: Any, text: Sequence[str], other: Sequence[str], kinds: Mapping[str, Any]
) -> dict[str, dict[str, int]]:
    """Counts by category text, a ``groupBy`` per feature (labelled as the NumPy engine does)."""
    from pyspark.sql import functions as F

    counts: dict[str, dict[str, int]] = {name: {} for name in [*text, *other]}
    for name in [*text, *other]:
        for row in frame.where(F.col(name).isNotNull()).groupBy(name).count().collect():
            value = row[name]
            if isinstance(value, float) and math.isnan(value):
                continue
            label = value if name in text else label_of(value)
            counts[name][label] = counts[name].get(label, 0) + int(row["count"])
    return counts
