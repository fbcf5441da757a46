"""Load, check and split the example dataset.

The sample data is generated, not downloaded: ``make_sample()`` reproduces ``data/sample.csv``
byte for byte, so the project runs offline and its tests can prove the file was not edited.
"""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

FEATURES = ("tenure_months", "monthly_charges", "support_calls", "annual_contract")
LABEL = "churned"


@dataclass(frozen=True)
class Dataset:
    """Features and labels as arrays, with the column names they came from."""

    features: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: np.ndarray) -> Dataset:
        """Rows at ``index`` as a new dataset."""
        return Dataset(self.features, self.x[index], self.y[index])


def make_sample(rows: int = 600, seed: int = 7) -> str:
    """Generate the sample churn dataset as CSV text (deterministic for a seed)."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*FEATURES, LABEL])
    for _ in range(rows):
        tenure = rng.randint(1, 72)
        charges = round(rng.uniform(20.0, 120.0), 2)
        calls = min(9, int(rng.expovariate(0.6)))
        annual = 1 if rng.random() < 0.4 else 0
        score = -0.6 + 0.55 * calls - tenure / 20 + (charges - 70) / 25 - 1.4 * annual
        churned = 1 if rng.random() < 1 / (1 + math.exp(-score)) else 0
        writer.writerow([tenure, f"{charges:.2f}", calls, annual, churned])
    return out.getvalue()


def load_contract(path: Path) -> dict[str, dict[str, float | str]]:
    """Read the data contract: column -> type and allowed range."""
    contract: dict[str, dict[str, float | str]] = yaml.safe_load(path.read_text())["columns"]
    return contract


def load_csv(path: Path, contract: dict[str, dict[str, float | str]]) -> Dataset:
    """Read a CSV and check it against the contract.

    Raises:
        ValueError: the file is empty, a column is missing, or a value is not a number or out of
            its range; the message names the file, row and column.
    """
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ValueError(f"{path}: file is empty")
        missing = [c for c in contract if c not in reader.fieldnames]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = [_check_row(path, i, row, contract) for i, row in enumerate(reader, start=2)]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    table = np.asarray(rows, dtype=np.float64)
    return Dataset(FEATURES, table[:, :-1], table[:, -1].astype(np.int64))


def _check_row(
    path: Path, line: int, row: dict[str, str], contract: dict[str, dict[str, float | str]]
) -> list[float]:
    values = []
    for column in (*FEATURES, LABEL):
        rule = contract[column]
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            raise ValueError(f"{path}:{line}: {column}={row[column]!r} is not a number") from None
        if not float(rule["min"]) <= value <= float(rule["max"]):
            raise ValueError(
                f"{path}:{line}: {column}={value} is outside [{rule['min']}, {rule['max']}]"
            )
        values.append(value)
    return values


def split(
    dataset: Dataset, seed: int = 7, fractions: tuple[float, float] = (0.7, 0.15)
) -> tuple[Dataset, Dataset, Dataset]:
    """Shuffle once with ``seed`` and cut into train, validation and test."""
    order = np.random.default_rng(seed).permutation(len(dataset))
    n_train = int(len(order) * fractions[0])
    n_val = int(len(order) * fractions[1])
    return (
        dataset.take(order[:n_train]),
        dataset.take(order[n_train : n_train + n_val]),
        dataset.take(order[n_train + n_val :]),
    )
