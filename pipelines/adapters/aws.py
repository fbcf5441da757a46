"""AWS adapters: the SageMaker model registry and pipeline, and CloudWatch metrics.

The same adapters serve local mode, with clients of the embedded moto endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops.core.contracts import DRIFT_DIMENSION
from mlops.pipelines import registry
from mlops.pipelines.aws import call
from mlops.pipelines.evaluate import GateDecision
from mlops.pipelines.ports import ObjectStore, RegistryLock
from mlops.pipelines.registry import RunRecord


@dataclass(frozen=True)
class SageMakerRegistry:
    """The SageMaker model registry of one model package group; records live in the lake.

    Attributes:
        sagemaker: a SageMaker client (AWS, or the embedded endpoint's).
        lake: the lake the run records are in.
        group: the model package group.
    """

    sagemaker: Any
    lake: ObjectStore
    group: str

    def approved_run(self) -> RunRecord | None:
        """The newest approved package's run record, if any."""
        return registry.approved_run(self.sagemaker, self.lake, self.group)

    def approved_metric(self, metric: str) -> float | None:
        """The newest approved package's recorded figure (see :func:`registry.approved_metric`)."""
        return registry.approved_metric(self.sagemaker, self.lake, self.group, metric)

    def approval_status(self, arn: str) -> str:
        """The package's approval status in the registry (see :func:`registry.approval_status`)."""
        return registry.approval_status(self.sagemaker, arn)

    def register(
        self,
        record: RunRecord,
        image_uri: str,
        lock: RegistryLock = registry.unlocked,
        decision: GateDecision | None = None,
    ) -> RunRecord:
        """Register a PendingManualApproval package (see :func:`registry.register`)."""
        return registry.register(
            self.sagemaker, self.lake, self.group, record, image_uri, lock, decision
        )

    def approve(
        self, candidate: RunRecord, margin: float, lock: RegistryLock = registry.unlocked
    ) -> GateDecision:
        """Approve the candidate's package if it passes the gate (see :func:`registry.approve`)."""
        return registry.approve(self.sagemaker, self.lake, self.group, candidate, margin, lock)


@dataclass(frozen=True)
class SageMakerPipelineTrigger:
    """Retraining is an execution of the stack's SageMaker training pipeline.

    Attributes:
        sagemaker: a SageMaker client.
        pipeline: the pipeline's name.
        triggered_by: the pipeline's ``TriggeredBy`` parameter.
    """

    sagemaker: Any
    pipeline: str
    triggered_by: str = "drift"

    def start(self, reason: str) -> str:
        """Start an execution; return its ARN."""
        started = call(
            "sagemaker.StartPipelineExecution",
            self.sagemaker.start_pipeline_execution,
            PipelineName=self.pipeline,
            PipelineParameters=[{"Name": "TriggeredBy", "Value": self.triggered_by}],
        )
        return str(started["PipelineExecutionArn"])


@dataclass(frozen=True)
class CloudWatchMetrics:
    """Figures go to CloudWatch, where the platform's alarms watch them."""

    cloudwatch: Any

    def publish(self, namespace: str, metric: str, endpoint: str, value: float) -> None:
        """``PutMetricData`` of one figure, dimensioned by endpoint."""
        call(
            "cloudwatch.PutMetricData",
            self.cloudwatch.put_metric_data,
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": DRIFT_DIMENSION, "Value": endpoint}],
                    "Value": value,
                }
            ],
        )
