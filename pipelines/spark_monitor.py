"""The drift check of captured traffic on Spark: the capture window read and summarized by Spark.

The AWS stack runs it above a configured capture volume (``driftEngine``), as the one step of
its drift-check pipeline on SageMaker's Spark processing container: ``smspark-submit`` forms a
YARN cluster of the job's instances and runs the image's entry file, which calls ``container
monitor --engine spark``. What differs from :func:`mlops.pipelines.monitor_job.check_window` is
only how the window becomes a summary:

* the window's capture objects (:func:`mlops.pipelines.monitor_job.window_of`) are read by Spark
  straight from their URIs (``s3://`` in the cloud, any Hadoop file system elsewhere);
* SageMaker's data-capture JSON lines are parsed with Spark SQL functions only (``from_json``,
  ``unbase64``, ``split``, ``try_cast``: no Python UDFs, every row stays in the JVM): CSV,
  JSON (positional or named rows, bare or under ``instances``) and BASE64 of either, each input
  row paired with its prediction as :func:`mlops.pipelines.windows.from_capture` pairs them;
* the summaries are :func:`mlops.pipelines.spark_drift.summarize_frame`'s.

The verdicts are :func:`mlops.pipelines.drift.compare_summaries`' and the end (metric, decision,
JSON and HTML report) is :func:`mlops.pipelines.monitor_job.finish_check`, as for NumPy
(:func:`mlops.pipelines.monitor_job.check_window_spark` joins them).

How a captured value becomes a column, as the NumPy reader does: a feature every value of which
is a number (or missing) is numeric, unless the contract types it ``category`` or ``bool``; the
others are categories, named by their text (a number's as :func:`~mlops.pipelines.sketch.label_of`
names it: ``1`` for ``1.0``). CSV fields are stripped and an empty one is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlops.core.errors import MonitoringInputError
from mlops.pipelines.windows import PREDICTION

if TYPE_CHECKING:
    from mlops.pipelines.drift import DriftOptions, DriftReport
    from mlops.pipelines.sketch import WindowSummary

_EVENT = "struct<data: string, encoding: string, observedContentType: string>"
CAPTURE_SCHEMA = f"struct<captureData: struct<endpointInput: {_EVENT}, endpointOutput: {_EVENT}>>"
_LINE_BREAK = r"\r\n|\r|\n"


def compare_capture(
    uris: Sequence[str],
    reference: Mapping[str, Any],
    features: Sequence[str],
    *,
    options: DriftOptions | None = None,
    summary: WindowSummary | None = None,
    categorical: Sequence[str] = (),
    spark: Any = None,
) -> DriftReport:
    """The captured objects at ``uris``, read and summarized by Spark, against ``reference``.

    ``summary`` is the reference's made at training time, when the artifact carries one;
    ``spark`` is the session (default: the active one, or the one ``smspark-submit`` set up).

    Raises:
        MonitoringInputError: the captured objects are unreadable.
    """
    from mlops.pipelines.drift import compare_summaries, summarize_source
    from mlops.pipelines.spark_drift import session, summarize_frame
    from mlops.pipelines.windows import memory_source

    spark = spark or session(None)
    names = list(features)
    ref = summary
    if ref is None:
        sample = memory_source(reference, "served model's reference")
        ref = summarize_source(sample, names, categorical=categorical, moments=True)
    frame = read_capture(spark, uris, names, categorical)
    current = summarize_frame(frame, names, ref.spec(), categorical)
    return compare_summaries(ref, current, names, options)


def read_capture(
    spark: Any, uris: Sequence[str], features: Sequence[str], categorical: Sequence[str] = ()
) -> Any:
    """Captured exchanges as a DataFrame: one row per input row, the features and ``prediction``.

    Numeric features are doubles (missing: null), the rest text; see the module's notes.

    Raises:
        MonitoringInputError: a line is not data capture, or rows do not hold every feature.
    """
    from pyspark.sql import functions as F

    if not features:
        raise MonitoringInputError("name the captured rows' features (the data contract's)")
    lines = spark.read.text(list(uris)).where(F.trim(F.col("value")) != "")
    parsed = lines.select(F.from_json("value", CAPTURE_SCHEMA).alias("c"))
    event_in = F.col("c.captureData.endpointInput")
    event_out = F.col("c.captureData.endpointOutput")
    exchanges = parsed.select(
        event_in.isNull().alias("broken"),
        _is_csv(event_in).alias("csv"),
        _rows(_text(event_in), _is_csv(event_in), features).alias("rows"),
        _answers(_text(event_out)).alias("answers"),
    )
    broken = exchanges.where(F.col("broken") | F.col("rows").isNull()).limit(1).count()
    if broken:
        raise MonitoringInputError(
            "a captured line is not SageMaker data capture, or holds no rows"
        )
    width = len(features)
    rows = exchanges.select("csv", "answers", F.posexplode("rows").alias("pos", "row"))
    uneven = rows.where(F.size("row") != width).limit(1).count()
    if uneven:
        raise MonitoringInputError(
            f"captured rows do not all hold {width} values ({', '.join(list(features)[:5])}...):"
            " was the model's input changed?"
        )
    names = [*features, PREDICTION]
    raw = rows.select(
        *[_field(F.col("row")[i], F.col("csv")).alias(f"v{i}") for i in range(width)],
        F.try_element_at("answers", F.col("pos") + 1).alias(f"v{width}"),
    )
    return _typed(raw, names, set(categorical))


def _text(event: Any) -> Any:
    """An event's data as text (BASE64 decoded)."""
    from pyspark.sql import functions as F

    data = event["data"]
    return F.when(event["encoding"] == "BASE64", F.unbase64(data).cast("string")).otherwise(data)


