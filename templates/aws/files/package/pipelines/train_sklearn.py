"""Train the example model with scikit-learn (CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

# The distribution this module trains with; its version is part of every run's identity.
FRAMEWORK = "scikit-learn"
ARTIFACT = "model.joblib"
DEFAULTS: dict[str, Any] = {"C": 1.0, "max_iter": 500}


def train(x: np.ndarray, y: np.ndarray, params: dict[str, Any] | None = None) -> Pipeline:
    """Fit a scaled logistic regression; ``params`` override :data:`DEFAULTS`."""
    hp = {**DEFAULTS, **(params or {})}
    model = make_pipeline(
        StandardScaler(),
        LogisticRegression(C=float(hp["C"]), max_iter=int(hp["max_iter"]), class_weight="balanced"),
    )
    return model.fit(x, y)


def predict_proba(model: Pipeline, x: np.ndarray) -> np.ndarray:
    """Probability of the positive class for each row."""
    return model.predict_proba(x)[:, 1]


def save(model: Pipeline, directory: Path) -> Path:
    """Write the model artifact into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT
    joblib.dump(model, path)
    return path


def load(directory: Path) -> Pipeline:
    """Read the model artifact from ``directory``."""
    model: Pipeline = joblib.load(directory / ARTIFACT)
    return model
