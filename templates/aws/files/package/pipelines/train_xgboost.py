"""Train the example model with XGBoost, on the GPU when one is present."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from xgboost import XGBClassifier

# The distribution this module trains with; its version is part of every run's identity.
FRAMEWORK = "xgboost"
ARTIFACT = "model.json"
DEFAULTS: dict[str, Any] = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1}


def default_device() -> str:
    """``cuda`` when an NVIDIA driver is visible, else ``cpu``."""
    return "cuda" if shutil.which("nvidia-smi") else "cpu"


def train(x: np.ndarray, y: np.ndarray, params: dict[str, Any] | None = None) -> XGBClassifier:
    """Fit gradient-boosted trees; ``params`` override :data:`DEFAULTS`."""
    hp = {**DEFAULTS, **(params or {})}
    positives = max(1, int(y.sum()))
    model = XGBClassifier(
        n_estimators=int(hp["n_estimators"]),
        max_depth=int(hp["max_depth"]),
        learning_rate=float(hp["learning_rate"]),
        tree_method="hist",
        device=hp.get("device", default_device()),
        scale_pos_weight=(len(y) - positives) / positives,
    )
    return model.fit(x, y)


def predict_proba(model: XGBClassifier, x: np.ndarray) -> np.ndarray:
    """Probability of the positive class for each row."""
    return np.asarray(model.predict_proba(x))[:, 1]


def save(model: XGBClassifier, directory: Path) -> Path:
    """Write the model artifact into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ARTIFACT
    model.save_model(path)
    return path


def load(directory: Path) -> XGBClassifier:
    """Read the model artifact from ``directory``."""
    model = XGBClassifier()
    model.load_model(directory / ARTIFACT)
    return model