def _is_csv(event: Any) -> Any:
    from pyspark.sql import functions as F

    kind = F.coalesce(event["observedContentType"], F.lit(""))
    return F.coalesce(event["encoding"] == "CSV", F.lit(False)) | kind.contains("csv")


def _rows(text: Any, csv: Any, features: Sequence[str]) -> Any:
    """A request's rows as arrays of value texts, in ``features`` order."""
    from pyspark.sql import functions as F

    lines = F.filter(F.split(text, _LINE_BREAK), lambda line: line != "")
    csv_rows = F.transform(lines, lambda line: F.split(line, ","))

    def named(maps: Any) -> Any:
        return F.transform(
            maps, lambda m: F.array(*[F.try_element_at(m, F.lit(n)) for n in features])
        )

    bare = F.from_json(text, "map<string,string>")
    json_rows = F.coalesce(
        F.from_json(text, "struct<instances: array<array<string>>>")["instances"],
        named(F.from_json(text, "struct<instances: array<map<string,string>>>")["instances"]),
        F.from_json(text, "array<array<string>>"),
        named(F.from_json(text, "array<map<string,string>>")),
        F.when(bare.isNotNull() & ~F.map_contains_key(bare, "instances"), named(F.array(bare))),
    )
    return F.when(csv, csv_rows).otherwise(json_rows)


def _answers(text: Any) -> Any:
    """The model's outputs: ``{"predictions": [...]}`` or a bare list, as texts."""
    from pyspark.sql import functions as F

    return F.coalesce(
        F.from_json(text, "struct<predictions: array<string>>")["predictions"],
        F.from_json(text, "array<string>"),
    )


def _field(value: Any, csv: Any) -> Any:
    """A CSV field stripped (empty: missing); a JSON value as it came."""
    from pyspark.sql import functions as F

    stripped = F.trim(value)
    return F.when(csv, F.when(stripped != "", stripped)).otherwise(value)


def _typed(raw: Any, names: Sequence[str], forced: set[str]) -> Any:
    """Numeric columns as doubles, the rest as category texts (one pass finds which is which)."""
    from pyspark.sql import functions as F

    def number(i: int) -> Any:
        return F.expr(f"try_cast(v{i} AS DOUBLE)")

    texts = raw.agg(
        *[
            F.count(F.when(F.col(f"v{i}").isNotNull() & number(i).isNull(), 1)).alias(f"t{i}")
            for i in range(len(names))
        ]
    ).collect()[0]
    columns = []
    for i, name in enumerate(names):
        if name not in forced and texts[f"t{i}"] == 0:
            columns.append(number(i).alias(name))
            continue
        x = number(i)
        # label_of: 1 for 1.0; NaN is missing, as in the NumPy reader
        whole = F.when((F.abs(x) < 1e15) & (x == F.floor(x)), x.cast("bigint").cast("string"))
        label = F.when(~F.isnan(x), F.coalesce(whole, x.cast("string")))
        columns.append(F.when(x.isNotNull(), label).otherwise(F.col(f"v{i}")).alias(name))
    return raw.select(*columns)
