"""AWS components of the mlops-stack platform."""

from mlops.infra.aws.data_lake import DataLake, DataLakeArgs
from mlops.infra.aws.endpoint import InferenceEndpoint, InferenceEndpointArgs
from mlops.infra.aws.model_registry import ModelRegistry, ModelRegistryArgs
from mlops.infra.aws.monitoring import Monitoring, MonitoringArgs
from mlops.infra.aws.platform import MLPlatform
from mlops.infra.aws.training_pipeline import TrainingPipeline, TrainingPipelineArgs

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
