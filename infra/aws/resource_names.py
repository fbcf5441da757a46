"""Physical names of a platform's resources, fixed by the stack's prefix.

Components refer to each other's resources by these names (an alarm names the endpoint before
the endpoint exists), so they are computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformNames:
    """Names derived from ``<project>-<environment>``."""

    prefix: str

    @property
    def pipeline(self) -> str:
        """The SageMaker Pipeline."""
        return f"{self.prefix}-training"

    @property
    def drift_pipeline(self) -> str:
        """The drift check's one-step SageMaker Pipeline (and its schedule)."""
        return f"{self.prefix}-drift-check"

    @property
    def model_package_group(self) -> str:
        """The model registry's package group."""
        return f"{self.prefix}-models"

    @property
    def endpoint(self) -> str:
        """The inference endpoint."""
        return f"{self.prefix}-endpoint"

    @property
    def repository(self) -> str:
        """The ECR repository of the training and serving image."""
        return self.prefix

    @property
    def endpoint_log_group(self) -> str:
        """Where SageMaker writes the endpoint's container logs."""
        return f"/aws/sagemaker/Endpoints/{self.endpoint}"


# SageMaker writes job logs to these account-wide groups; their names cannot be chosen.
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
