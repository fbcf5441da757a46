"""AWS components of the mlops-stack platform, and the AWS facts they rest on.

The components import ``pulumi_aws``, which takes about a second; they load on first use, so
``mlops.infra.aws.catalog`` and ``mlops.infra.aws.naming`` (which the scaffold reads on every
``mlops init``) do not pay for it. Its service packages are made lean here, before it loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlops.infra.provider_modules import lean

# The pulumi_aws service packages the components use. Each would import all of its resource
# modules (forty to a hundred) where the components use a few: lean ones import a resource
# module when one of its names is first used (mlops.infra.provider_modules).
PROVIDER_SERVICES = (
    "appautoscaling",
    "budgets",
    "cloudwatch",
    "ecr",
    "glue",
    "iam",
    "kms",
    "s3",
    "sagemaker",
    "sns",
)
lean("pulumi_aws", PROVIDER_SERVICES)

if TYPE_CHECKING:
    from mlops.infra.aws.data_lake import DataLake, DataLakeArgs
    from mlops.infra.aws.endpoint import InferenceEndpoint, InferenceEndpointArgs
    from mlops.infra.aws.model_registry import ModelRegistry, ModelRegistryArgs
    from mlops.infra.aws.monitoring import Monitoring, MonitoringArgs
    from mlops.infra.aws.platform import MLPlatform
    from mlops.infra.aws.training_pipeline import TrainingPipeline, TrainingPipelineArgs

_COMPONENTS = {
    "DataLake": "data_lake",
    "DataLakeArgs": "data_lake",
    "InferenceEndpoint": "endpoint",
    "InferenceEndpointArgs": "endpoint",
    "MLPlatform": "platform",
    "ModelRegistry": "model_registry",
    "ModelRegistryArgs": "model_registry",
    "Monitoring": "monitoring",
    "MonitoringArgs": "monitoring",
    "TrainingPipeline": "training_pipeline",
    "TrainingPipelineArgs": "training_pipeline",
}
__all__ = [
    "DataLake",
    "DataLakeArgs",
    "InferenceEndpoint",
    "InferenceEndpointArgs",
    "MLPlatform",
    "ModelRegistry",
    "ModelRegistryArgs",
    "Monitoring",
    "MonitoringArgs",
    "TrainingPipeline",
    "TrainingPipelineArgs",
]


def __getattr__(name: str) -> Any:
    """Import a component's module when the component is first asked for."""
    if name not in _COMPONENTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_COMPONENTS[name]}"), name)
