"""``mlops monitor``: the drift check on files, dataset versions or captured traffic.

Wires the lifecycle's drift engine (:mod:`mlops.pipelines.drift`) to where windows come from:
local files, a dataset version or the captured traffic in the project's local lake, and the
reference sample stored with the approved model (scenario I), or consecutive windows of captured
traffic compared with each other (scenario II).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.core import yamlfile
from mlops.core.errors import MonitoringInputError
from mlops.core.progress import Progress, no_progress
from mlops.pipelines.drift import (
    DriftOptions,
    DriftReport,
    FeatureRule,
    RetrainDecision,
    compare_sources,
)
from mlops.pipelines.sketch import WindowSummary
from mlops.pipelines.windows import PREDICTION, Source, file_source

if TYPE_CHECKING:  # the lifecycle (contracts, pydantic) is imported only where it is used
    from mlops.composition.lifecycle import Lifecycle

Say = Callable[[str], None]
# Where the captured predictions' measured quality is published (metric: the primary metric).
QUALITY_NAMESPACE = "mlops-stack/ModelQuality"


def load_rules(path: Path | None, share: float) -> DriftOptions:
    """Options from ``--share`` and an optional rules file (``feature: {test:, threshold:}``).

    Raises:
        MonitoringInputError: the rules file is missing or malformed.
    """
    rules: dict[str, FeatureRule] = {}
    if path is not None:
        try:
            raw = yamlfile.load(path) or {}
        except yamlfile.YamlFileError as exc:
            raise MonitoringInputError(f"cannot read rules {exc}") from None
        if not isinstance(raw, dict):
            raise MonitoringInputError(f"{path}: expected `feature: {{test: ..., threshold: ...}}`")
        for feature, rule in raw.items():
            if not isinstance(rule, dict) or set(rule) - {"test", "threshold"}:
                raise MonitoringInputError(
                    f"{path}: {feature}: give `test` and/or `threshold`, e.g. {{test: psi}}"
                )
            rules[str(feature)] = FeatureRule(
                test=rule.get("test", "auto"), threshold=rule.get("threshold")
            )
    return DriftOptions(share=share, rules=rules)


def load_window(
    spec: str, project: Path | None, features: Sequence[str], categorical: Sequence[str]
) -> Source:
    """A window from a file or folder, or from ``dataset:PREFIX``, read chunk by chunk.

    ``dataset:PREFIX`` is a dataset version of the project's local lake, by sha256 prefix.
    """
    if spec.startswith("dataset:"):
        return _dataset_window(spec.removeprefix("dataset:"), project, categorical)
    return file_source(Path(spec), features, categorical)


def _dataset_window(prefix: str, project: Path | None, categorical: Sequence[str]) -> Source:
    from mlops.composition.lifecycle import local_lake
    from mlops.core.project import find_project
    from mlops.pipelines.windows import bytes_source

    lake = local_lake(find_project(project))
    keys = [
        k
        for k in lake.keys("datasets", "")
        if f"sha256={prefix}" in k and k.rsplit("/", 1)[-1].startswith("data.")
    ]
    if len(keys) != 1:
        found = "no dataset version" if not keys else f"{len(keys)} dataset versions"
        raise MonitoringInputError(f"{found} match sha256 prefix {prefix!r}; give more of it")
    body = lake.get("datasets", keys[0])
    return bytes_source(body, keys[0].endswith(".parquet"), f"dataset:{prefix}", categorical)


def label_of(contract: Path | None, project: Path | None) -> str | None:
    """The label column: the ``contract``'s, else the project's (if inside one), else None."""
    from mlops.core.errors import UserError
    from mlops.core.project import find_project
    from mlops.pipelines.data import DataContract

    if contract is None:
        try:
            contract = find_project(project) / "data" / "contract.yaml"
        except UserError:
            return None
        if not contract.exists():
            return None
    return DataContract.load(contract).label


def features_of(contract: Path | None, names: str | None) -> list[str]:
    """Feature names for captured rows: ``--features a,b`` or a data contract's features."""
    if names:
        return [n.strip() for n in names.split(",") if n.strip()]
    if contract is not None:
        from mlops.pipelines.data import DataContract

        return list(DataContract.load(contract).features)
    return []


@dataclass(frozen=True)
class DriftCheck:
    """A finished check: the report, the features left out and why, and where its HTML went."""

    report: DriftReport
    html: Path | None
    left_out: dict[str, str]


