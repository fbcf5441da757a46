"""The project's features transform: named columns in, the model's matrix out.

This is the home for preprocessing. ``train()`` fits it on the training split and the model
carries it (saved beside the model's own files), so serving applies the very transform that
training fitted: nothing is encoded outside the project, and no column index is hard-coded.

What it receives, feature name to NumPy array in data-contract order: ``int`` and ``float``
features as floats, ``bool`` features as 1.0/0.0, ``category`` features as text. By default
numbers pass through and each category becomes one-hot columns, one per value seen in training.
A value training never saw encodes as all zeros: that is what ``unknown: ignore`` in the
contract serves (with ``unknown: error``, the contract refuses it before it gets here).
Add derived features, scaling or bucketing here; ``names`` says what each output column is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

Columns = dict[str, np.ndarray]
ARTIFACT = "features.json"


class Features:
    """Fit on training columns, then turn any columns of the same features into a matrix."""

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.categories: dict[str, list[str]] = {}

    def fit(self, columns: Columns) -> Features:
        """Learn the inputs' order and each category's values from the training columns."""
        self.inputs = list(columns)
        self.categories = {
            name: sorted({str(v) for v in values if v is not None})
            for name, values in columns.items()
            if values.dtype == object
        }
        return self

    @property
    def names(self) -> list[str]:
        """The output columns: ``tenure_months``, ``plan=basic``, ..."""
        out: list[str] = []
        for name in self.inputs:
            values = self.categories.get(name)
            out += [f"{name}={v}" for v in values] if values is not None else [name]
        return out

    def transform(self, columns: Columns | np.ndarray | list) -> np.ndarray:
        """The model's float matrix, one row per input row, columns as :attr:`names`.

        ``columns`` may also be rows (a matrix or a list of lists) of the inputs in fitted
        (contract) order.
        """
        if not isinstance(columns, dict):
            rows = columns if isinstance(columns, np.ndarray) else np.array(columns, dtype=object)
            columns = {name: rows[:, i] for i, name in enumerate(self.inputs)}
        parts = []
        for name in self.inputs:
            values = columns[name]
            if name in self.categories:
                known = np.array(self.categories[name], dtype=object)
                parts.append((values[:, None] == known[None, :]).astype(np.float64))
            else:
                parts.append(np.asarray(values, dtype=np.float64)[:, None])
        return np.hstack(parts)


def save(features: Features, directory: Path) -> Path:
    """Write the fitted transform beside the model's files.

    Its fitted state is plain data (JSON), not a pickle of this class: the artifact stays
    readable, loads after this module changes, and never runs code when it is read. Add any
    state you fit (scales, buckets) here and in :func:`load`.
    """
    path = directory / ARTIFACT
    path.write_text(json.dumps({"inputs": features.inputs, "categories": features.categories}))
    return path


def load(directory: Path) -> Features:
    """Read the fitted transform back."""
    state = json.loads((directory / ARTIFACT).read_text())
    features = Features()
    features.inputs = list(state["inputs"])
    features.categories = {name: list(values) for name, values in state["categories"].items()}
    return features
