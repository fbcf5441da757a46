"""Data drift between a reference and a current window, feature by feature, and the decision.

Each feature's statistic is computed on its present values; the missing-value rate is a signal
of its own (a two-proportion z-test, with a minimum effect so that 1.00% against 1.02% on a
million rows is not news). The default test per feature is Evidently's
(``_get_default_stattest``, shared/bench/README.md), so verdicts agree with it:

* reference of 1000 present values or fewer: numeric features with more than 5 distinct values
  (reference and current together) use the two-sample Kolmogorov-Smirnov test (drift at
  p <= 0.05); other features chi-square (p < 0.05), or a two-proportion z-test when there are
  2 distinct values or fewer (p < 0.05);
* larger references: numeric features with more than 5 distinct values use the Wasserstein
  distance divided by the reference's standard deviation (drift at 0.1 or more); the others the
  Jensen-Shannon distance between value frequencies (drift at 0.1 or more).

Any feature's test and threshold can be set (:class:`FeatureRule`), PSI included; PSI on
reference deciles is reported for every feature either way. Categorical features (strings,
booleans; any feature the caller names in ``categorical``, as the lifecycle names the data
contract's ``category`` and ``bool`` features) also report new and vanished categories by name.
The dataset drifts when at least ``share`` of its features drift.

Speed and scale: each window is summarized first (:mod:`mlops.pipelines.sketch`: a fixed grid of
16384 bins per numeric feature taken from the reference, category counts, missing and row counts;
chunk by chunk, merged by addition), and the verdicts read only the summaries, whichever engine
(NumPy here, Spark in :mod:`mlops.pipelines.spark_drift`) made them. The Wasserstein distance is
bracketed from the grid's CDFs; only when the threshold falls inside that bracket are a
feature's present values read again (``exact``) for the exact distance. Without them (Spark) the
bracket's midpoint decides and ``error`` states its half-width. Windows of at most 10,000 present
values keep them, so small windows get the exact statistics throughout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from mlops.core.errors import MonitoringInputError
from mlops.pipelines.sketch import (
    FEW,
    CategoricalSummary,
    FeatureSpec,
    Kind,
    NumericSummary,
    Summarizer,
    WindowSummary,
    categorical_summary,
    is_missing,
    kind_of,
    label_of,
    merge_ranges,
    ranges,
    spec_from_ranges,
    summarize,
    to_arrow,
)
from mlops.pipelines.windows import Source

TestName = Literal["auto", "wasserstein", "jensenshannon", "ks", "chisquare", "z", "psi"]
# Distances drift at or above their threshold; p-values at or below (KS) or below (chi-square,
# z), exactly as Evidently compares them.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.2,
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
}
P_VALUE_TESTS = {"ks", "chisquare", "z"}
MIN_ROWS = 30  # a current window smaller than this gets a warning, not a dataset verdict
PLOT_BINS = 32
PLOT_CATEGORIES = 12
NAMED_CATEGORIES = 20


@dataclass(frozen=True)
class FeatureRule:
    """One feature's test and threshold, where the default will not do.

    Attributes:
        test: ``auto`` (the default rule) or a test by name.
        threshold: the test's threshold; None for its default.
    """

    test: TestName = "auto"
    threshold: float | None = None


@dataclass(frozen=True)
class DriftOptions:
    """Thresholds of the whole check.

    Attributes:
        share: the dataset drifts when at least this share of its features drift.
        rules: per-feature tests and thresholds.
        missing_p: significance of the missing-rate test.
        missing_effect: the smallest change in missing rate (absolute) that counts.
    """

    share: float = 0.5
    rules: Mapping[str, FeatureRule] = field(default_factory=dict)
    missing_p: float = 0.05
    missing_effect: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise MonitoringInputError(f"the drift share must be in (0, 1], got {self.share}")
        for name, rule in self.rules.items():
            if rule.test not in ("auto", *DEFAULT_THRESHOLDS):
                known = ", ".join(DEFAULT_THRESHOLDS)
                raise MonitoringInputError(
                    f"{name}: unknown test '{rule.test}'; use one of {known}"
                )


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's verdict and what it rests on.

    ``statistic`` is None, and ``drifted`` False, when the feature cannot be tested (no present
    values on one side); ``note`` says why. ``error`` bounds the difference between a binned
    Wasserstein statistic and the exact one (0 when exact).
    """

    feature: str
    kind: Kind
    test: str
    statistic: float | None
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    missing_reference: float
    missing_current: float
    missing_drifted: bool
    psi: float | None = None
    error: float = 0.0
    new_categories: list[str] = field(default_factory=list)
    vanished_categories: list[str] = field(default_factory=list)
    note: str = ""
    plot: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftReport:
    """Every feature's verdict, the drifted share and the dataset verdict."""

    features: list[FeatureDrift]
    rows: int
    score: float
    drifted: bool
    share: float = 0.5
    reference_rows: int = 0
    warning: str = ""

    @property
    def drifted_features(self) -> list[str]:
        """Features whose distribution drifted."""
        return [f.feature for f in self.features if f.drifted]

    @property
    def verdict(self) -> str:
        """The dataset verdict and why: ``3 of 5 features drifted (share 0.6 >= 0.5): drift``."""
        drifted, total = len(self.drifted_features), len(self.features)
        exact = drifted / max(total, 1)
        sign = ">=" if exact >= self.share else "<"
        head = (
            f"{drifted} of {total} features drifted"
            f" (share {round(self.score, 2):g} {sign} {self.share:g})"
        )
        if self.warning:
            return f"{head}: no verdict ({self.warning})"
        return f"{head}: {'drift' if self.drifted else 'no drift'}"

    @property
    def missing_drifted(self) -> list[str]:
        """Features whose missing-value rate changed."""
        return [f.feature for f in self.features if f.missing_drifted]

    def to_dict(self, plots: bool = False) -> dict[str, Any]:
        """Plain data for JSON reports (per-feature plot data only when asked)."""
        features = []
        for f in self.features:
            item = asdict(f)
            if not plots:
                item.pop("plot")
            features.append(item)
        return {
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "score": self.score,
            "share": self.share,
            "drifted": self.drifted,
            "warning": self.warning,
            "drifted_features": self.drifted_features,
            "missing_drifted": self.missing_drifted,
            "features": features,
        }


