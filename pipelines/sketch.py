"""Window summaries that merge by addition: what the drift verdicts are computed from.

A window (or any chunk of it: a Parquet row group, a CSV block, one capture object, a Spark
partition) is summarized per feature:

* numeric: its row and present-value counts, min and max, a histogram on a fixed grid taken
  from the *reference* (:data:`GRID` bins over the reference's range widened by half of it on
  each side, plus one bin below and one above), the distinct values and their counts while there
  are at most :data:`FEW`, the counts at the reference's own values (:class:`FeatureSpec`
  ``points``, for the exact KS test of a small reference), and the present values themselves
  while there are at most :data:`RAW_LIMIT`;
* categorical: each category's count (by its text) and the missing count.

Every part merges exactly (integer sums, min/max, unions that turn into "more than FEW" for
good, concatenation capped by size), so a window read chunk by chunk and merged has the same
summary as the window read at once, whatever the chunks. The one exception is the reference's
mean and variance (the Wasserstein test's scale when the raw values are not kept), merged with
Chan's formula: equal to a one-pass value within float rounding (about 1e-15 relative).

The verdicts (:func:`mlops.pipelines.drift.compare_summaries`) read only these summaries, so
the NumPy engine here and the Spark engine (:mod:`mlops.pipelines.spark_drift`) share them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlops.core.errors import MonitoringInputError

Kind = Literal["numeric", "categorical"]
GRID = 16384  # bins over the reference's range widened by half of it on each side
FEW = 5  # distinct numeric values counted exactly (Evidently's "more than 5 values" rule)
RAW_LIMIT = 10_000  # present values kept as they are (exact tests on small windows)
KS_POINTS = 1000  # a reference this small (present values) gets the exact KS test
Column = Any  # a NumPy array (numeric, NaN missing) or a pyarrow array (categorical, nulls)


@dataclass(frozen=True)
class FeatureSpec:
    """How a feature is summarized: its kind, and for numbers the reference's grid and points.

    Attributes:
        kind: ``numeric`` or ``categorical``.
        lo: the grid's left edge (numeric).
        hi: the grid's right edge (numeric).
        points: the reference's distinct present values, sorted, when it has at most
            :data:`KS_POINTS` (the exact KS test); None otherwise.
    """

    kind: Kind
    lo: float = 0.0
    hi: float = 1.0
    points: np.ndarray | None = None

    @classmethod
    def numeric(cls, low: float, high: float, points: np.ndarray | None = None) -> FeatureSpec:
        """The grid for a reference whose present values lie in [low, high]."""
        if not (math.isfinite(low) and math.isfinite(high)):
            low = high = 0.0  # no present values: any grid will do
        span = high - low if high > low else max(abs(low), 1.0)
        return cls("numeric", low - span / 2, high + span / 2, points)

    def edges(self) -> np.ndarray:
        """The GRID + 1 edges of the grid's inner bins."""
        return self.lo + np.arange(GRID + 1) * ((self.hi - self.lo) / GRID)


@dataclass
class NumericSummary:
    """One numeric feature of a window (or chunk); see the module docstring."""

    rows: int
    present: int
    low: float
    high: float
    hist: np.ndarray  # GRID + 2 counts: below lo, the grid's bins, at or above hi
    values: dict[float, int] | None  # distinct values -> counts; None: more than FEW
    slots: np.ndarray | None  # counts below/at/between the spec's points (2k + 1)
    raw: np.ndarray | None  # present values (any order); None: more than RAW_LIMIT
    mean: float = 0.0
    m2: float = 0.0
    lo: float = 0.0  # the grid's edges (FeatureSpec)
    hi: float = 1.0
    kind: Kind = "numeric"

    def merge(self, other: NumericSummary) -> NumericSummary:
        """The summary of both chunks together (on one and the same grid)."""
        if (self.lo, self.hi) != (other.lo, other.hi):
            raise MonitoringInputError("cannot merge summaries made on different grids")
        n = self.present + other.present
        if n:
            delta = other.mean - self.mean
            mean = self.mean + delta * other.present / n
            m2 = self.m2 + other.m2 + delta * delta * self.present * other.present / n
        else:
            mean, m2 = 0.0, 0.0
        return NumericSummary(
            self.rows + other.rows, n, min(self.low, other.low), max(self.high, other.high),
            self.hist + other.hist, _merge_values(self.values, other.values),
            None if self.slots is None or other.slots is None else self.slots + other.slots,
            _merge_raw(self.raw, other.raw), mean, m2, self.lo, self.hi,
        )  # fmt: skip

    @property
    def std(self) -> float:
        """Population standard deviation of the present values (exact from ``raw``)."""
        if self.raw is not None and len(self.raw):
            return float(np.std(self.raw))
        return math.sqrt(self.m2 / self.present) if self.present else 0.0


