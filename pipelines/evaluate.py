"""Metrics suited to the task (accuracy, F1 and ROC-AUC, or RMSE and MAE) and the gate.

Every executor scores and gates with these functions: the local executor, and the container's
``evaluate`` entry point that the SageMaker pipeline runs. Metric names and their direction are
:mod:`mlops.core.contracts`'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.core.contracts import CLASSIFICATION_METRICS, TASK_METRICS, higher_is_better
from mlops.core.errors import UserError


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1, ROC-AUC and the confusion matrix of probability scores."""
    truth = np.asarray(y_true).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tp = int(((predicted == 1) & (truth == 1)).sum())
    tn = int(((predicted == 0) & (truth == 0)).sum())
    fp = int(((predicted == 1) & (truth == 0)).sum())
    fn = int(((predicted == 0) & (truth == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    values = {
        "accuracy": (tp + tn) / max(len(truth), 1),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "roc_auc": roc_auc(truth, np.asarray(scores, dtype=float)),
    }
    return {
        **{m: values[m] for m in CLASSIFICATION_METRICS},
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic (rank based, ties count half)."""
    positives, negatives = int((y_true == 1).sum()), int((y_true == 0).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = ranks[y_true == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """RMSE and MAE (lower is better)."""
    error = np.asarray(predicted, dtype=float) - np.asarray(y_true, dtype=float)
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


def task_metrics(task: str, y_true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """The metrics of ``task`` for predictions ``scores`` (probabilities, or values)."""
    if task == "classification":
        return classification_metrics(y_true, scores)
    return regression_metrics(y_true, scores)


def check_primary_metric(task: str, metric: str) -> None:
    """Make sure ``task`` computes ``metric``.

    Raises:
        UserError: it does not; the message lists the task's metrics.
    """
    if metric not in TASK_METRICS[task]:
        raise UserError(
            f"the primary metric '{metric}' is not computed for a {task} task; set the stack's"
            f" primaryMetric to one of {', '.join(TASK_METRICS[task])}"
        )


def improvement(metric: str, candidate: float, approved: float) -> float:
    """How much better the candidate is (positive is better), whichever way the metric points."""
    return candidate - approved if higher_is_better(metric) else approved - candidate


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate may be promoted, and the figures that decided it."""

    metric: str
    candidate: float
    approved: float | None
    margin: float
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        """The ``gate`` section of an evaluation record (the pipeline's condition reads it)."""
        return {
            "metric": self.metric,
            "higher_is_better": higher_is_better(self.metric),
            "candidate": self.candidate,
            "approved": self.approved,
            "margin": self.margin,
            "improvement": (
                None
                if self.approved is None
                else improvement(self.metric, self.candidate, self.approved)
            ),
            "passed": self.passed,
        }


def gate(metric: str, candidate: float, approved: float | None, margin: float) -> GateDecision:
    """The candidate must beat the approved model by ``margin`` (any candidate beats none).

    A candidate whose metric is not a number (NaN: e.g. ROC-AUC on a one-class test split) never
    passes: nothing is promoted on a figure that cannot be compared.
    """
    if math.isnan(candidate):
        return GateDecision(metric, candidate, approved, margin, False)
    if approved is None or math.isnan(approved):
        return GateDecision(metric, candidate, None, margin, True)
    passed = improvement(metric, candidate, approved) >= margin
    return GateDecision(metric, candidate, approved, margin, passed)
