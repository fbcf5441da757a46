"""The drift check as a job: ``python -m mlops.pipelines.container monitor``.

One job, three places, one verdict. The AWS stack runs it as the one step of its drift-check
pipeline, started by EventBridge Scheduler (``--platform aws``: the score goes to CloudWatch,
where the drift alarm watches it and starts retraining through EventBridge). Kubernetes runs it
as a CronJob under the ``monitoring`` service account (a retrain decision submits the
lifecycle's Argo workflow, :class:`~mlops.pipelines.adapters.k8s.WorkflowTrigger`). ``mlops monitor
run`` calls :func:`check_window` itself, with local mode's adapters. Each reads the capture
objects of the same window (:func:`window_keys`: the ``window_hours`` before the run), compares
them with the served model's reference sample, and ends in the one sequence every platform runs
(:func:`mlops.pipelines.verdict.conclude`); the report is kept in the lake as JSON beside an
HTML page (:func:`store_html`).

With ``--engine spark`` the window is read and summarized by Spark
(:func:`check_window_spark`: SageMaker's Spark processing container
above a configured capture volume); the verdict, report and metric are the same code's.

Environment: ``MLOPS_DATA_CONTRACT`` (the features), ``MLOPS_BUCKET_<ZONE>`` (the lake),
``MLOPS_CAPTURE_URI`` (Spark only: where it reads the capture keys; default the lake's ``s3://``
capture place), and, unless given as options, ``MLOPS_MODEL_URI`` (``s3://`` of the served
``model.tar.gz``), ``MLOPS_ENDPOINT_NAME`` (the capture prefix), ``MLOPS_DRIFT_THRESHOLD`` and
``MLOPS_RETRAIN_WORKFLOW_TEMPLATE`` (Kubernetes; none: decide only).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.core.contracts import BUCKET_ENV_PREFIX, DRIFT_THRESHOLD, Env
from mlops.core.errors import MonitoringInputError, UserError
from mlops.core.progress import Progress, no_progress
from mlops.pipelines.lake import Lake
from mlops.pipelines.ports import MetricSink, ObjectStore, RetrainTrigger

if TYPE_CHECKING:
    from mlops.pipelines.drift import DriftOptions, DriftReport
    from mlops.pipelines.sketch import WindowSummary
    from mlops.pipelines.verdict import DriftOutcome

# One label wherever the check runs: the served model is the approved one.
REFERENCE_LABEL = "approved model's reference -> captured traffic"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9._=/-]+")  # a capture key Spark reads as itself


class EmptyWindowError(MonitoringInputError):
    """Nothing was captured in the window: no verdict (unlike unreadable capture, a failure)."""

    def __init__(self, endpoint: str, hours: int, older: int) -> None:
        seen = f"; {older} older object(s) are outside it" if older else ""
        when = f" in the last {hours} h" if hours else ""
        super().__init__(
            f"no traffic captured for {endpoint}{when}{seen}: send requests to the endpoint first"
        )


def window_keys(keys: Sequence[str], hours: int, now: datetime) -> list[str]:
    """The capture objects written in the ``hours`` before ``now`` (UTC), oldest first.

    The window every scheduled run and ``mlops monitor run`` reads: a run at ``now`` sees what
    was captured in ``[now - hours, now]``, judged by the capture time in each key.
    """
    from mlops.pipelines.windows import capture_time

    start = now.astimezone(UTC).replace(tzinfo=None) - timedelta(hours=hours)
    end = now.astimezone(UTC).replace(tzinfo=None)
    return sorted((k for k in keys if start <= capture_time(k) <= end), key=capture_time)


@dataclass(frozen=True)
class WindowCheck:
    """A finished drift check of one window: the report and what was decided and stored."""

    report: DriftReport
    outcome: DriftOutcome
    keys: int


def check_window(
    lake: ObjectStore,
    endpoint: str,
    reference: Mapping[str, Any],
    features: Sequence[str],
    *,
    hours: int,
    threshold: float,
    trigger: RetrainTrigger,
    metrics: MetricSink,
    now: datetime | None = None,
    options: DriftOptions | None = None,
    progress: Progress = no_progress,
    summary: WindowSummary | None = None,
    categorical: Sequence[str] = (),
) -> WindowCheck:
    """Drift of the window's captured traffic against ``reference``; publish, decide, store.

    The window is read one capture object at a time into summaries; ``summary`` is the
    reference's made at training time (the artifact carries it), when there is one.

    Raises:
        EmptyWindowError: nothing was captured in the window.
        MonitoringInputError: the captured objects are unreadable.
    """
    from mlops.pipelines.drift import compare_sources
    from mlops.pipelines.windows import captured_source, memory_source

    keys = window_of(lake, endpoint, hours, now)
    current = captured_source(lake, endpoint, features, keys, categorical, progress=progress)
    sample = memory_source(reference, "served model's reference")
    report = compare_sources(sample, current, list(features), options, categorical, summary)
    return finish_check(lake, endpoint, report, len(keys), threshold, trigger, metrics)


def check_window_spark(
    lake: ObjectStore,
    endpoint: str,
    reference: Mapping[str, Any],
    features: Sequence[str],
    *,
    hours: int,
    threshold: float,
    trigger: RetrainTrigger,
    metrics: MetricSink,
    capture_uri: Callable[[str], str],
    now: datetime | None = None,
    options: DriftOptions | None = None,
    summary: WindowSummary | None = None,
    categorical: Sequence[str] = (),
) -> WindowCheck:
    """:func:`check_window` with the window read and summarized by Spark (``--engine spark``).

    ``capture_uri`` names a capture key's URI for Spark (the lake's ``s3://`` in the cloud).

    Raises:
        EmptyWindowError: nothing was captured in the window.
        MonitoringInputError: the captured objects are unreadable.
    """
    from mlops.pipelines.spark_monitor import compare_capture

    keys = window_of(lake, endpoint, hours, now)
    # Spark reads a path as a Hadoop glob (`*?[]{}`, `\\`, `,` in braces) and normalizes `..`:
    # a capture key holding any of those would read other objects, or none. SageMaker's keys
    # never do (endpoint/variant/yyyy/mm/dd/hh/mm-ss-mmm-uuid.jsonl); such a key is left out.
    readable = [k for k in keys if _PLAIN_KEY.fullmatch(k) and ".." not in k.split("/")]
    if len(readable) < len(keys):
        print(
            f"left out {len(keys) - len(readable)} capture object(s) whose keys Spark would"
            " read as patterns (only letters, digits and -._=/ are read)"
        )
    if not readable:
        raise MonitoringInputError(
            f"none of the {len(keys)} capture object(s) in the window has a key Spark reads as"
            " itself: nothing to check"
        )
    keys = readable
    report = compare_capture(
        [capture_uri(k) for k in keys],
        reference,
        features,
        options=options,
        summary=summary,
        categorical=categorical,
    )
    return finish_check(lake, endpoint, report, len(keys), threshold, trigger, metrics)


def window_of(lake: ObjectStore, endpoint: str, hours: int, now: datetime | None) -> list[str]:
    """The capture objects a check at ``now`` reads (``hours`` 0: all of them), oldest first.

    Raises:
        EmptyWindowError: nothing was captured in the window.
    """
    from mlops.pipelines.windows import captured_keys

    every = captured_keys(lake, endpoint)
    # hours 0: every capture object (Kubernetes' CronJob passes no window)
    keys = window_keys(every, hours, now or datetime.now(UTC)) if hours else list(every)
    if not keys:
        raise EmptyWindowError(endpoint, hours, len(every))
    return keys


def finish_check(
    lake: ObjectStore,
    endpoint: str,
    report: DriftReport,
    keys: int,
    threshold: float,
    trigger: RetrainTrigger,
    metrics: MetricSink,
) -> WindowCheck:
    """The end of a check, whichever engine made ``report``: publish, decide, store JSON, HTML."""
    from mlops.pipelines.verdict import conclude

    outcome = conclude(
        [(REFERENCE_LABEL, report)],
        endpoint=endpoint,
        threshold=threshold,
        store=lake,
        trigger=trigger,
        metrics=metrics,
    )
    store_html(lake, outcome.stored, report, endpoint)
    return WindowCheck(report, outcome, keys)


def store_html(lake: ObjectStore, stored: str, report: DriftReport, endpoint: str) -> str:
    """The report's HTML page beside its JSON (and as ``drift/latest.html``); its URI."""
    from mlops.core.contracts import DRIFT_REPORT
    from mlops.pipelines.drift_html import render

    place, latest = DRIFT_REPORT
    page = render(report, f"Data drift: {endpoint}").encode()
    key = stored.removeprefix(lake.uri(place)).removesuffix(".json") + ".html"
    lake.put(place, key, page)
    lake.put(place, latest.removesuffix(".json") + ".html", page)
    return lake.uri(place, key)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="monitor")
    parser.add_argument("--platform", choices=("k8s", "aws"), default="k8s")
    parser.add_argument("--endpoint", default="", help="the endpoint whose capture is read")
    parser.add_argument("--model-package", default="", help="the served model package (aws)")
    parser.add_argument("--window-hours", type=int, default=0, help="0: every capture object")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--triggered-by", default="manual", help="who started this check")
    # spark: the capture window read and summarized by Spark (SageMaker's Spark processing
    # container runs it under smspark-submit, across the job's instances)
    parser.add_argument("--engine", choices=("numpy", "spark"), default="numpy")
    return parser