Column = Any  # a NumPy array (numeric, NaN missing) or a pyarrow array (categorical, nulls)
# Present values of a feature in both windows, for the exact statistic near a threshold.
ExactValues = Callable[[str], tuple[np.ndarray, np.ndarray]]


def compare(
    reference: Mapping[str, Column],
    current: Mapping[str, Column],
    features: Sequence[str] | None = None,
    options: DriftOptions | None = None,
    categorical: Sequence[str] = (),
) -> DriftReport:
    """Compare ``current`` with ``reference``, feature by feature.

    Columns are NumPy float arrays (numeric; NaN and infinities are missing) or pyarrow arrays
    (strings, booleans, or integers to be read as categories; nulls are missing). Features in
    ``categorical`` are read as categories whatever their columns hold (``1.0`` is ``"1"``).
    Both windows are summarized (:mod:`mlops.pipelines.sketch`) and the verdicts read the
    summaries, as they do for windows read chunk by chunk.

    Raises:
        MonitoringInputError: a window has no rows, a feature is missing from a window, or a
            feature is numeric in one window and categorical in the other.
    """
    names = list(features if features is not None else reference)
    lacking = [n for n in names if n not in current]
    lacking_ref = [n for n in names if n not in reference]
    if lacking or lacking_ref:
        side, which = ("current", lacking) if lacking else ("reference", lacking_ref)
        raise MonitoringInputError(f"the {side} window lacks feature(s): {', '.join(which)}")
    _rows(reference, names, "reference")
    _rows(current, names, "current")
    forced = set(categorical) & set(names)
    reference = {n: _column(reference[n], n in forced) for n in names}
    current = {n: _column(current[n], n in forced) for n in names}
    for n in names:
        kinds = (kind_of(reference[n]), kind_of(current[n]))
        if kinds[0] != kinds[1]:
            raise _mixed(n, *kinds)
    ref = summarize(reference, names, categorical=forced, moments=True)
    cur = summarize(current, names, ref.spec(), forced)

    def exact(name: str) -> tuple[np.ndarray, np.ndarray]:
        return _present(reference[name]), _present(current[name])

    return compare_summaries(ref, cur, names, options, exact)


