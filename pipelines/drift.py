"""Data drift between the training data and captured traffic, and the retraining decision.

Per column, the rules Evidently applies by default (shared/bench/README.md):

* reference over 1000 rows: numeric columns with more than 5 distinct values use the Wasserstein
  distance divided by the reference's standard deviation (drift at 0.1 or more); others the
  Jensen-Shannon distance (drift at 0.1 or more);
* reference of 1000 rows or fewer: columns with 2 or fewer distinct values use a
  two-proportion z-test, others the two-sample Kolmogorov-Smirnov test (drift at p <= 0.05).

The dataset drifts when at least half of its columns drift; the score is the drifted share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.core.contracts import DRIFT_DIMENSION, DRIFT_METRIC, DRIFT_NAMESPACE
from mlops.pipelines.aws import call


@dataclass(frozen=True)
class ColumnDrift:
    """One column's test."""

    column: str
    test: str
    statistic: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """All columns, the share that drifted, and the verdict."""

    columns: list[ColumnDrift]
    rows: int
    score: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain data for reports."""
        return {
            "rows": self.rows,
            "score": self.score,
            "drifted": self.drifted,
            "columns": [c.__dict__ for c in self.columns],
        }


def ks_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (asymptotic Kolmogorov distribution)."""
    a, b = np.sort(a), np.sort(b)
    values = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, values, side="right") / len(a)
    cdf_b = np.searchsorted(b, values, side="right") / len(b)
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    n = len(a) * len(b) / (len(a) + len(b))
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return float(min(max(p, 0.0), 1.0))


def z_test_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-proportion z-test on the share of the larger value."""
    level = max(np.max(a), np.max(b))
    p1, p2 = float(np.mean(a == level)), float(np.mean(b == level))
    pooled = (p1 * len(a) + p2 * len(b)) / (len(a) + len(b))
    se = math.sqrt(pooled * (1 - pooled) * (1 / len(a) + 1 / len(b)))
    if se == 0:
        return 1.0 if p1 == p2 else 0.0
    return float(math.erfc(abs(p1 - p2) / se / math.sqrt(2)))


def wasserstein_normed(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between the samples, divided by the reference's std."""
    grid = np.linspace(0, 1, 513)
    distance = float(np.mean(np.abs(np.quantile(a, grid) - np.quantile(b, grid))))
    std = float(np.std(a))
    return distance / std if std > 0 else (0.0 if distance == 0 else math.inf)


def jensen_shannon(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon distance between the value frequencies."""
    values = np.union1d(np.unique(a), np.unique(b))
    p = np.array([np.mean(a == v) for v in values]) + 1e-12
    q = np.array([np.mean(b == v) for v in values]) + 1e-12
    m = (p + q) / 2
    divergence = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(math.sqrt(max(divergence, 0.0)))


def column_drift(column: str, reference: np.ndarray, current: np.ndarray) -> ColumnDrift:
    """Apply the default rule for this column."""
    distinct = len(np.unique(reference))
    if len(reference) > 1000:
        if distinct > 5:
            stat = wasserstein_normed(reference, current)
            return ColumnDrift(column, "wasserstein_normed", stat, 0.1, stat >= 0.1)
        stat = jensen_shannon(reference, current)
        return ColumnDrift(column, "jensen_shannon", stat, 0.1, stat >= 0.1)
    if distinct <= 2:
        p = z_test_pvalue(reference, current)
        return ColumnDrift(column, "z_test", p, 0.05, p < 0.05)
    p = ks_pvalue(reference, current)
    return ColumnDrift(column, "ks", p, 0.05, p <= 0.05)


def drift_report(reference: np.ndarray, current: np.ndarray, columns: list[str]) -> DriftReport:
    """Compare ``current`` rows against ``reference`` rows, column by column."""
    results = [column_drift(c, reference[:, i], current[:, i]) for i, c in enumerate(columns)]
    share = sum(r.drifted for r in results) / max(len(results), 1)
    return DriftReport(results, int(current.shape[0]), round(share, 4), share >= 0.5)


def publish(cloudwatch: Any, endpoint: str, report: DriftReport) -> None:
    """Publish the score the platform's drift alarm watches."""
    call(
        "cloudwatch.PutMetricData",
        cloudwatch.put_metric_data,
        Namespace=DRIFT_NAMESPACE,
        MetricData=[
            {
                "MetricName": DRIFT_METRIC,
                "Dimensions": [{"Name": DRIFT_DIMENSION, "Value": endpoint}],
                "Value": report.score,
            }
        ],
    )


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, and why."""

    retrain: bool
    reason: str
    pipeline_execution_arn: str = ""


def decide(
    report: DriftReport, *, threshold: float, sagemaker: Any = None, pipeline: str = ""
) -> RetrainDecision:
    """Retrain when the drift score passes the threshold; start the pipeline if one is given."""
    if report.score <= threshold:
        return RetrainDecision(
            False, f"drift score {report.score:.2f} <= {threshold}: keep the model"
        )
    reason = f"drift score {report.score:.2f} > {threshold}: retrain"
    if sagemaker is None or not pipeline:
        return RetrainDecision(True, reason)
    started = call(
        "sagemaker.StartPipelineExecution",
        sagemaker.start_pipeline_execution,
        PipelineName=pipeline,
        PipelineParameters=[{"Name": "TriggeredBy", "Value": "drift"}],
    )
    return RetrainDecision(True, reason, started["PipelineExecutionArn"])
