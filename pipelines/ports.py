"""What the lifecycle needs from a platform: its only doors to the world, as Protocols.

The lifecycle's steps take these, never a client: the composition layer (or a container entry
point, for the job it runs) picks one adapter per port from the stack's platform.

==============  =======================  ======================  ========================
port            AWS (SageMaker)          Kubernetes              local (embedded moto)
==============  =======================  ======================  ========================
ObjectStore     S3 (:class:`Lake`)       MinIO via S3 (Lake)     moto S3 (Lake)
ModelRegistry   SageMaker registry       MLflow (``@champion``)  SageMaker on moto
                                         or run records (lake)
RetrainTrigger  StartPipelineExecution   Argo Workflow           StartPipelineExecution
MetricSink      CloudWatch               none (drift report)     moto CloudWatch
==============  =======================  ======================  ========================

The adapters live in :mod:`mlops.pipelines.adapters` (and :mod:`mlops.pipelines.lake` for the
object store); the lifecycle's step modules import this module only (a layer test holds it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: the records are the lifecycle's own, not an adapter's
    from mlops.pipelines.evaluate import GateDecision
    from mlops.pipelines.registry import RunRecord


class ObjectStore(Protocol):
    """The data lake: named places (:data:`mlops.core.layout.LAYOUT`) holding objects."""

    @property
    def buckets(self) -> Mapping[str, str]:
        """Zone -> bucket name."""
        ...

    def locate(self, place: str, key: str) -> tuple[str, str]:
        """Bucket and full key of ``key`` under a named place."""
        ...

    def uri(self, place: str, key: str = "") -> str:
        """The URI of a place (or a key under it)."""
        ...

    def read_uri(self, uri: str) -> bytes:
        """The bytes of the object a URI names."""
        ...

    def write_uri(self, uri: str, body: bytes) -> None:
        """Write the object a URI names."""
        ...

    def exists(self, place: str, key: str) -> bool:
        """Whether the object exists."""
        ...

    def put_once(self, place: str, key: str, body: bytes, content_type: str = "") -> bool:
        """Write unless it exists with these bytes; return whether it was written."""
        ...

    def put(self, place: str, key: str, body: bytes) -> None:
        """Write a mutable object (run records, reports)."""
        ...

    def get(self, place: str, key: str) -> bytes:
        """Read an object."""
        ...

    def get_json(self, place: str, key: str) -> Any:
        """Read and parse a JSON object."""
        ...

    def keys(self, place: str, prefix: str = "") -> Iterator[str]:
        """Keys under a place (relative to it)."""
        ...


RegistryLock = Callable[[str], AbstractContextManager[object]]
"""Serializes registration and approval within one model package group (called with it)."""


class ModelRegistry(Protocol):
    """Where candidates are registered and approved, for one model package group."""

    @property
    def group(self) -> str:
        """The model package group."""
        ...

    def approved_run(self) -> RunRecord | None:
        """The newest approved model's run record, if any."""
        ...

    def approved_metric(self, metric: str) -> float | None:
        """The newest approved model's recorded figure on ``metric``, if any."""
        ...

    def approval_status(self, arn: str) -> str:
        """A registered package's approval status (``Approved``, ``PendingManualApproval``...)."""
        ...

    def register(
        self,
        record: RunRecord,
        image_uri: str,
        lock: RegistryLock,
        decision: GateDecision | None = None,
    ) -> RunRecord:
        """Register a run whose gate passed; return its updated record."""
        ...

    def approve(self, candidate: RunRecord, margin: float, lock: RegistryLock) -> GateDecision:
        """Approve a registered candidate that beats the champion of the moment."""
        ...


class RetrainTrigger(Protocol):
    """Starts retraining when the drift verdict says so."""

    def start(self, reason: str) -> str:
        """Start retraining; return what was started (an execution ARN, a Job's name), or ""."""
        ...


class MetricSink(Protocol):
    """Where the lifecycle publishes the figures the platform's alarms watch."""

    def publish(self, namespace: str, metric: str, endpoint: str, value: float) -> None:
        """Publish one figure of one endpoint."""
        ...