def compare_sources(
    reference: Source,
    current: Source,
    features: Sequence[str],
    options: DriftOptions | None = None,
    categorical: Sequence[str] = (),
    summary: WindowSummary | None = None,
) -> DriftReport:
    """Compare two windows read chunk by chunk: memory holds a chunk and the summaries.

    ``summary`` is the reference's, made earlier (at training time); without it the reference
    is read twice (its ranges, from Parquet statistics where it has them, then its summary).

    Raises:
        MonitoringInputError: a window lacks a feature or has no rows, or a feature is numeric
            in one window and categorical in the other.
    """
    names = list(features)
    for side, source in (("reference", reference), ("current", current)):
        lacking = [n for n in names if n not in source.columns]
        if lacking and not (side == "reference" and summary is not None):
            raise MonitoringInputError(f"the {side} window lacks feature(s): {', '.join(lacking)}")
    if summary is not None:
        ref = summary
        cur = summarize_source(current, names, ref.spec(), categorical)
    else:
        ref, cur = _both(reference, current, names, categorical)

    def exact(name: str) -> tuple[np.ndarray, np.ndarray]:
        return present_values(reference, name), present_values(current, name)

    return compare_summaries(ref, cur, names, options, exact)


def _both(
    reference: Source, current: Source, names: Sequence[str], categorical: Sequence[str]
) -> tuple[WindowSummary, WindowSummary]:
    """Both windows' summaries; at once (two threads) when the reference's grids are known.

    With the reference's ranges from Parquet statistics, the current window's grids are known
    before the reference is read, so both are read side by side (Arrow's decoding and NumPy
    both release the GIL). Should the reference turn out to need other grids (the exact KS
    test's points of a small reference), the current window is read again on them.
    """
    found = reference.ranges()
    if found is None:
        ref = summarize_source(reference, names, categorical=categorical, moments=True)
        return ref, summarize_source(current, names, ref.spec(), categorical)
    from concurrent.futures import ThreadPoolExecutor

    spec = spec_from_ranges(found, names)
    with ThreadPoolExecutor(2, thread_name_prefix="drift") as pool:
        ref_job = pool.submit(summarize_source, reference, names, spec, categorical, True)
        cur_job = pool.submit(summarize_source, current, names, spec, categorical)
        ref, cur = ref_job.result(), cur_job.result()
    if not _same_grids(ref.spec(), spec):
        cur = summarize_source(current, names, ref.spec(), categorical)
    return ref, cur


def _same_grids(a: Mapping[str, FeatureSpec], b: Mapping[str, FeatureSpec]) -> bool:
    return a.keys() == b.keys() and all(
        (a[n].kind, a[n].lo, a[n].hi) == (b[n].kind, b[n].lo, b[n].hi)
        and a[n].points is None
        and b[n].points is None
        for n in a
    )


def summarize_source(
    source: Source,
    features: Sequence[str],
    spec: Mapping[str, FeatureSpec] | None = None,
    categorical: Iterable[str] = (),
    moments: bool = False,
) -> WindowSummary:
    """A window's summary, chunk by chunk; without ``spec``, on its own grids (a reference)."""
    forced = set(categorical)
    if spec is None:
        found = source.ranges()
        if found is None:
            found = {}
            numeric = [n for n in features if n not in forced]
            for chunk in source.chunks(numeric):
                found = merge_ranges(found, ranges(chunk, numeric))
        spec = spec_from_ranges(found, features)
    summarizer = Summarizer(spec, features, forced, moments)
    for chunk in source.chunks(features):
        summarizer.add(chunk)
    return summarizer.result()