def monitor_main(environ: Mapping[str, str], argv: Sequence[str] = ()) -> int:
    """Drift on the captured traffic against the served model's reference; retrain on drift.

    Raises:
        UserError: the environment is incomplete, or the model carries no reference.
    """
    from mlops.pipelines.data import DataContract
    from mlops.pipelines.reference import read_reference, read_reference_summary

    try:
        args = _parser().parse_args(list(argv))
    except SystemExit:
        raise UserError(f"monitor: bad options {' '.join(argv)}") from None
    lake = Lake.from_environ(environ)
    endpoint = args.endpoint or environ.get(Env.ENDPOINT_NAME, "")
    aws = args.platform == "aws"
    missing = [] if endpoint else [Env.ENDPOINT_NAME]
    if not (environ.get(Env.MODEL_URI) or (aws and args.model_package)):
        missing.insert(0, Env.MODEL_URI)
    missing += [f"{BUCKET_ENV_PREFIX}<ZONE>"] if lake is None else []
    if missing or lake is None:
        raise UserError(f"monitor needs {', '.join(missing)} set")
    contract = DataContract.load(Path(environ.get(Env.DATA_CONTRACT, "data/contract.yaml")))
    clients = _aws_clients(environ) if aws else None
    model_uri = environ.get(Env.MODEL_URI) or served_artifact(clients, args.model_package)
    from mlops.pipelines.adapters.mlflow import model_artifact_uri  # models:/<name>@champion too

    artifact = lake.read_uri(model_artifact_uri(model_uri, environ, lake))
    reference = read_reference(artifact)
    if reference is None:
        raise UserError(f"{model_uri} carries no reference sample: retrain it")
    threshold = args.threshold
    if threshold is None:
        threshold = float(environ.get(Env.DRIFT_THRESHOLD, DRIFT_THRESHOLD))
    trigger, metrics = _adapters(environ, clients)
    summary = read_reference_summary(artifact)
    # Both engines check the same window with the same inputs; Spark also names where to read.
    inputs: dict[str, Any] = {
        "hours": args.window_hours,
        "threshold": threshold,
        "trigger": trigger,
        "metrics": metrics,
        "summary": summary,
        "categorical": contract.categorical,  # the contract's types, whatever the columns hold
    }
    try:
        if args.engine == "spark":
            base = environ.get(Env.CAPTURE_URI) or lake.uri("capture")
            check = check_window_spark(
                lake,
                endpoint,
                reference,
                contract.features,
                capture_uri=lambda key: base.rstrip("/") + "/" + key,
                **inputs,
            )
        else:
            check = check_window(lake, endpoint, reference, contract.features, **inputs)
    except EmptyWindowError as exc:
        # A quiet endpoint is no failure of the job: nothing to judge, nothing published.
        print(f"nothing checked: {exc}")
        return 0
    outcome = check.outcome
    started = outcome.started
    print(outcome.decision.reason + (f"; submitted Workflow {started}" if started else ""))
    print(f"report: {outcome.stored} (triggered by {args.triggered_by})")
    return 0


