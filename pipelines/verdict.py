"""The drift verdict's one sequence on every platform: publish -> decide -> act -> store.

``mlops monitor run`` (local mode and deployed AWS stacks), the demo and the Kubernetes monitor
job all end a drift check here, so the score reaches the same metric, the decision is made by
the same pure rule (:func:`mlops.pipelines.drift.decide`), acting on it is the platform's
:class:`~mlops.pipelines.ports.RetrainTrigger`, and the report has one writer and one shape at
:data:`mlops.core.contracts.DRIFT_REPORT`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlops.core.contracts import DRIFT_METRIC, DRIFT_NAMESPACE, DRIFT_REPORT
from mlops.pipelines.drift import DriftReport, RetrainDecision, decide
from mlops.pipelines.ports import MetricSink, ObjectStore, RetrainTrigger


@dataclass(frozen=True)
class DriftOutcome:
    """What a finished drift check decided, started and stored.

    Attributes:
        decision: retrain or keep, and why (on the latest comparison).
        started: what the trigger started (an execution ARN, a Job's name); empty if nothing.
        stored: the URI of this check's report (``drift/latest.json`` holds the same body).
    """

    decision: RetrainDecision
    started: str
    stored: str


def drift_record(
    endpoint: str,
    comparisons: Sequence[tuple[str, DriftReport]],
    decision: RetrainDecision,
    started: str,
) -> dict[str, Any]:
    """The one shape of a stored drift report: every comparison, and the decision on the last."""
    return {
        "endpoint": endpoint,
        "comparisons": [{"label": label, **report.to_dict()} for label, report in comparisons],
        "decision": {"retrain": decision.retrain, "reason": decision.reason, "started": started},
    }


def conclude(
    comparisons: Sequence[tuple[str, DriftReport]],
    *,
    endpoint: str,
    threshold: float,
    store: ObjectStore,
    trigger: RetrainTrigger,
    metrics: MetricSink,
) -> DriftOutcome:
    """Publish the latest comparison's score, decide, act through ``trigger``, store the report.

    The report goes under a timestamped key and to ``drift/latest.json``; the latter is what
    dashboards and the next person read. A window too small for a verdict (its report's
    ``warning``) publishes no score, so it raises no alarm, and keeps the model.
    """
    latest = comparisons[-1][1]
    if not latest.warning:
        metrics.publish(DRIFT_NAMESPACE, DRIFT_METRIC, endpoint, latest.score)
    decision = decide(latest, threshold=threshold)
    started = trigger.start(decision.reason) if decision.retrain else ""
    body = json.dumps(drift_record(endpoint, comparisons, decision, started)).encode()
    place, latest_key = DRIFT_REPORT
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"{latest_key.rsplit('/', 1)[0]}/{stamp}.json"
    store.put(place, key, body)
    store.put(place, latest_key, body)
    return DriftOutcome(decision, started, store.uri(place, key))
