"""Train the example model with XGBoost, on the GPU when one is present.

``train()`` receives named columns (feature name -> NumPy array, in data-contract order; see
``features.py``), fits the features transform on them and returns a model that carries it, so
``predict_proba()`` takes the same named columns and serving applies the same transform.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xgboost import XGBClassifier

from . import features as feature_transform
from .features import Columns, Features

# The distribution this module trains with; its version is part of every run's identity.
FRAMEWORK = "xgboost"
# train() and predict_proba() take named columns (not a positional matrix).
INPUT = "columns"
ARTIFACT = "model.json"
DEFAULTS: dict[str, Any] = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1}


def default_device() -> str:
    """``cuda`` when an NVIDIA driver is visible, else ``cpu``."""
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


@dataclass
class Model:
    """The fitted features transform and the trees behind it."""

    features: Features
    estimator: XGBClassifier


def train(columns: Columns, y: np.ndarray, params: dict[str, Any] | None = None) -> Model:
    """Fit gradient-boosted trees; ``params`` override :data:`DEFAULTS`."""
    hp = {**DEFAULTS, **(params or {})}
    features = Features().fit(columns)
    positives = max(1, int(y.sum()))
    model = XGBClassifier(
        n_estimators=int(hp["n_estimators"]),
        max_depth=int(hp["max_depth"]),
        learning_rate=float(hp["learning_rate"]),
        tree_method="hist",
        device=hp.get("device", default_device()),
        scale_pos_weight=(len(y) - positives) / positives,
    )
    return Model(features, model.fit(features.transform(columns), y))


def predict_proba(model: Model, columns: Columns) -> np.ndarray:
    """Probability of the positive class for each row."""
    return np.asarray(model.estimator.predict_proba(model.features.transform(columns)))[:, 1]


def save(model: Model, directory: Path) -> Path:
    """Write the model artifact (and its features transform) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT
    model.estimator.save_model(path)
    feature_transform.save(model.features, directory)
    return path


def load(directory: Path) -> Model:
    """Read the model artifact (and its features transform) from ``directory``."""
    estimator = XGBClassifier()
    estimator.load_model(directory / ARTIFACT)
    return Model(feature_transform.load(directory), estimator)