def _aws_clients(environ: Mapping[str, str]) -> Callable[[str], Any]:
    """Clients of the job's role and region (``AWS_ENDPOINT_URL`` reaches local mode)."""
    import boto3

    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def client(service: str) -> Any:
        return boto3.client(service, region_name=region)

    return client


def served_artifact(clients: Callable[[str], Any] | None, package_arn: str) -> str:
    """The ``model.tar.gz`` URI of the served package (its one container's model data).

    Raises:
        UserError: the package names no model data.
    """
    from mlops.pipelines.aws import call

    assert clients is not None
    described = call(
        "sagemaker.DescribeModelPackage",
        clients("sagemaker").describe_model_package,
        ModelPackageName=package_arn,
    )
    containers = described.get("InferenceSpecification", {}).get("Containers", [])
    uri = str(containers[0].get("ModelDataUrl", "")) if containers else ""
    if not uri:
        raise UserError(f"model package {package_arn} names no model data")
    return uri


def _adapters(
    environ: Mapping[str, str], clients: Callable[[str], Any] | None
) -> tuple[RetrainTrigger, MetricSink]:
    """AWS: the score to CloudWatch, where the alarm starts retraining; else the workflow's."""
    from mlops.pipelines.adapters.none import NoMetrics, NoRetrain

    if clients is not None:
        from mlops.pipelines.adapters.aws import CloudWatchMetrics

        return NoRetrain(), CloudWatchMetrics(clients("cloudwatch"))
    return retrain_trigger(environ), NoMetrics()


def retrain_trigger(environ: Mapping[str, str]) -> RetrainTrigger:
    """The workflow's trigger; without ``MLOPS_RETRAIN_WORKFLOW_TEMPLATE``, decide only."""
    from mlops.pipelines.adapters.k8s import KubeApi, WorkflowTrigger
    from mlops.pipelines.adapters.none import NoRetrain

    template = environ.get(Env.RETRAIN_WORKFLOW)
    if not template:
        return NoRetrain()
    return WorkflowTrigger(KubeApi.in_cluster(environ), template)