@dataclass
class CategoricalSummary:
    """One categorical feature of a window (or chunk): counts by category text, and missing."""

    rows: int
    counts: dict[str, int]
    missing: int
    kind: Kind = "categorical"

    @property
    def present(self) -> int:
        """Rows with a category."""
        return self.rows - self.missing

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        """The summary of both chunks together."""
        counts = dict(self.counts)
        for k, v in other.counts.items():
            counts[k] = counts.get(k, 0) + v
        return CategoricalSummary(self.rows + other.rows, counts, self.missing + other.missing)


Summary = NumericSummary | CategoricalSummary


@dataclass
class WindowSummary:
    """A window's rows and each feature's summary."""

    rows: int = 0
    features: dict[str, Summary] = field(default_factory=dict)

    def merge(self, other: WindowSummary) -> WindowSummary:
        """Both windows (chunks) as one; a feature of another kind is a clear error."""
        features = dict(self.features)
        for name, summary in other.features.items():
            mine = features.get(name)
            if mine is None:
                features[name] = summary
            elif mine.kind != summary.kind:
                raise MonitoringInputError(
                    f"{name} is {mine.kind} in one part of the window and {summary.kind} in"
                    " another: a column of mixed types; fix its type at the source"
                )
            else:
                features[name] = mine.merge(summary)  # type: ignore[arg-type]
        return WindowSummary(self.rows + other.rows, features)

    def spec(self, ks_points: bool = True) -> dict[str, FeatureSpec]:
        """The grids (and KS points) a window compared with this reference is summarized on."""
        out: dict[str, FeatureSpec] = {}
        for name, s in self.features.items():
            if isinstance(s, NumericSummary):
                points = None
                if ks_points and s.raw is not None and s.present <= KS_POINTS:
                    points = np.unique(s.raw)
                out[name] = FeatureSpec("numeric", s.lo, s.hi, points)
            else:
                out[name] = FeatureSpec("categorical")
        return out


def _merge_values(
    a: dict[float, int] | None, b: dict[float, int] | None
) -> dict[float, int] | None:
    if a is None or b is None:
        return None
    merged = dict(a)
    for k, v in b.items():
        merged[k] = merged.get(k, 0) + v
    return merged if len(merged) <= FEW else None


