"""Container entry points: the lifecycle's steps inside a project's image.

``python -m mlops.pipelines.container validate|train|evaluate|serve`` is the image's entry point
(``monitor`` is the scheduled drift check of Kubernetes and AWS; ``champion`` reads the
registry's champion for SageMaker's isolated evaluate step; ``prepare-lake`` creates an empty
store's buckets; ``gate`` and ``register`` are the Argo workflow's last steps, where SageMaker
has a condition and a RegisterModel step).
SageMaker's training pipeline runs ``validate`` and ``evaluate`` as processing jobs, ``train`` as
the training job and ``serve`` on endpoints (Kubernetes runs the same commands). Each one calls
the very functions the local executor calls (:mod:`mlops.pipelines.steps`), so a dataset, its
split, the metrics and the gate come out the same wherever the lifecycle runs.

SageMaker's directory contract:

- processing: inputs under ``/opt/ml/processing/input/data`` (and ``/opt/ml/processing/model``
  for evaluation), outputs under ``/opt/ml/processing/output``;
- training: the ``train`` channel under ``/opt/ml/input/data/train``, hyperparameters in
  ``/opt/ml/input/config/hyperparameters.json`` (every value a string), the model written to
  ``/opt/ml/model``;
- serving: the model unpacked under ``/opt/ml/model``, HTTP on ``SERVING_PORT`` (8080).

Where no platform stages files (Kubernetes), the step does it itself, as SageMaker would:
``MLOPS_STAGE_IN`` and ``MLOPS_STAGE_OUT`` are JSON objects from a path under the ML root to a
lake location, copied in before the step and out after it succeeds. A location is an ``s3://``
URI or a place of the lake layout and a key (``validation/<run>/``); one ending in ``/`` is a
prefix (every object under it), and ``datasets/latest`` is the newest dataset version.

The image tells the entry points what is the project's own through two variables:
``MLOPS_TRAIN_MODULE`` (``<package>.pipelines.train``) and ``MLOPS_DATA_CONTRACT`` (the contract
file's path).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import shutil
import sys
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.core.contracts import (
    APPROVED_FROM_REGISTRY,
    BUCKET_ENV_PREFIX,
    SERVING_PORT,
    Env,
    decode_hyperparameters,
)
from mlops.core.errors import MlopsError, UserError
from mlops.core.layout import LAYOUT, split_uri
from mlops.pipelines.data import DataContract, find_data_file, read_file, split, validate
from mlops.pipelines.lake import Lake
from mlops.pipelines.model import (
    ModelContract,
    Trainer,
    import_trainer,
    pack_dir,
    read_model_contract,
    safe_extract,
    write_model_contract,
)
from mlops.pipelines.reference import write_reference

if TYPE_CHECKING:
    from mlops.pipelines.ports import ModelRegistry
from mlops.pipelines.steps import (
    evaluate,
    evaluation_record,
    project_code,
    train_step,
    validation_record,
    write_json,
)

# No approved figure given (the pipeline parameter's default, APPROVED_FROM_REGISTRY): evaluate
# reads the champion from the registry when it is told the group, else gates against none.
NO_APPROVED_MODEL = ("", APPROVED_FROM_REGISTRY)


@dataclass(frozen=True)
class ContainerEnv:
    """Where the job's files are, and what is the project's own.

    Attributes:
        ml_root: SageMaker's ``/opt/ml``.
        processing_root: ``/opt/ml/processing``.
        train_channel: the training job's ``train`` channel.
        contract: the data contract file.
        train_module: the project's training module, by dotted name.
        host: the address ``serve`` binds (all interfaces in a container).
        port: the port ``serve`` listens on.
    """

    ml_root: Path
    processing_root: Path
    train_channel: Path
    contract: Path
    train_module: str
    host: str
    port: int

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ContainerEnv:
        """Read SageMaker's variables and the image's own.

        Raises:
            UserError: ``MLOPS_TRAIN_MODULE`` is not set, or the port is not a number.
        """
        module = environ.get(Env.TRAIN_MODULE, "")
        if not module:
            raise UserError(
                f"{Env.TRAIN_MODULE} is not set: the image must name the project's training"
                f" module, e.g. ENV {Env.TRAIN_MODULE}=churn_model.pipelines.train"
            )
        ml_root = Path(environ.get("SM_ML_ROOT", "/opt/ml"))
        port = environ.get("SAGEMAKER_BIND_TO_PORT", str(SERVING_PORT))
        if not port.isdigit():
            raise UserError(f"SAGEMAKER_BIND_TO_PORT={port!r} is not a port number")
        return cls(
            ml_root=ml_root,
            processing_root=Path(environ.get("SM_PROCESSING_ROOT", ml_root / "processing")),
            train_channel=Path(
                environ.get("SM_CHANNEL_TRAIN", ml_root / "input" / "data" / "train")
            ),
            contract=Path(environ.get(Env.DATA_CONTRACT, "data/contract.yaml")),
            train_module=module,
            host=environ.get(Env.SERVE_HOST, "0.0.0.0"),
            port=int(port),
        )

    def trainer(self) -> Trainer:
        """The project's training module."""
        return import_trainer(self.train_module)

    def data_contract(self) -> DataContract:
        """The project's data contract."""
        return DataContract.load(self.contract)