def present_values(source: Source, name: str) -> np.ndarray:
    """One numeric feature's present values, read again (the exact distance near a threshold)."""
    parts = [_present(chunk[name]) for chunk in source.chunks([name])]
    return np.concatenate(parts) if parts else np.empty(0)


def _column(column: Column, forced: bool) -> Column:
    if forced:
        return as_categories(column)
    if isinstance(column, np.ndarray | list | tuple) and kind_of(np.asarray(column)) == "numeric":
        return np.asarray(column, dtype=np.float64)
    if isinstance(column, list | tuple):
        return to_arrow(column)
    return column


def _present(column: Column) -> np.ndarray:
    x = np.asarray(column, dtype=np.float64)
    return x[np.isfinite(x)]


def _mixed(name: str, ref_kind: str, cur_kind: str) -> MonitoringInputError:
    return MonitoringInputError(
        f"{name} is {ref_kind} in the reference but {cur_kind} in the current window:"
        " a column of mixed types; fix its type at the source"
    )


def _rows(frame: Mapping[str, Column], names: Sequence[str], side: str) -> int:
    lengths = {len(frame[n]) for n in names}
    if len(lengths) > 1:
        raise MonitoringInputError(
            f"the {side} window's columns have different lengths: {sorted(lengths)}"
        )
    rows = lengths.pop() if lengths else 0
    if rows == 0:
        raise MonitoringInputError(f"the {side} window has no rows: nothing to compare")
    return rows


def compare_summaries(
    reference: WindowSummary,
    current: WindowSummary,
    features: Sequence[str],
    options: DriftOptions | None = None,
    exact: ExactValues | None = None,
) -> DriftReport:
    """The verdicts from two windows' summaries (the current one on the reference's grids).

    ``exact`` gives a feature's present values in both windows when a binned distance is too
    close to its threshold to decide (a second read of one column); without it the verdict is
    the bracket's midpoint's, and the feature's ``error`` says how far it may be off.

    Raises:
        MonitoringInputError: a window has no rows or lacks a feature, or a feature is numeric
            in one window and categorical in the other.
    """
    options = options or DriftOptions()
    for side, summary in (("reference", reference), ("current", current)):
        lacking = [n for n in features if n not in summary.features]
        if lacking:
            raise MonitoringInputError(f"the {side} window lacks feature(s): {', '.join(lacking)}")
        if summary.rows == 0:
            raise MonitoringInputError(f"the {side} window has no rows: nothing to compare")
    results = []
    for name in features:
        ref, cur = reference.features[name], current.features[name]
        if ref.kind != cur.kind:
            raise _mixed(name, ref.kind, cur.kind)
        rule = options.rules.get(name, FeatureRule())
        if isinstance(ref, NumericSummary) and isinstance(cur, NumericSummary):
            results.append(_numeric(name, ref, cur, rule, options, exact))
        elif isinstance(ref, CategoricalSummary) and isinstance(cur, CategoricalSummary):
            results.append(_categorical(name, ref, cur, rule, options))
    share = sum(r.drifted for r in results) / max(len(results), 1)
    warning = ""
    if current.rows < MIN_ROWS:
        warning = (
            f"the current window has {current.rows} rows, under the {MIN_ROWS} the drift tests"
            " need: no dataset verdict (and no alarm); collect a larger window"
        )
    return DriftReport(
        results, current.rows, round(share, 4), share >= options.share and not warning,
        options.share, reference.rows, warning,
    )  # fmt: skip


def _missing(
    n_ref: int, present_ref: int, n_cur: int, present_cur: int, options: DriftOptions
) -> tuple[float, float, bool]:
    rate_r, rate_c = 1 - present_ref / n_ref, 1 - present_cur / n_cur
    p = _two_proportions_p(rate_r, n_ref, rate_c, n_cur)
    return rate_r, rate_c, p <= options.missing_p and abs(rate_c - rate_r) >= options.missing_effect


def _two_proportions_p(p1: float, n1: int, p2: float, n2: int) -> float:
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if p1 == p2 else 0.0
    return math.erfc(abs(p1 - p2) / se / math.sqrt(2))