def drift_features(
    reference: Sequence[str],
    current: Sequence[str],
    label: str | None = None,
    include: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The features to test, and the columns left out with why.

    The label (the data contract's) and the model's prediction are outcomes, not inputs: they
    are left out unless named in ``include``. A reference from training data has no
    predictions; captured traffic on both sides does.
    """
    unknown = [n for n in include if n not in reference]
    if unknown:
        raise MonitoringInputError(f"--include: the reference has no column {', '.join(unknown)}")
    outcomes = {PREDICTION: "the model's prediction"}
    if label:
        outcomes[label] = "the data contract's label"
    features, left_out = [], {}
    for name in reference:
        if name in outcomes and name not in include:
            if name in current:
                left_out[name] = outcomes[name]
            continue
        features.append(name)
    return features, left_out


def drift_check(
    reference: Source,
    current: Source,
    options: DriftOptions,
    html: Path | None = None,
    title: str = "Data drift",
    *,
    engine: str = "numpy",
    label: str | None = None,
    include: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> DriftCheck:
    """Compare the windows on the reference's features; write the HTML report if asked.

    ``engine`` ``spark`` summarizes both windows with PySpark (Parquet or CSV files only).
    """
    features, left_out = drift_features(reference.columns, current.columns, label, include)
    if engine == "spark":
        from mlops.pipelines.spark_drift import compare_files

        if reference.path is None or current.path is None:
            raise MonitoringInputError(
                "--engine spark reads Parquet or CSV files: give --reference and --current as"
                " files (captured traffic and dataset versions use --engine numpy)"
            )
        report = compare_files(reference.path, current.path, features, options, categorical)
    else:
        report = compare_sources(reference, current, features, options, categorical)
    if html is not None:
        from mlops.pipelines.drift_html import render

        write_atomically(html, render(report, title))
    return DriftCheck(report, html, left_out)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)  # as a plain open() would have made it
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary_lines(report: DriftReport, left_out: dict[str, str] | None = None) -> list[str]:
    """What a person reads first: the verdict and why, then each drifted or changed feature."""
    lines = [
        f"{report.verdict};"
        f" {report.reference_rows:,} reference rows, {report.rows:,} current rows"
    ]
    if report.warning:
        lines.append(f"  warning: {report.warning}")
    for name, why in (left_out or {}).items():
        lines.append(f"  {name}: not tested ({why}); test it with --include {name}")
    for f in report.features:
        if not (f.drifted or f.missing_drifted or f.note or f.new_categories):
            continue
        parts: list[Any] = []
        if f.drifted:
            parts.append(f"drifted ({f.test} {f.statistic:.3g}, threshold {f.threshold:g})")
        if f.missing_drifted:
            parts.append(f"missing {f.missing_reference:.1%} -> {f.missing_current:.1%}")
        if f.new_categories:
            parts.append(f"new categories: {', '.join(f.new_categories[:5])}")
        if f.note:
            parts.append(f.note)
        lines.append(f"  {f.feature}: {'; '.join(parts)}")
    return lines


@dataclass(frozen=True)
class MonitorRun:
    """What ``mlops monitor run`` found and did.

    Attributes:
        reports: each comparison made, by label (one for scenario I; one per consecutive pair of
            windows for scenario II).
        decision: retrain or keep, and why (on the latest comparison).
        started: what acting on a retrain decision started (the pipeline execution's ARN);
            empty when nothing was started.
        stored: the URI of the JSON report.
    """

    reports: list[tuple[str, DriftReport]]
    decision: RetrainDecision
    started: str
    stored: str


def monitor_run(
    project: Path,
    *,
    windows: int = 0,
    options: DriftOptions | None = None,
    html: Path | None = None,
    act: bool = True,
    stack: str | None = None,
    progress: Progress = no_progress,
    include: Sequence[str] = (),
) -> MonitorRun:
    """Check the project's captured traffic for drift, publish the score, decide.

    Scenario I (``windows`` 0): the traffic of the platform's drift window (its
    ``drift_window_hours`` before now) against the reference sample stored in the approved
    model's artifact, by the scheduled job's own code
    (:func:`mlops.pipelines.monitor_job.check_window`). Scenario II (``windows`` >= 2): the
    traffic split into consecutive windows, each compared with the one before. The latest
    comparison's score goes to the metric the platform's drift alarm watches. Locally, with
    ``act``, a retrain decision starts the training pipeline on the local endpoint; on a
    deployed ``stack`` the alarm does that through EventBridge, so only the metric is published.
    The model's prediction is tested too only when ``include`` names it (``prediction``).

    Raises:
        UserError: local mode is down, nothing is captured or approved yet, or the approved
            model carries no reference sample.
    """
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.verdict import conclude
    from mlops.pipelines.windows import captured_source, rolling_windows

    options = options or DriftOptions()
    life = lifecycle_for(project, stack, act=act)
    endpoint, keys = _capture_keys(life)
    features = list(life.contract.features)
    unknown = [n for n in include if n != PREDICTION]
    if unknown:
        raise MonitoringInputError(
            f"--include: captured traffic has only the contract's features and {PREDICTION};"
            f" not {', '.join(unknown)}"
        )
    tested = [*features, *include]
    categorical = list(life.contract.categorical)  # the contract's types, whatever is captured
    reports: list[tuple[str, DriftReport]] = []
    if windows:
        groups = rolling_windows(keys, windows)
        starts = [sum(len(g) for g in groups[:i]) for i in range(len(groups))]

        def window(i: int, report_progress: bool) -> Source:
            def counted(index: int, total: int, key: str) -> None:
                progress(starts[i] + index, len(keys), key)

            shown = counted if report_progress else no_progress
            return captured_source(
                life.lake, endpoint, features, groups[i], categorical, progress=shown
            )

        for i in range(len(groups) - 1):
            report = compare_sources(
                window(i, i == 0), window(i + 1, True), tested, options, categorical
            )
            reports.append((f"window {i + 1} -> {i + 2}", report))
        outcome = conclude(
            reports,
            endpoint=endpoint,
            threshold=life.platform.drift_threshold,
            store=life.lake,
            trigger=life.trigger,
            metrics=life.metrics,
        )
    else:
        # The scheduled cloud job's own code and window: local and cloud give one verdict.
        from mlops.pipelines.monitor_job import REFERENCE_LABEL, check_window

        sample, summary = _approved_reference(life)
        check = check_window(
            life.lake,
            endpoint,
            sample,
            features,
            hours=life.platform.drift_window_hours,
            threshold=life.platform.drift_threshold,
            trigger=life.trigger,
            metrics=life.metrics,
            options=options,
            progress=progress,
            summary=summary,
            categorical=categorical,
        )
        reports.append((REFERENCE_LABEL, check.report))
        outcome = check.outcome
    if html is not None:
        from mlops.pipelines.drift_html import render

        write_atomically(html, render(reports[-1][1], f"Data drift: {endpoint}"))
    return MonitorRun(reports, outcome.decision, outcome.started, outcome.stored)


def _approved_reference(life: Lifecycle) -> tuple[dict[str, Any], WindowSummary | None]:
    """The approved model's reference sample, and the summary made at training time if any."""
    from mlops.core.errors import UserError
    from mlops.pipelines.reference import read_reference, read_reference_summary
    record = life.registry.approved_run()
    if record is None:
        raise UserError(
            "no approved model to compare with: run `mlops pipeline run --approve`, or compare"
            " windows of captured traffic with each other: `mlops monitor run --windows 2`"
        )
    artifact = life.lake.read_uri(record.artifact_uri)
    reference = read_reference(artifact)
    if reference is None:
        raise UserError(
            f"the approved model ({record.run_id}) carries no reference sample (trained before"
            " monitoring stored one): train and approve it again, or use `--windows 2`"
        )
    return reference, read_reference_summary(artifact)


def _labels(path: Path) -> dict[str, float]:
    from mlops.pipelines.quality import read_labels
    from mlops.pipelines.windows import read_table_file

    try:
        table = read_table_file(path)
    except (OSError, ValueError) as exc:
        raise MonitoringInputError(f"cannot read labels {path}: {str(exc)[:200]}") from None
    return read_labels(table)


def _capture_keys(life: Lifecycle) -> tuple[str, list[str]]:
    """The serving endpoint and its capture objects, oldest first.

    Raises:
        MonitoringInputError: nothing was captured yet.
    """
    from mlops.pipelines.windows import captured_keys

    endpoint = life.platform.serving_endpoint
    keys = captured_keys(life.lake, endpoint)
    if not keys:
        raise MonitoringInputError(
            f"no traffic captured for {endpoint} yet: send it requests (after `mlops deploy`,"
            " through boto3's invoke_endpoint or `make test-local`; or to `mlops serve`)"
        )
    return endpoint, keys


def _captured(life: Lifecycle) -> Any:
    from mlops.pipelines.quality import captured_requests

    endpoint, keys = _capture_keys(life)
    lines = (line for k in keys for line in life.lake.get("capture", k).decode().splitlines())
    return captured_requests(lines), endpoint


def model_quality(project: Path, labels: Path, period: str = "day") -> Any:
    """The primary metric of the captured predictions that have labels, overall and per period.

    The overall value is published as ``mlops-stack/ModelQuality`` (metric: the primary metric).
    """
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.pipelines.quality import quality_over_time

    life = lifecycle_for(project)
    captured, endpoint = _captured(life)
    quality = quality_over_time(captured, _labels(labels), life.platform.primary_metric, period)
    if quality.overall is not None:
        life.metrics.publish(QUALITY_NAMESPACE, quality.metric, endpoint, quality.overall)
    return quality


def backtest_candidate(project: Path, candidate: str, labels: Path | None = None) -> Any:
    """Replay the captured traffic through ``candidate`` (a run id) and the approved model.

    Raises:
        UserError: no approved model, no such run, or nothing captured.
    """
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.core.errors import UserError
    from mlops.pipelines.model import load_trainer, unpack
    from mlops.pipelines.quality import backtest
    from mlops.pipelines.registry import find_run

    life = lifecycle_for(project)
    live = life.registry.approved_run()
    if live is None:
        raise UserError("no approved model to back-test against: approve one first")
    challenger = find_run(life.lake, candidate)
    trainer = load_trainer(project, life.platform.package)

    def model(record: Any) -> Any:
        return unpack(trainer, life.lake.read_uri(record.artifact_uri))

    live_model, candidate_model = model(live), model(challenger)
    captured, _ = _captured(life)
    return backtest(
        captured,
        lambda rows: trainer.predict_proba(live_model, rows),
        lambda rows: trainer.predict_proba(candidate_model, rows),
        life.platform.primary_metric,
        _labels(labels) if labels is not None else None,
    )
