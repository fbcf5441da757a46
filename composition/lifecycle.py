"""A project's lifecycle on one platform: the one place adapters are picked for the ports.

:func:`lifecycle_for` reads the platform's outputs (local mode's state, or a deployed stack's
``platform`` output) and wires the lifecycle's ports (:mod:`mlops.pipelines.ports`) to that
platform's adapters. ``mlops pipeline run``, ``mlops monitor``, ``mlops serve`` and the demo all
take their lifecycle from here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.core.contracts import PlatformOutputs
from mlops.core.errors import UserError
from mlops.pipelines.data import DataContract
from mlops.pipelines.lake import Lake
from mlops.pipelines.ports import (
    MetricSink,
    ModelRegistry,
    ObjectStore,
    RegistryLock,
    RetrainTrigger,
)
from mlops.pipelines.registry import unlocked


@dataclass(frozen=True)
class Lifecycle:
    """A project's lifecycle on one platform: its settings and an adapter per port.

    Attributes:
        project: the project directory.
        platform: the platform's outputs (buckets, registry group, settings).
        lake: the platform's object store.
        registry: the platform's model registry (the stack's model package group).
        trigger: what starts retraining on a drift verdict.
        metrics: where the drift score goes (the platform's alarm watches it).
        contract: the project's data contract.
        lock: serializes registration and approval in the registry (see ``RegistryLock``).
    """

    project: Path
    platform: PlatformOutputs
    lake: ObjectStore
    registry: ModelRegistry
    trigger: RetrainTrigger
    metrics: MetricSink
    contract: DataContract
    lock: RegistryLock = unlocked


def lifecycle_for(project: Path, stack: str | None = None, *, act: bool = True) -> Lifecycle:
    """The project's lifecycle: on its local stack (``stack`` None), else on a deployed stack.

    Locally the adapters talk to the embedded endpoint, and a retrain verdict starts the
    training pipeline there (unless ``act`` is False: decide only). On a deployed AWS stack the
    drift alarm starts the pipeline through EventBridge, so the lifecycle only publishes the
    score (its trigger starts nothing).

    Raises:
        UserError: local mode is not up, the stack's outputs cannot be read, or the project's
            contract is unreadable.
    """
    from mlops.pipelines.adapters.aws import (
        CloudWatchMetrics,
        SageMakerPipelineTrigger,
        SageMakerRegistry,
    )
    from mlops.pipelines.adapters.none import NoRetrain

    if stack is None:
        platform, client = _local(project)
        contract = DataContract.load(project / "data" / "contract.yaml")
        lake = Lake(client("s3"), platform.buckets)
        sagemaker = client("sagemaker")
        return Lifecycle(
            project,
            platform,
            lake,
            SageMakerRegistry(sagemaker, lake, platform.model_package_group),
            SageMakerPipelineTrigger(sagemaker, platform.pipeline_name) if act else NoRetrain(),
            CloudWatchMetrics(client("cloudwatch")),
            contract,
            lock=registry_lock(project),
        )
    import boto3

    platform = stack_outputs(project, stack)
    contract = DataContract.load(project / "data" / "contract.yaml")
    lake = Lake(boto3.client("s3", region_name=platform.region), platform.buckets)
    sagemaker = boto3.client("sagemaker", region_name=platform.region)
    return Lifecycle(
        project,
        platform,
        lake,
        SageMakerRegistry(sagemaker, lake, platform.model_package_group),
        NoRetrain(),
        CloudWatchMetrics(boto3.client("cloudwatch", region_name=platform.region)),
        contract,
    )


def _local(project: Path) -> tuple[PlatformOutputs, Any]:
    """Local mode's platform outputs and a client maker for its embedded endpoint."""
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client

    state = localmode.require_state(project)

    def make(service: str) -> Any:
        return client(state.endpoint, state.region, service)

    return PlatformOutputs.from_mapping(state.platform), make


def local_lake(project: Path) -> Lake:
    """The lake of the project's local stack (no data contract needed)."""
    platform, client = _local(project)
    return Lake(client("s3"), platform.buckets)


def registry_lock(project: Path, timeout: float = 120.0) -> RegistryLock:
    """Local mode's registry lock: a file lock per model package group in ``.mlops/``.

    Two `mlops pipeline run`s of one project (processes or threads) register and approve one
    at a time; a holder that is killed releases it with its process.
    """
    import re

    from mlops.core.process import file_lock

    def lock(group: str) -> AbstractContextManager[object]:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", group)[:100]
        busy = (
            f"another `mlops pipeline run` has been registering or approving a model in {group}"
            f" for over {timeout:.0f} s; try again when it finishes"
        )
        return file_lock(project / ".mlops" / f"registry-{name}.lock", timeout, busy)

    return lock


def stack_outputs(project: Path, stack: str) -> PlatformOutputs:
    """A stack's ``platform`` output: from the Pulumi CLI, else from ``.mlops/platform.json``.

    Raises:
        UserError: neither is available, or the output is not a platform's.
    """
    import json
    import shutil
    import subprocess

    if shutil.which("pulumi"):
        try:
            proc = subprocess.run(
                ["pulumi", "stack", "output", "platform", "--json", "--stack", stack],
                cwd=project,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
        except subprocess.TimeoutExpired:
            proc = None
        if proc is not None and proc.returncode == 0:
            return _aws_outputs(json.loads(proc.stdout), stack)
    saved = project / ".mlops" / "platform.json"
    if saved.exists():
        try:
            return _aws_outputs(json.loads(saved.read_text()), stack)
        except ValueError as exc:
            raise UserError(f"{saved} is not JSON ({exc}); save it again") from None
    raise UserError(
        f"cannot read the {stack} stack's outputs: install the Pulumi CLI, or save them with"
        f" `pulumi stack output platform --json --stack {stack} > .mlops/platform.json`"
    )


def _aws_outputs(values: dict[str, Any], stack: str) -> PlatformOutputs:
    """An AWS stack's outputs; a Kubernetes stack's lifecycle runs in its cluster instead.

    Raises:
        UserError: the stack is not an AWS one, or its output is incomplete.
    """
    kind = values.get("kind", "aws")
    if kind != "aws":
        raise UserError(
            f"the {stack} stack runs on {kind}, where the lifecycle runs in the cluster: train"
            f" with `mlops pipeline run --executor k8s --stack {stack}`; its monitor CronJob"
            " checks drift"
        )
    return PlatformOutputs.from_mapping(values)