def _merge_raw(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None or b is None or len(a) + len(b) > RAW_LIMIT:
        return None
    return np.concatenate([a, b])


# --- summarizing chunks -----------------------------------------------------------------------


def kind_of(column: Column) -> Kind:
    """``numeric`` for NumPy numbers, ``categorical`` for pyarrow arrays and anything else."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiu":
        return "numeric"
    return "categorical"


class Scratch:
    """Buffers reused from chunk to chunk: fresh temporaries of every chunk cost page faults."""

    def __init__(self) -> None:
        self._floats = np.empty(0)
        self._present = np.empty(0)
        self._ints = np.empty(0, dtype=np.intp)

    def floats(self, n: int) -> np.ndarray:
        """A float buffer of ``n`` values (contents undefined)."""
        if len(self._floats) < n:
            self._floats = np.empty(n)
        return self._floats[:n]

    def present(self, n: int) -> np.ndarray:
        """A second float buffer (a chunk's present values)."""
        if len(self._present) < n:
            self._present = np.empty(n)
        return self._present[:n]

    def ints(self, n: int) -> np.ndarray:
        """An index buffer of ``n`` values."""
        if len(self._ints) < n:
            self._ints = np.empty(n, dtype=np.intp)
        return self._ints[:n]


def numeric_summary(
    column: np.ndarray,
    spec: FeatureSpec,
    values: bool = True,
    moments: bool = False,
    scratch: Scratch | None = None,
) -> NumericSummary:
    """A chunk of a numeric column (NaN and infinities missing) on ``spec``'s grid.

    ``values`` False skips looking for few distinct values (the window already has more).
    """
    scratch = scratch or Scratch()
    x = np.asarray(column, dtype=np.float64)
    rows = len(x)
    finite = np.isfinite(x)
    n = int(np.count_nonzero(finite))
    if n < rows:
        x = np.compress(finite, x, out=scratch.present(n))
    hist = np.bincount(bin_index(x, spec, scratch), minlength=GRID + 2) if n else None
    slots = None
    if spec.points is not None:
        slots = np.bincount(slot_index(x, spec.points), minlength=2 * len(spec.points) + 1)
    mean = m2 = 0.0
    if moments and n:
        mean = float(x.mean())
        t = np.subtract(x, mean, out=scratch.floats(n))
        m2 = float(np.dot(t, t))
    return NumericSummary(
        rows, n, float(x.min()) if n else math.inf, float(x.max()) if n else -math.inf,
        np.zeros(GRID + 2, np.int64) if hist is None else hist.astype(np.int64, copy=False),
        few_values(x) if values else None, slots,
        x.copy() if n <= RAW_LIMIT else None, mean, m2, spec.lo, spec.hi,
    )  # fmt: skip


def bin_index(x: np.ndarray, spec: FeatureSpec, scratch: Scratch | None = None) -> np.ndarray:
    """Each value's bin: 0 below the grid, 1..GRID on it, GRID + 1 at or above its right edge."""
    scratch = scratch or Scratch()
    t = np.subtract(x, spec.lo, out=scratch.floats(len(x)))
    t *= GRID / (spec.hi - spec.lo)
    t += 1.0
    np.clip(t, 0.0, GRID + 1.0, out=t)
    index = scratch.ints(len(x))
    np.copyto(index, t, casting="unsafe")  # truncation, as astype: t >= 0 here, so floor
    return index


def slot_index(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Slot 2i + 1: equal to points[i]; slot 2i: strictly between points[i - 1] and points[i]."""
    pos = np.searchsorted(points, x, side="left")
    equal = np.zeros(len(x), dtype=bool)
    inside = pos < len(points)
    equal[inside] = points[pos[inside]] == x[inside]
    return 2 * pos + equal


def few_values(x: np.ndarray, limit: int = FEW) -> dict[float, int] | None:
    """The distinct values of ``x`` and their counts if there are at most ``limit``, else None.

    Without sorting a million values: candidates come from the first rows, and each pass
    either proves every value is a candidate or finds one more.
    """
    values = np.unique(x[:256])
    while len(values) <= limit:
        known = np.zeros(len(x), dtype=bool)
        for v in values:
            known |= x == v
        if known.all():
            return {float(v): int(np.count_nonzero(x == v)) for v in values}
        values = np.union1d(values, x[np.argmin(known)])
    return None


def categorical_summary(column: Column) -> CategoricalSummary:
    """A chunk of a categorical column: counts by category text (``1.0`` is ``"1"``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not isinstance(column, pa.Array):
        column = to_arrow(column)
    rows = len(column)
    if pa.types.is_floating(column.type):  # NaN is missing too
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    missing = column.null_count
    counts: dict[str, int] = {}
    if pa.types.is_dictionary(column.type):
        indices = column.indices.drop_null().to_numpy(zero_copy_only=False)
        tally = np.bincount(indices, minlength=len(column.dictionary))
        pairs = zip(column.dictionary.to_pylist(), tally.tolist(), strict=True)
    else:
        counted = pc.value_counts(column.drop_null())
        pairs = zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    for value, count in pairs:
        if count:
            label = label_of(value)
            counts[label] = counts.get(label, 0) + int(count)
    return CategoricalSummary(rows, counts, int(missing))


def to_arrow(column: Any) -> Any:
    """A list-like of Python values as a pyarrow array (mixed types: categories by text)."""
    import pyarrow as pa

    values = [None if is_missing(v) else v for v in list(column)]
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else label_of(v) for v in values])


def is_missing(value: Any) -> bool:
    """None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def label_of(value: Any) -> str:
    """A category's text: ``true``/``false`` for booleans, ``1`` for ``1.0``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Summarizer:
    """Summarizes a window chunk by chunk on a reference's ``spec``; :meth:`result` merges.

    Args:
        spec: each feature's grid (from the reference); a feature without one is summarized
            as the chunk's column kind says, and a numeric one needs a spec.
        features: the features to summarize (others in a chunk are ignored).
        categorical: features read as categories whatever their columns hold.
        moments: also keep mean and variance (the reference's scale).
    """

    def __init__(
        self,
        spec: Mapping[str, FeatureSpec],
        features: Sequence[str],
        categorical: Iterable[str] = (),
        moments: bool = False,
    ) -> None:
        self.spec = dict(spec)
        self.features = list(features)
        self.categorical = set(categorical)
        self.moments = moments
        self.summary = WindowSummary()
        self.scratch = Scratch()

    def add(self, chunk: Mapping[str, Column]) -> None:
        """Add one chunk (feature -> column, all of one length)."""
        lacking = [n for n in self.features if n not in chunk]
        if lacking:
            raise MonitoringInputError(f"the window lacks feature(s): {', '.join(lacking)}")
        rows = len(chunk[self.features[0]]) if self.features else 0
        part = WindowSummary(rows)
        for name in self.features:
            part.features[name] = self._one(name, chunk[name])
        self.summary = self.summary.merge(part)

    def _one(self, name: str, column: Column) -> Summary:
        spec = self.spec.get(name)
        if kind_of(column) != "numeric" or name in self.categorical:
            return categorical_summary(column)
        if spec is None:
            raise MonitoringInputError(f"the reference window lacks feature(s): {name}")
        if spec.kind != "numeric":
            raise MonitoringInputError(
                f"{name} is categorical in the reference but numeric in the current window:"
                " a column of mixed types; fix its type at the source"
            )
        seen = self.summary.features.get(name)
        values = not isinstance(seen, NumericSummary) or seen.values is not None
        return numeric_summary(column, spec, values, self.moments, self.scratch)

    def result(self) -> WindowSummary:
        """The merged summary of every chunk added."""
        return self.summary


def ranges(chunk: Mapping[str, Column], features: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Each numeric feature's present min and max in a chunk (the reference's first pass)."""
    out: dict[str, tuple[float, float]] = {}
    for name in features:
        column = chunk[name]
        if kind_of(column) != "numeric":
            continue
        x = np.asarray(column, dtype=np.float64)
        x = x[np.isfinite(x)]
        out[name] = (float(x.min()), float(x.max())) if len(x) else (math.inf, -math.inf)
    return out


def merge_ranges(
    a: dict[str, tuple[float, float]], b: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Ranges of two chunks together."""
    out = dict(a)
    for k, (lo, hi) in b.items():
        old = out.get(k, (math.inf, -math.inf))
        out[k] = (min(old[0], lo), max(old[1], hi))
    return out


def spec_from_ranges(
    found: Mapping[str, tuple[float, float]], features: Sequence[str]
) -> dict[str, FeatureSpec]:
    """Grids for the numeric features found; the rest are categorical."""
    return {
        n: FeatureSpec.numeric(*found[n]) if n in found else FeatureSpec("categorical")
        for n in features
    }


def summarize(
    window: Mapping[str, Column],
    features: Sequence[str],
    spec: Mapping[str, FeatureSpec] | None = None,
    categorical: Iterable[str] = (),
    moments: bool = False,
) -> WindowSummary:
    """A window held in memory as one chunk; without ``spec``, on its own grid (a reference)."""
    forced = set(categorical)
    if spec is None:
        numeric = [n for n in features if n not in forced]
        spec = spec_from_ranges(ranges(window, numeric), features)
    summarizer = Summarizer(spec, features, forced, moments)
    summarizer.add(window)
    return summarizer.result()


# --- stored form ------------------------------------------------------------------------------


def to_json(summary: WindowSummary) -> str:
    """The summary as JSON (histograms sparse; raw values left out: the sample holds them)."""
    features: dict[str, Any] = {}
    for name, s in summary.features.items():
        if isinstance(s, CategoricalSummary):
            features[name] = {"kind": s.kind, "rows": s.rows, "counts": s.counts,
                              "missing": s.missing}  # fmt: skip
            continue
        nonzero = np.flatnonzero(s.hist)
        features[name] = {
            "kind": s.kind, "rows": s.rows, "present": s.present,
            "low": s.low if s.present else None, "high": s.high if s.present else None,
            "bins": nonzero.tolist(), "counts": s.hist[nonzero].tolist(),
            "values": None if s.values is None else [[k, v] for k, v in s.values.items()],
            "mean": s.mean, "m2": s.m2, "lo": s.lo, "hi": s.hi,
        }  # fmt: skip
    return json.dumps({"version": 1, "grid": GRID, "rows": summary.rows, "features": features})


def from_json(text: str | bytes) -> WindowSummary:
    """A summary stored by :func:`to_json`.

    Raises:
        MonitoringInputError: it is of another version or grid.
    """
    body = json.loads(text)
    if body.get("version") != 1 or body.get("grid") != GRID:
        raise MonitoringInputError("the stored reference summary is of another version")
    out = WindowSummary(int(body["rows"]))
    for name, f in body["features"].items():
        if f["kind"] == "categorical":
            out.features[name] = CategoricalSummary(f["rows"], dict(f["counts"]), f["missing"])
            continue
        hist = np.zeros(GRID + 2, dtype=np.int64)
        hist[np.asarray(f["bins"], dtype=np.intp)] = f["counts"]
        values = None if f["values"] is None else {float(k): int(v) for k, v in f["values"]}
        low = math.inf if f["low"] is None else float(f["low"])
        high = -math.inf if f["high"] is None else float(f["high"])
        out.features[name] = NumericSummary(
            f["rows"], f["present"], low, high, hist, values, None, None, f["mean"], f["m2"],
            f["lo"], f["hi"],
        )  # fmt: skip
    return out
