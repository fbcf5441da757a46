"""Pulumi components for the Kubernetes flavour (``mlops:k8s:*``), one per file."""

from mlops.infra.k8s.model_server import ModelServer, ModelServerArgs
from mlops.infra.k8s.monitoring import Monitoring, MonitoringArgs
from mlops.infra.k8s.namespace import MLNamespace, NamespaceArgs
from mlops.infra.k8s.object_store import ObjectStore, ObjectStoreArgs
from mlops.infra.k8s.platform import K8sPlatform, K8sPlatformArgs
from mlops.infra.k8s.training_job import TrainingJob, TrainingJobArgs

__all__ = [
    "ObjectStore",
    "ObjectStoreArgs",
    "K8sPlatform",
    "K8sPlatformArgs",
    "MLNamespace",
    "ModelServer",
    "ModelServerArgs",
    "Monitoring",
    "MonitoringArgs",
    "NamespaceArgs",
    "TrainingJob",
    "TrainingJobArgs",
]
