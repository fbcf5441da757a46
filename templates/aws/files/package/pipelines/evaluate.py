"""Evaluation metrics: mlops-stack's own, so local runs, the container and the registry agree.

``evaluate(y_true, scores, threshold=0.5)`` returns accuracy, precision, recall, F1, ROC-AUC and
the confusion matrix of probability scores.
"""

from mlops.pipelines.evaluate import classification_metrics as evaluate
from mlops.pipelines.evaluate import roc_auc

__all__ = ["evaluate", "roc_auc"]