def validate_main(env: ContainerEnv) -> int:
    """Check the input dataset against the contract; pass it on only if it holds.

    Writes ``report.json`` (the record the local executor stores too) and, when the data holds,
    a copy of the data file for training and evaluation.
    """
    source = find_data_file(env.processing_root / "input" / "data")
    table, digest = read_file(source)
    report = validate(table, env.data_contract())
    output = env.processing_root / "output"
    output.mkdir(parents=True, exist_ok=True)
    write_json(output / "report.json", validation_record(digest, report))
    if not report.passed:
        print("validation failed:\n  " + "\n  ".join(report.problems), file=sys.stderr)
        return 1
    shutil.copyfile(source, output / source.name)
    print(f"validated {report.rows} rows of {source.name} (sha256 {digest[:12]})")
    return 0


def train_main(env: ContainerEnv, environ: Mapping[str, str] | None = None) -> int:
    """Train on the seeded train split of the ``train`` channel; write the model.

    On SageMaker the platform fills the channel and uploads ``/opt/ml/model``. Where it does not
    (Kubernetes), ``MLOPS_DATASET_URI`` (a dataset version's ``s3://`` prefix) fills the channel
    from the lake first, and ``MLOPS_MODEL_OUTPUT_URI`` receives the packed model after.
    """
    environ = environ or {}
    lake = Lake.from_environ(environ)
    if lake is not None and environ.get(Env.DATASET_URI):
        _fetch_prefix(lake, resolve_uri(lake, environ[Env.DATASET_URI]), env.train_channel)
    table, digest = read_file(find_data_file(env.train_channel))
    hp_file = env.ml_root / "input" / "config" / "hyperparameters.json"
    raw = json.loads(hp_file.read_text()) if hp_file.exists() else {}
    # SageMaker's own keys (sagemaker_*) configure its launcher, not the model.
    params = decode_hyperparameters(
        {k: v for k, v in raw.items() if not k.startswith("sagemaker_")}
    )
    trainer = env.trainer()
    contract = env.data_contract()
    # The job's first line: the entry point, the project's module and the data are all loaded.
    print(f"training {env.train_module} on {len(table)} rows (dataset {digest[:12]})", flush=True)
    model, _ = train_step(trainer, table, contract, params)
    with project_code(trainer, "save"):
        path = trainer.save(model, env.ml_root / "model")
    # The contract it was trained on and monitoring's reference travel in model.tar.gz with
    # the model (pipelines/model.py, pipelines/reference.py).
    write_model_contract(env.ml_root / "model", ModelContract.of(trainer, contract))
    write_reference(env.ml_root / "model", table, contract.features, contract)
    print(f"trained on dataset {digest[:12]}; model written to {path}")
    track_step(environ, "train", digest, params=params)
    if lake is not None and environ.get(Env.MODEL_OUTPUT_URI):
        output = resolve_uri(lake, environ[Env.MODEL_OUTPUT_URI])
        lake.write_uri(output, pack_dir(env.ml_root / "model"))
        print(f"model uploaded to {output}")
    return 0