def _untestable(
    name: str, kind: Kind, rows: tuple[int, int], missing: tuple[float, float, bool]
) -> FeatureDrift:
    side = "reference" if rows[0] == 0 else "current"
    return FeatureDrift(
        name, kind, "none", None, 0.0, False, rows[0], rows[1], *missing,
        note=f"no present values in the {side} window: only its missing rate is tested",
    )  # fmt: skip


# --- numeric features -------------------------------------------------------------------------


def _numeric(
    name: str,
    ref: NumericSummary,
    cur: NumericSummary,
    rule: FeatureRule,
    options: DriftOptions,
    exact: ExactValues | None,
) -> FeatureDrift:
    missing = _missing(ref.rows, ref.present, cur.rows, cur.present, options)
    if ref.present == 0 or cur.present == 0:
        return _untestable(name, "numeric", (ref.present, cur.present), missing)
    values = _union_values(ref.values, cur.values)
    test = rule.test
    if test == "auto":
        if ref.present <= 1000:
            many = values is None
            test = "ks" if many else ("chisquare" if len(values) > 2 else "z")  # type: ignore[arg-type]
        else:
            test = "wasserstein" if values is None else "jensenshannon"
    threshold = rule.threshold if rule.threshold is not None else DEFAULT_THRESHOLDS[test]
    grid = _Grid(ref, cur)
    psi, error = grid.psi(), 0.0
    if test == "wasserstein":
        statistic, error = grid.wasserstein_normed(threshold, ref.std, name, exact)
    elif test == "psi":
        statistic = psi
    elif test == "ks":
        statistic, error = _ks(ref, cur, grid)
    else:
        counts_r, counts_c = _aligned_numbers(ref, cur, values, grid)
        statistic = _count_test(test, counts_r, counts_c)
    return FeatureDrift(
        name, "numeric", test, statistic, threshold, _drifts(test, statistic, threshold),
        ref.present, cur.present, *missing, psi=psi, error=error, plot=grid.plot(),
    )  # fmt: skip


def _union_values(
    a: dict[float, int] | None, b: dict[float, int] | None, limit: int = FEW
) -> list[float] | None:
    if a is None or b is None:
        return None
    keys = sorted(set(a) | set(b))
    return keys if len(keys) <= limit else None


