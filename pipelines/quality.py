"""Model quality once labels arrive, and back-testing a candidate on production traffic.

Ground truth arrives after the prediction (a customer churns a month later). Clients tag each
request with ``X-Amzn-SageMaker-Inference-Id``; the server captures it with the request and the
prediction, and a labels file (``inference_id,label``) is joined on it later, as SageMaker's
model-quality monitor does. The primary metric is then tracked per day (or hour).

Back-testing replays captured production inputs through a candidate and the live model: how
often they disagree, by how much, and, where labels exist, which scores better on the metric
the approval gate uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.core.contracts import higher_is_better, task_of
from mlops.core.errors import MonitoringInputError
from mlops.pipelines.evaluate import task_metrics
from mlops.pipelines.windows import captured_rows

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Captured:
    """Captured requests, one entry per row: its id, time, input and prediction."""

    ids: list[str]
    times: list[str]
    rows: np.ndarray
    predictions: np.ndarray


def captured_requests(lines: Iterable[str]) -> Captured:
    """Rows of captured exchanges with the ids labels join on.

    A request's id is its ``inferenceId`` (the client's) or else its ``eventId``; the rows of a
    request of several get ``ID/0``, ``ID/1``...
    """
    ids: list[str] = []
    times: list[str] = []
    rows: list[list[Any]] = []
    predictions: list[Any] = []
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        meta = event.get("eventMetadata", {})
        request_rows, request_predictions = captured_rows([line])
        base = str(meta.get("inferenceId") or meta.get("eventId", ""))
        many = len(request_rows) > 1
        for i, (row, prediction) in enumerate(zip(request_rows, request_predictions, strict=True)):
            ids.append(f"{base}/{i}" if many else base)
            times.append(str(meta.get("inferenceTime", "")))
            rows.append(row)
            predictions.append(np.nan if prediction is None else float(prediction))
    return Captured(
        ids, times, np.asarray(rows, dtype=np.float64), np.asarray(predictions, dtype=np.float64)
    )


def read_labels(table: Any) -> dict[str, float]:
    """``inference_id`` -> label from a pyarrow table with those two columns.

    Raises:
        MonitoringInputError: the columns are missing.
    """
    missing = {"inference_id", "label"} - set(table.column_names)
    if missing:
        raise MonitoringInputError(
            f"the labels need columns inference_id and label; missing {', '.join(sorted(missing))}"
        )
    ids = [str(v) for v in table.column("inference_id").to_pylist()]
    labels = [float(v) for v in table.column("label").to_pylist()]
    return dict(zip(ids, labels, strict=True))


@dataclass(frozen=True)
class Quality:
    """The metric over all labelled rows and per period."""

    metric: str
    overall: float | None
    labelled: int
    unlabelled: int
    periods: list[dict[str, Any]]


def quality_over_time(
    captured: Captured, labels: Mapping[str, float], metric: str, period: str = "day"
) -> Quality:
    """Join labels to captured predictions and compute ``metric`` overall and per period.

    Raises:
        MonitoringInputError: no captured prediction has a label, or the period is unknown.
    """
    if period not in ("day", "hour"):
        raise MonitoringInputError(f"period must be day or hour, got {period!r}")
    index = [i for i, key in enumerate(captured.ids) if key in labels]
    if not index:
        raise MonitoringInputError(
            "no captured prediction has a label: label rows by the inference ids clients sent"
            " (X-Amzn-SageMaker-Inference-Id)"
        )
    y = np.array([labels[captured.ids[i]] for i in index])
    p = captured.predictions[index]
    width = 10 if period == "day" else 13  # "YYYY-MM-DD" or "YYYY-MM-DDTHH"
    stamps = np.array([captured.times[i][:width] for i in index])
    periods = []
    for stamp in sorted(set(stamps)):
        chosen = stamps == stamp
        periods.append(
            {
                "period": stamp,
                "rows": int(chosen.sum()),
                metric: _metric(metric, y[chosen], p[chosen]),
            }
        )
    return Quality(
        metric, _metric(metric, y, p), len(index), len(captured.ids) - len(index), periods
    )


def _metric(metric: str, y: np.ndarray, scores: np.ndarray) -> float | None:
    keep = np.isfinite(scores)
    if keep.sum() == 0:
        return None
    value = task_metrics(task_of(metric), y[keep], scores[keep]).get(metric)
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


@dataclass(frozen=True)
class Backtest:
    """A candidate against the live model on the same captured inputs."""

    rows: int
    mean_abs_difference: float
    flipped: float  # share of rows whose class (score at 0.5) differs; regression: 0
    metric: str
    live: float | None
    candidate: float | None
    labelled: int

    @property
    def candidate_not_worse(self) -> bool | None:
        """Whether the candidate scores at least as well on labelled traffic (None: no labels)."""
        if self.live is None or self.candidate is None:
            return None
        if higher_is_better(self.metric):
            return self.candidate >= self.live
        return self.candidate <= self.live


def backtest(
    captured: Captured,
    live: Predict,
    candidate: Predict,
    metric: str,
    labels: Mapping[str, float] | None = None,
) -> Backtest:
    """Replay captured inputs through both models and compare them.

    Raises:
        MonitoringInputError: nothing was captured.
    """
    if len(captured.rows) == 0:
        raise MonitoringInputError("no captured traffic to replay")
    old = np.asarray(live(captured.rows), dtype=np.float64)
    new = np.asarray(candidate(captured.rows), dtype=np.float64)
    classification = task_of(metric) == "classification"
    flipped = float(np.mean((old >= 0.5) != (new >= 0.5))) if classification else 0.0
    index = [i for i, key in enumerate(captured.ids) if labels and key in labels]
    live_score = candidate_score = None
    if index and labels is not None:
        y = np.array([labels[captured.ids[i]] for i in index])
        live_score, candidate_score = _metric(metric, y, old[index]), _metric(metric, y, new[index])
    return Backtest(
        len(old),
        round(float(np.mean(np.abs(old - new))), 6),
        round(flipped, 6),
        metric,
        live_score,
        candidate_score,
        len(index),
    )