def _fetch_prefix(lake: Lake, uri: str, dest: Path) -> None:
    """Copy every object under an ``s3://bucket/prefix/`` into ``dest`` (a dataset version).

    Raises:
        UserError: nothing is there.
    """
    bucket, prefix = split_uri(uri)
    dest.mkdir(parents=True, exist_ok=True)
    pages = lake.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    if not keys:
        raise UserError(f"no dataset at {uri}: ingest one first (mlops pipeline run ingests)")
    for key in keys:
        name = Path(key).name
        (dest / name).write_bytes(lake.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


LATEST = "datasets/latest"


def resolve_uri(lake: Lake, location: str) -> str:
    """An ``s3://`` URI for a location: a URI as it is, or ``<place>/<key>`` in this lake.

    ``datasets/latest`` is the newest dataset version's prefix.

    Raises:
        UserError: the place is not one of the lake layout's, or there is no dataset yet.
    """
    if location.startswith("s3://"):
        return location
    if location.strip("/") in (LATEST, "latest"):
        return _latest_dataset(lake)
    place, _, key = location.partition("/")
    if place not in LAYOUT:
        raise UserError(
            f"'{location}' is neither an s3:// URI nor a lake place ({', '.join(sorted(LAYOUT))})"
        )
    return lake.uri(place, key)


def _latest_dataset(lake: Lake) -> str:
    bucket, prefix = split_uri(lake.uri("datasets"))
    pages = lake.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    objects = [o for page in pages for o in page.get("Contents", [])]
    if not objects:
        raise UserError("no dataset version in the lake yet: ingest one (mlops pipeline run)")
    newest = max(objects, key=lambda o: (o["LastModified"], o["Key"]))
    return f"s3://{bucket}/{newest['Key'].rsplit('/', 1)[0]}/"


def _stage_map(environ: Mapping[str, str], name: str) -> dict[str, str]:
    raw = environ.get(name, "")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise UserError(f"{name} is not JSON: {raw[:80]}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UserError(f"{name} must map paths under the ML root to lake locations")
    return {str(k): v for k, v in value.items()}


def _under(root: Path, relative: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UserError(f"staging path '{relative}' leaves the ML root")
    return path


def stage_in(env: ContainerEnv, environ: Mapping[str, str]) -> None:
    """Copy ``MLOPS_STAGE_IN``'s lake locations under the ML root (SageMaker's inputs)."""
    wanted = _stage_map(environ, Env.STAGE_IN)
    lake = Lake.from_environ(environ) if wanted else None
    if lake is None:
        return
    for relative, location in sorted(wanted.items()):
        uri, dest = resolve_uri(lake, location), _under(env.ml_root, relative)
        if uri.endswith("/"):
            _fetch_prefix(lake, uri, dest)
        else:
            dest.mkdir(parents=True, exist_ok=True)
            (dest / uri.rsplit("/", 1)[1]).write_bytes(lake.read_uri(uri))


def stage_out(env: ContainerEnv, environ: Mapping[str, str]) -> None:
    """Copy the step's output folders to ``MLOPS_STAGE_OUT``'s lake prefixes."""
    wanted = _stage_map(environ, Env.STAGE_OUT)
    lake = Lake.from_environ(environ) if wanted else None
    if lake is None:
        return
    for relative, location in sorted(wanted.items()):
        uri, source = resolve_uri(lake, location).rstrip("/"), _under(env.ml_root, relative)
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            lake.write_uri(f"{uri}/{path.relative_to(source).as_posix()}", path.read_bytes())
        print(f"{relative} -> {uri}/")


def _margin(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"margin must be a number in [0, 1], got {text}")
    return value


def _approved(text: str) -> float | None:
    if text.strip().lower() in NO_APPROVED_MODEL:
        return None
    value = float(text)
    if math.isnan(value):
        raise argparse.ArgumentTypeError("the approved model's metric is not a number")
    return value


def step_registry(group: str, environ: Mapping[str, str]) -> ModelRegistry:
    """The registry a step's environment names (``MLOPS_REGISTRY``), through the registry port.

    ``mlflow``: the MLflow registry (Kubernetes with ``mlflow: true``); ``lake``: the run records
    in the lake (Kubernetes without it); otherwise SageMaker's, with the job's role and region
    (and, locally, endpoint).
    """
    kind = environ.get(Env.REGISTRY, "sagemaker")
    if kind in ("lake", "mlflow"):
        lake = Lake.from_environ(environ)
        if lake is None:
            raise UserError(f"{Env.REGISTRY}={kind} needs the lake's MLOPS_BUCKET_<ZONE> variables")
        if kind == "mlflow":
            from mlops.pipelines.adapters.mlflow import registry_from_environ

            registry = registry_from_environ(environ, lake, group)
            assert registry is not None  # MLOPS_REGISTRY=mlflow
            return registry
        from mlops.pipelines.adapters.k8s import LakeRecords

        return LakeRecords(lake, group)
    import boto3

    from mlops.pipelines.adapters.aws import SageMakerRegistry

    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    lake = Lake.from_environ(environ) or Lake(boto3.client("s3", region_name=region), {})
    return SageMakerRegistry(boto3.client("sagemaker", region_name=region), lake, group)


def champion_metric(group: str, metric: str, environ: Mapping[str, str]) -> float | None:
    """The champion's figure on ``metric``, read from ``group`` through the registry port."""
    return step_registry(group, environ).approved_metric(metric)


def evaluate_main(
    env: ContainerEnv, argv: list[str], environ: Mapping[str, str] | None = None
) -> int:
    """Score the candidate on the held-out split and gate it against the approved model.

    With no approved figure and a ``--model-package-group``, the champion is read from that
    group at execution time, so scheduled, drift-started and manual runs gate alike. Writes
    ``evaluation.json``: the evaluation record, whose ``gate.passed`` the pipeline's condition
    reads.
    """
    parser = argparse.ArgumentParser(prog="evaluate")
    parser.add_argument("--metric", required=True, help="the primary metric the gate compares")
    parser.add_argument(
        "--approved-metric",
        type=_approved,
        default=None,
        help=f"'{APPROVED_FROM_REGISTRY}': read it from --model-package-group",
    )
    parser.add_argument("--margin", type=_margin, default=0.0)
    parser.add_argument("--model-package-group", default="", help="where the champion is")
    args = parser.parse_args(argv)
    approved = args.approved_metric
    if approved is None and args.model_package_group:
        approved = champion_metric(args.model_package_group, args.metric, environ or {})
        print(f"champion of {args.model_package_group}: {args.metric}={approved}")
    model_dir = env.processing_root / "model"
    for archive in sorted(model_dir.glob("*.tar.gz")):  # SageMaker packs /opt/ml/model
        with tarfile.open(archive) as tar:
            safe_extract(tar, model_dir)
    trainer = env.trainer()
    table, digest = read_file(find_data_file(env.processing_root / "input" / "data"))
    _, _, test = split(table)
    with project_code(trainer, "load"):
        model = trainer.load(model_dir)
    metrics, decision = evaluate(
        trainer,
        model,
        test,
        env.data_contract(),
        args.metric,
        approved,
        args.margin,
    )
    output = env.processing_root / "output"
    output.mkdir(parents=True, exist_ok=True)
    write_json(output / "evaluation.json", evaluation_record(digest, metrics, decision))
    print(json.dumps(decision.to_dict()))
    packed = sorted(model_dir.glob("*.tar.gz"))
    gate = {"mlops.gate": "passed" if decision.passed else "failed"}
    model = packed[0].read_bytes() if packed else None
    track_step(environ or {}, "evaluate", digest, metrics=metrics, tags=gate, model=model)
    return 0


CHAMPION_FILE = "champion.json"


def champion_main(argv: list[str], environ: Mapping[str, str], root: Path) -> int:
    """Resolve the figure the gate compares with, for the network-isolated evaluate step.

    The SageMaker pipeline's ``ReadChampion`` step: an approved figure passed to the execution
    is kept; the sentinel means the champion of ``--model-package-group`` now (the newest
    approved package's recorded metric), or ``none`` when nothing is approved. Writes
    ``champion.json`` (``{"approved": "<figure>|none", "source": ...}``, never an empty value),
    whose ``approved`` the evaluate step takes as its ``--approved-metric``. Runs only
    mlops's own code: no training module, no data, no model.
    """
    parser = argparse.ArgumentParser(prog="champion")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--approved-metric", type=_approved, default=None)
    parser.add_argument("--model-package-group", required=True)
    args = parser.parse_args(argv)
    approved, source = args.approved_metric, "parameter"
    if approved is None:
        approved = champion_metric(args.model_package_group, args.metric, environ)
        source = "registry" if approved is not None else "none approved"
    output = root / "output"
    output.mkdir(parents=True, exist_ok=True)
    figure = APPROVED_FROM_REGISTRY if approved is None else repr(approved)
    write_json(output / CHAMPION_FILE, {"approved": figure, "source": source})
    print(f"champion of {args.model_package_group}: {args.metric}={figure} ({source})")
    return 0


def gate_main(argv: list[str], environ: Mapping[str, str]) -> int:
    """Pass a candidate whose evaluation record's gate passed; fail the run otherwise.

    The workflow's gate (SageMaker's condition step and its ``GateFailed``): exit 0 goes on to
    registration, exit 1 ends the run with the reason, and nothing is registered.
    """
    parser = argparse.ArgumentParser(prog="gate")
    parser.add_argument("--evaluation", required=True, help="the evaluation record's location")
    args = parser.parse_args(argv)
    gate = _evaluation(args.evaluation, environ)["gate"]
    if gate.get("passed"):
        print(f"gate passed: {json.dumps(gate, sort_keys=True)}")
        return 0
    print(
        f"GateFailed: the candidate's {gate.get('metric')}={gate.get('candidate')} did not beat"
        f" the champion ({gate.get('approved')}) by {gate.get('margin')}",
        file=sys.stderr,
    )
    return 1


def _evaluation(location: str, environ: Mapping[str, str]) -> dict[str, Any]:
    lake = Lake.from_environ(environ)
    if lake is None:
        raise UserError("the evaluation record is in the lake: set MLOPS_BUCKET_<ZONE>")
    record = json.loads(lake.read_uri(resolve_uri(lake, location)))
    if not isinstance(record, dict) or "gate" not in record:
        raise UserError(f"{location} is not an evaluation record")
    return record


def register_main(argv: list[str], environ: Mapping[str, str]) -> int:
    """Register the run's model, pending approval, with its evaluation (the gate passed)."""
    from mlops.pipelines.registry import RunRecord, unlocked

    parser = argparse.ArgumentParser(prog="register")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--evaluation", required=True)
    parser.add_argument("--model", required=True, help="the model artifact's location")
    parser.add_argument("--model-package-group", required=True)
    args = parser.parse_args(argv)
    lake = Lake.from_environ(environ)
    if lake is None or environ.get(Env.REGISTRY, "lake") not in ("lake", "mlflow"):
        raise UserError("register: the workflow registers into MLflow or the lake's run records")
    evaluation = _evaluation(args.evaluation, environ)
    record = RunRecord(
        run_id=args.run_id,
        dataset_sha256=str(evaluation.get("dataset_sha256", "")),
        params={},
        metrics=dict(evaluation["metrics"]),
        primary_metric=str(evaluation["primary_metric"]),
        code_version="",  # the image the workflow ran is the code
        artifact_uri=resolve_uri(lake, args.model),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        gate=dict(evaluation["gate"]),
    )
    # The run's evaluation record where the local executor keeps it (evaluation/<run>.json):
    # a registered version names it there, and the gate of later runs reads the champion's there.
    body = {**evaluation, "run_id": record.run_id}
    lake.put("evaluation", f"{record.run_id}.json", json.dumps(body, sort_keys=True).encode())
    registry = step_registry(args.model_package_group, {Env.REGISTRY: "lake", **environ})
    registered = registry.register(record, "", unlocked)
    print(f"registered {registered.run_id} ({registered.status}): approve it to serve it")
    return 0


def track_step(
    environ: Mapping[str, str],
    step: str,
    dataset_sha256: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    model: bytes | None = None,
) -> str:
    """Log what a step knows to MLflow when ``MLFLOW_TRACKING_URI`` is set; return the run id.

    The executors' steps run as separate jobs: ``MLOPS_RUN_ID`` (set by the workflow) makes
    them meet in one MLflow run; without it each step gets a run of its own. The code identity
    is ``MLOPS_CODE_VERSION`` (the image, on Kubernetes). A tracker that fails is reported on
    stderr and never fails the step ("" is returned).
    """
    from datetime import UTC, datetime

    from mlops.pipelines.adapters.mlflow import MlflowApi, log_run

    try:
        api = MlflowApi.from_environ(environ)
        if api is None:
            return ""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        run = environ.get(Env.RUN_ID) or f"{step}-{dataset_sha256[:12]}-{stamp}"
        experiment = environ.get(Env.REGISTERED_MODEL) or environ.get(Env.TRAIN_MODULE, "mlops")
        lineage = {
            "mlops.dataset_sha256": dataset_sha256,
            "mlops.code_version": environ.get(Env.CODE_VERSION, ""),
            "mlops.train_module": environ.get(Env.TRAIN_MODULE, ""),
            **(tags or {}),
        }
        tracked = log_run(
            api, experiment, run, params=params, metrics=metrics, tags=lineage, model=model
        )
        print(f"tracked in MLflow: experiment {experiment}, run {tracked}")
        return tracked
    except Exception as exc:  # tracking never fails the step
        print(f"tracking to MLflow failed, the step goes on: {exc}", file=sys.stderr)
        return ""


def serve_main(env: ContainerEnv, environ: Mapping[str, str] | None = None) -> int:
    """Load ``/opt/ml/model`` and serve SageMaker's inference contract until SIGTERM.

    Requests are checked against the contract inside the artifact (an artifact made without
    one: the image's ``MLOPS_DATA_CONTRACT``). Where the lake is configured
    (``MLOPS_BUCKET_<ZONE>``, ``MLOPS_ENDPOINT_NAME``: Kubernetes), traffic is captured into it
    as SageMaker's data capture would (SageMaker captures itself).
    """
    from mlops.pipelines.serving import Capture, ServedModel, serve_model

    environ = environ or {}
    lake = Lake.from_environ(environ)
    model_dir = env.ml_root / "model"
    uri = environ.get(Env.MODEL_URI, "")
    if uri and lake is not None and not (model_dir.is_dir() and any(model_dir.iterdir())):
        # Kubernetes: the model comes from the lake (SageMaker unpacks it into /opt/ml/model);
        # models:/<name>@champion is resolved at start, so a promotion rolls out on restart.
        from mlops.pipelines.adapters.mlflow import model_artifact_uri

        artifact = lake.read_uri(model_artifact_uri(uri, environ, lake))
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(artifact)) as tar:
            safe_extract(tar, model_dir)
        print(f"model from {uri}")
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise UserError(
            f"no model in {model_dir}: train one first (`make train` locally; on SageMaker the"
            " endpoint serves the registered package's artifact)"
        )
    trainer = env.trainer()
    with project_code(trainer, "load"):
        model: Any = trainer.load(model_dir)
    carried = read_model_contract(model_dir)
    served = ServedModel.of(
        trainer, model, carried, env.data_contract() if carried is None else carried.contract
    )
    capture = None
    endpoint = environ.get(Env.ENDPOINT_NAME)
    if lake is not None and endpoint:
        capture = Capture(lake, endpoint, int(environ.get(Env.CAPTURE_PERCENT, "100")))
    try:
        server = serve_model(served, capture, host=env.host, port=env.port)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {env.host}:{env.port}: {exc.strerror}; stop what uses it, or set"
            " SAGEMAKER_BIND_TO_PORT to a free port (`make serve SAGEMAKER_BIND_TO_PORT=8081`)"
        ) from None
    print(f"serving on {server.url}")
    server.serve_forever()
    return 0


def prepare_lake_main(environ: Mapping[str, str]) -> int:
    """Create the lake's missing buckets (MinIO in kind starts with none)."""
    lake = Lake.from_environ(environ)
    if lake is None:
        raise UserError(
            f"prepare-lake: no {BUCKET_ENV_PREFIX}<ZONE> variable names the lake's buckets"
        )
    made = lake.ensure_buckets()
    total = len(set(lake.buckets.values()))
    print(f"lake ready: {total} buckets, created: {', '.join(made) or 'none'}")
    return 0


COMMANDS = (
    "validate",
    "train",
    "evaluate",
    "gate",
    "register",
    "serve",
    "monitor",
    "prepare-lake",
    "champion",
)


def _champion_command(argv: list[str], environ: Mapping[str, str]) -> int:
    """``champion`` under SageMaker Processing's root (``SM_ML_ROOT`` in local runs)."""
    root = Path(environ.get("SM_PROCESSING_ROOT", "/opt/ml/processing"))
    if "SM_ML_ROOT" in environ and "SM_PROCESSING_ROOT" not in environ:
        root = Path(environ["SM_ML_ROOT"]) / "processing"
    return champion_main(argv, environ, root)


LAKE_ONLY: dict[str, Callable[[list[str], Mapping[str, str]], int]] = {
    "champion": _champion_command,  # the registry's champion, for the isolated evaluate
    "prepare-lake": lambda _, environ: prepare_lake_main(environ),  # an empty store's buckets
    "gate": gate_main,
    "register": register_main,
}


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Dispatch ``validate``, ``train``, ``evaluate`` or ``serve`` (the default).

    Returns the exit status: 0 done, 1 the step failed (bad data, a broken model), 2 bad usage.
    """
    args = sys.argv[1:] if argv is None else argv
    command, rest = (args[0], args[1:]) if args else ("serve", [])
    if command not in COMMANDS:
        print(f"unknown command '{command}'; expected {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        if command == "monitor":  # needs no training module: the lake and the API server
            from mlops.pipelines.monitor_job import monitor_main

            return monitor_main(os.environ if environ is None else environ, rest)
        source = os.environ if environ is None else environ
        if command in LAKE_ONLY:  # nor these: the lake or the registry only
            return LAKE_ONLY[command](rest, source)
        env = ContainerEnv.from_environ(source)
        if command == "serve":
            return serve_main(env, source)
        stage_in(env, source)
        if command == "evaluate":
            code = evaluate_main(env, rest, source)
        elif command == "train":
            code = train_main(env, source)
        else:
            code = validate_main(env)
        if code == 0:
            stage_out(env, source)
        return code
    except MlopsError as exc:
        print(f"{command} failed: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UserError) else 1


if __name__ == "__main__":
    raise SystemExit(main())
