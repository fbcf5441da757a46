"""Classification metrics in plain NumPy, so every framework is judged the same way."""

from __future__ import annotations

import numpy as np


def evaluate(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and ROC-AUC of probability ``scores``."""
    y_true = np.asarray(y_true).astype(int)
    predicted = (np.asarray(scores) >= threshold).astype(int)
    tp = int(((predicted == 1) & (y_true == 1)).sum())
    fp = int(((predicted == 1) & (y_true == 0)).sum())
    fn = int(((predicted == 0) & (y_true == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float((predicted == y_true).mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "roc_auc": roc_auc(y_true, np.asarray(scores, dtype=float)),
    }


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic, with ties counted as half."""
    positives = scores[y_true == 1]
    negatives = scores[y_true == 0]
    if len(positives) == 0 or len(negatives) == 0:
        return float("nan")
    greater = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(positives) * len(negatives)))