def _aligned_numbers(
    ref: NumericSummary, cur: NumericSummary, values: list[float] | None, grid: _Grid
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each distinct value (exact), or of each occupied bin with many values."""
    if values is not None and ref.values is not None and cur.values is not None:
        counts_r = np.array([ref.values.get(v, 0) for v in values], dtype=np.float64)
        counts_c = np.array([cur.values.get(v, 0) for v in values], dtype=np.float64)
        return counts_r, counts_c
    if ref.raw is not None and cur.raw is not None:
        keys = np.unique(np.concatenate([ref.raw, cur.raw]))
        tally_r = np.bincount(np.searchsorted(keys, ref.raw), minlength=len(keys))
        tally_c = np.bincount(np.searchsorted(keys, cur.raw), minlength=len(keys))
        return tally_r.astype(np.float64), tally_c.astype(np.float64)
    used = (grid.hist_r + grid.hist_c) > 0
    return grid.hist_r[used].astype(np.float64), grid.hist_c[used].astype(np.float64)


def _ks(ref: NumericSummary, cur: NumericSummary, grid: _Grid) -> tuple[float, float]:
    """KS p-value: exact from the reference's values and the current's counts at them.

    The current's values are counted below, at and between the reference's distinct values
    (:func:`mlops.pipelines.sketch.slot_index`); a stand-in sample with the same counts (one
    value per slot) orders exactly as the current does against the reference, so it has the
    same statistic and size, hence scipy's same p-value. Without the reference's values (a
    reference over KS_POINTS, asked for KS) the statistic comes from the grid's CDFs, and
    ``error`` bounds it.
    """
    from scipy.stats import ks_2samp

    if ref.raw is not None and cur.raw is not None:
        return float(ks_2samp(ref.raw, cur.raw)[1]), 0.0
    if ref.raw is not None and cur.slots is not None:
        points = np.unique(ref.raw)
        if 2 * len(points) + 1 == len(cur.slots):
            return float(ks_2samp(ref.raw, _stand_in(points, cur.slots))[1]), 0.0
    from scipy.stats import kstwo

    a, b = grid.cdf_r, grid.cdf_c
    d_low = float(np.abs(a - b).max())
    d_high = float(np.maximum(np.abs(a[1:] - b[:-1]), np.abs(a[:-1] - b[1:])).max())
    n = round(ref.present * cur.present / (ref.present + cur.present))
    p_at = [float(kstwo.sf(d, max(n, 1))) for d in (d_low, d_high)]
    return (p_at[0] + p_at[1]) / 2, abs(p_at[0] - p_at[1]) / 2


def _stand_in(points: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """One value per slot, repeated by its count: below, at, and between the points."""
    between = (points[:-1] + points[1:]) / 2
    values = np.empty(2 * len(points) + 1)
    values[1::2] = points
    values[2:-1:2] = between
    values[0] = np.nextafter(points[0], -np.inf)
    values[-1] = np.nextafter(points[-1], np.inf)
    return np.repeat(values, slots)


def _drifts(test: str, statistic: float, threshold: float) -> bool:
    if math.isnan(statistic):
        return False
    if test == "ks":
        return statistic <= threshold
    if test in P_VALUE_TESTS:
        return statistic < threshold
    return statistic >= threshold


class _Grid:
    """Both windows of a numeric feature on the reference's grid (plus a bin on either side)."""

    def __init__(self, ref: NumericSummary, cur: NumericSummary) -> None:
        self.hist_r, self.hist_c = ref.hist, cur.hist
        self.n_r, self.n_c = ref.present, cur.present
        self.low = min(ref.low, cur.low)
        self.high = max(ref.high, cur.high)
        inner = _grid_edges(ref)
        # the outer bins reach the lowest and highest present value, whatever side it is on
        self.edges = np.concatenate(
            [[min(self.low, inner[0])], inner, [max(self.high, inner[-1])]]
        )
        self.cdf_r = np.concatenate([[0.0], np.cumsum(self.hist_r)]) / self.n_r
        self.cdf_c = np.concatenate([[0.0], np.cumsum(self.hist_c)]) / self.n_c
        self.ref, self.cur = ref, cur

    def wasserstein_normed(
        self, threshold: float, std: float, name: str, exact: ExactValues | None
    ) -> tuple[float, float]:
        """The normed distance and a bound on its error (0 when computed exactly)."""
        norm = max(std, 0.001)
        if self.low == self.high:
            return 0.0, 0.0
        if self.ref.raw is not None and self.cur.raw is not None:
            return _wasserstein(self.ref.raw, self.cur.raw) / norm, 0.0
        widths = np.diff(self.edges)
        a0, a1 = self.cdf_r[:-1], self.cdf_r[1:]
        b0, b1 = self.cdf_c[:-1], self.cdf_c[1:]
        # Within a bin each CDF moves between its edge values, so |F_r - F_c| lies between
        # these; summed, they bracket the integral that is the distance.
        upper = float((np.maximum(a1 - b0, b1 - a0) * widths).sum()) / norm
        lower = float((np.maximum(0.0, np.maximum(a0 - b1, b0 - a1)) * widths).sum()) / norm
        slack = 1e-9 * (1 + upper)  # float rounding at bin edges
        if lower - slack >= threshold or upper + slack < threshold or exact is None:
            return (lower + upper) / 2, (upper - lower) / 2
        ref, cur = exact(name)
        return _wasserstein(ref, cur) / norm, 0.0

    def psi(self) -> float:
        """Population stability index over the reference's deciles (snapped to the grid)."""
        cuts = np.searchsorted(self.cdf_r[1:], np.linspace(0.1, 0.9, 9), side="left")
        edges = np.unique(np.concatenate([[0], cuts + 1, [len(self.hist_r)]]))
        edges = edges[edges < len(self.hist_r)]
        shares_r = np.add.reduceat(self.hist_r, edges) / self.n_r
        shares_c = np.add.reduceat(self.hist_c, edges) / self.n_c
        return _psi(shares_r, shares_c)

    def plot(self) -> dict[str, Any]:
        """Shares of each window in about PLOT_BINS bins over their joint range (the report)."""
        used = np.flatnonzero((self.hist_r + self.hist_c) > 0)
        first, last = int(used[0]), int(used[-1]) + 1
        cuts = np.unique(np.linspace(first, last, PLOT_BINS + 1).round().astype(int))
        shares_r = np.add.reduceat(self.hist_r, cuts[:-1]) / self.n_r
        shares_c = np.add.reduceat(self.hist_c, cuts[:-1]) / self.n_c
        edges = self.edges[cuts]
        edges[0], edges[-1] = max(edges[0], self.low), min(edges[-1], self.high)
        return {
            "edges": [round(float(e), 6) for e in edges],
            "reference": [round(float(s), 6) for s in shares_r[: len(cuts) - 1]],
            "current": [round(float(s), 6) for s in shares_c[: len(cuts) - 1]],
        }


def _wasserstein(ref: np.ndarray, cur: np.ndarray) -> float:
    from scipy.stats import wasserstein_distance  # imported when needed: scipy.stats is slow

    return float(wasserstein_distance(ref, cur))


def _grid_edges(ref: NumericSummary) -> np.ndarray:
    return FeatureSpec("numeric", ref.lo, ref.hi).edges()


def _psi(shares_r: np.ndarray, shares_c: np.ndarray) -> float:
    r = np.clip(shares_r, 1e-4, None)
    c = np.clip(shares_c, 1e-4, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _jensenshannon(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen-Shannon distance as scipy computes it (natural log), without scipy.spatial."""
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((left + right) / 2, 0.0)))


def _count_test(test: str, counts_r: np.ndarray, counts_c: np.ndarray) -> float:
    """chi-square, z or Jensen-Shannon (or PSI) on aligned value counts, as Evidently does."""
    n_r, n_c = counts_r.sum(), counts_c.sum()
    if test == "jensenshannon":
        return _jensenshannon(counts_r / n_r, counts_c / n_c)
    if test == "psi":
        return _psi(counts_r / n_r, counts_c / n_c)
    if test == "chisquare":
        from scipy.stats import chisquare

        with np.errstate(divide="ignore", invalid="ignore"):
            p = chisquare(counts_c, counts_r * (n_c / n_r))[1]
        return float(p)
    # z: the share of values other than the first (sorted) key, both windows
    if np.count_nonzero(counts_r) == 1 and np.array_equal(counts_r > 0, counts_c > 0):
        return 1.0  # one and the same value throughout
    p1, p2 = 1 - counts_r[0] / n_r, 1 - counts_c[0] / n_c
    pooled = (p1 * n_r + p2 * n_c) / (n_r + n_c)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_r + 1 / n_c))
    if se == 0:
        return float("nan")
    return math.erfc(abs(p1 - p2) / se / math.sqrt(2))


# --- categorical features ---------------------------------------------------------------------


def value_counts(column: Column) -> tuple[dict[str, int], int]:
    """Each category's count (by its text) and the number of missing values."""
    summary = categorical_summary(column)
    return summary.counts, summary.missing


def as_categories(column: Column) -> Column:
    """A column read as categories by their text (pyarrow strings; nulls missing)."""
    import pyarrow as pa

    if isinstance(column, pa.Array | pa.ChunkedArray) and not pa.types.is_floating(column.type):
        return column
    values = column.to_pylist() if isinstance(column, pa.Array | pa.ChunkedArray) else column
    return pa.array([None if is_missing(v) else label_of(v) for v in values], type=pa.string())


def _categorical(
    name: str,
    ref: CategoricalSummary,
    cur: CategoricalSummary,
    rule: FeatureRule,
    options: DriftOptions,
) -> FeatureDrift:
    counts_r, counts_c = ref.counts, cur.counts
    n_r, n_c = ref.present, cur.present
    missing = _missing(ref.rows, n_r, cur.rows, n_c, options)
    if n_r == 0 or n_c == 0:
        return _untestable(name, "categorical", (n_r, n_c), missing)
    keys = sorted(set(counts_r) | set(counts_c))
    aligned_r = np.array([counts_r.get(k, 0) for k in keys], dtype=np.float64)
    aligned_c = np.array([counts_c.get(k, 0) for k in keys], dtype=np.float64)
    test = rule.test
    if test == "auto":
        test = ("chisquare" if len(keys) > 2 else "z") if n_r <= 1000 else "jensenshannon"
    if test in ("wasserstein", "ks"):
        raise MonitoringInputError(f"{name}: {test} needs numbers, and {name} is categorical")
    threshold = rule.threshold if rule.threshold is not None else DEFAULT_THRESHOLDS[test]
    statistic = _count_test(test, aligned_r, aligned_c)
    new = sorted((k for k in counts_c if k not in counts_r), key=lambda k: -counts_c[k])
    gone = sorted((k for k in counts_r if k not in counts_c), key=lambda k: -counts_r[k])
    return FeatureDrift(
        name, "categorical", test, statistic, threshold, _drifts(test, statistic, threshold),
        n_r, n_c, *missing, psi=_psi(aligned_r / n_r, aligned_c / n_c),
        new_categories=new[:NAMED_CATEGORIES], vanished_categories=gone[:NAMED_CATEGORIES],
        plot=_category_plot(keys, aligned_r / n_r, aligned_c / n_c),
    )  # fmt: skip


def _category_plot(keys: list[str], shares_r: np.ndarray, shares_c: np.ndarray) -> dict[str, Any]:
    order = np.argsort(-np.maximum(shares_r, shares_c), kind="stable")[:PLOT_CATEGORIES]
    labels = [keys[i] for i in order]
    ref, cur = [float(shares_r[i]) for i in order], [float(shares_c[i]) for i in order]
    if len(keys) > PLOT_CATEGORIES:
        labels.append("(other)")
        ref.append(float(1 - sum(ref)))
        cur.append(float(1 - sum(cur)))
    return {
        "labels": labels,
        "reference": [round(v, 6) for v in ref],
        "current": [round(v, 6) for v in cur],
    }


# --- the lifecycle's entry points -------------------------------------------------------------


def drift_report(
    reference: np.ndarray,
    current: np.ndarray,
    columns: list[str],
    options: DriftOptions | None = None,
    categorical: Sequence[str] = (),
) -> DriftReport:
    """Compare two row matrices (features in ``columns`` order).

    ``categorical`` names the columns to test as categories (the contract's ``category`` and
    ``bool`` features); the rest are numbers. An object matrix (served rows with categories'
    text) is fine: its numeric columns are read as floats.
    """
    named = set(categorical)

    def column(matrix: np.ndarray, i: int, name: str) -> Column:
        values = matrix[:, i]
        if name in named:
            return as_categories(list(values))
        return np.asarray(values, dtype=np.float64)

    ref = {c: column(reference, i, c) for i, c in enumerate(columns)}
    cur = {c: column(current, i, c) for i, c in enumerate(columns)}
    return compare(ref, cur, columns, options)


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, and why."""

    retrain: bool
    reason: str


def decide(report: DriftReport, *, threshold: float) -> RetrainDecision:
    """Retrain when the drift score passes the threshold: a verdict only.

    Acting on it is the platform's :class:`~mlops.pipelines.ports.RetrainTrigger`
    (:func:`mlops.pipelines.verdict.conclude`).
    """
    named = ", ".join(report.drifted_features[:8]) or "none"
    if report.warning:
        return RetrainDecision(False, f"no verdict, keep the model: {report.warning}")
    if report.score <= threshold:
        return RetrainDecision(
            False,
            f"drift score {report.score:.2f} <= {threshold}: keep the model (drifted: {named})",
        )
    reason = f"drift score {report.score:.2f} > {threshold}: retrain (drifted: {named})"
    if report.missing_drifted:
        reason += f"; missing values changed in {', '.join(report.missing_drifted[:8])}"
    return RetrainDecision(True, reason)
