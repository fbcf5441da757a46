"""Train the example model with scikit-learn (CPU).

``train()`` receives named columns (feature name -> NumPy array, in data-contract order; see
``features.py``), fits the features transform on them and returns a model that carries it, so
``predict_proba()`` takes the same named columns and serving applies the same transform.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from . import features as feature_transform
from .features import Columns, Features

# The distribution this module trains with; its version is part of every run's identity.
FRAMEWORK = "scikit-learn"
# train() and predict_proba() take named columns (not a positional matrix).
INPUT = "columns"
ARTIFACT = "model.joblib"
DEFAULTS: dict[str, Any] = {"C": 1.0, "max_iter": 500}


@dataclass
class Model:
    """The fitted features transform and the estimator behind it."""

    features: Features
    estimator: Pipeline


def train(columns: Columns, y: np.ndarray, params: dict[str, Any] | None = None) -> Model:
    """Fit a scaled logistic regression; ``params`` override :data:`DEFAULTS`."""
    hp = {**DEFAULTS, **(params or {})}
    features = Features().fit(columns)
    estimator = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=float(hp["C"]), max_iter=int(hp["max_iter"]), class_weight="balanced"),
    )
    return Model(features, estimator.fit(features.transform(columns), y))


def predict_proba(model: Model, columns: Columns) -> np.ndarray:
    """Probability of the positive class for each row."""
    return model.estimator.predict_proba(model.features.transform(columns))[:, 1]


def save(model: Model, directory: Path) -> Path:
    """Write the model artifact (and its features transform) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT
    joblib.dump(model.estimator, path)
    feature_transform.save(model.features, directory)
    return path


def load(directory: Path) -> Model:
    """Read the model artifact (and its features transform) from ``directory``."""
    estimator: Pipeline = joblib.load(directory / ARTIFACT)
    return Model(feature_transform.load(directory), estimator)
