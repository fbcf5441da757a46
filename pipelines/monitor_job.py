"""The monitoring step in a container: ``python -m mlops.pipelines.container monitor``.

What ``mlops monitor run`` does on a laptop, as a scheduled job in the cluster (Kubernetes: a
CronJob under the ``monitoring`` service account). It reads the captured traffic and the served
model's artifact (with its reference sample) from the lake, runs the drift check, keeps the JSON
report in the lake, and on a retrain decision creates a Job from the retraining CronJob
(:class:`~mlops.pipelines.adapters.k8s.CronJobTrigger`). The sequence after the check is the
one every platform runs (:func:`mlops.pipelines.verdict.conclude`).

Environment: ``MLOPS_DATA_CONTRACT`` (the features), ``MLOPS_MODEL_URI`` (``s3://`` of the
served ``model.tar.gz``), ``MLOPS_ENDPOINT_NAME`` (the capture prefix), ``MLOPS_BUCKET_<ZONE>``
(the lake), ``MLOPS_DRIFT_THRESHOLD``, and ``MLOPS_RETRAIN_CRONJOB`` (none: decide only).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mlops.core.contracts import BUCKET_ENV_PREFIX, DRIFT_THRESHOLD, Env
from mlops.core.errors import UserError
from mlops.pipelines.lake import Lake
from mlops.pipelines.ports import RetrainTrigger


def monitor_main(environ: Mapping[str, str]) -> int:
    """Drift on the captured traffic against the served model's reference; retrain on drift.

    Raises:
        UserError: the environment is incomplete, or the model carries no reference.
    """
    from mlops.pipelines.adapters.none import NoMetrics
    from mlops.pipelines.data import DataContract
    from mlops.pipelines.drift import compare
    from mlops.pipelines.reference import read_reference
    from mlops.pipelines.verdict import conclude
    from mlops.pipelines.windows import captured_window

    lake = Lake.from_environ(environ)
    missing = [k for k in (Env.MODEL_URI, Env.ENDPOINT_NAME) if not environ.get(k)]
    missing += [f"{BUCKET_ENV_PREFIX}<ZONE>"] if lake is None else []
    if missing or lake is None:
        raise UserError(f"monitor needs {', '.join(missing)} set")
    contract = DataContract.load(Path(environ.get(Env.DATA_CONTRACT, "data/contract.yaml")))
    model_uri = environ[Env.MODEL_URI]
    reference = read_reference(lake.read_uri(model_uri))
    if reference is None:
        raise UserError(f"{model_uri} carries no reference sample: retrain it")
    endpoint = environ[Env.ENDPOINT_NAME]
    report = compare(
        reference,
        captured_window(lake, endpoint, contract.features, categorical=contract.categorical),
        contract.features,
        categorical=contract.categorical,  # the contract's types, whatever the columns hold
    )
    outcome = conclude(
        [("served model's reference -> captured traffic", report)],
        endpoint=endpoint,
        threshold=float(environ.get(Env.DRIFT_THRESHOLD, DRIFT_THRESHOLD)),
        store=lake,
        trigger=retrain_trigger(environ),
        metrics=NoMetrics(),
    )
    started = outcome.started
    print(outcome.decision.reason + (f"; started Job {started}" if started else ""))
    return 0


def retrain_trigger(environ: Mapping[str, str]) -> RetrainTrigger:
    """The retraining CronJob's trigger; without ``MLOPS_RETRAIN_CRONJOB``, decide only."""
    from mlops.pipelines.adapters.k8s import CronJobTrigger, KubeApi
    from mlops.pipelines.adapters.none import NoRetrain

    cronjob = environ.get(Env.RETRAIN_CRONJOB)
    if not cronjob:
        return NoRetrain()
    return CronJobTrigger(KubeApi.in_cluster(environ), cronjob)
