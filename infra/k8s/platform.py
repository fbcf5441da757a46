"""``mlops:k8s:K8sPlatform``: the ML platform on Kubernetes, as ``MLPlatform`` is on AWS.

A fenced namespace, the lifecycle as an Argo WorkflowTemplate (validate -> train, a Job's pod or
a PyTorchJob -> evaluate -> gate -> register; a CronWorkflow retrains on a schedule), the model
server with its canary, and monitoring, all from one :class:`K8sPlatformArgs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pulumi

from mlops.core.contracts import Env, K8sPlatformOutputs
from mlops.infra.k8s.config import K8sConfig
from mlops.infra.k8s.kserve import KServeModel
from mlops.infra.k8s.mlflow import MlflowServer, MlflowServerArgs, mlflow_wiring
from mlops.infra.k8s.model_server import ModelServer, ModelServerArgs
from mlops.infra.k8s.monitoring import Monitoring, MonitoringArgs
from mlops.infra.k8s.namespace import MLNamespace, NamespaceArgs
from mlops.infra.k8s.object_store import ObjectStore, ObjectStoreArgs
from mlops.infra.k8s.training_job import TrainingJobArgs
from mlops.infra.k8s.workflow import LifecycleWorkflow, WorkflowArgs
from mlops.infra.k8s.workloads import EnvValue


def workflow_template(namespace: str) -> str:
    """The name of a namespace's lifecycle WorkflowTemplate."""
    return f"{namespace}-lifecycle"


def lake_store(namespace: str) -> str:
    """The name of a namespace's ObjectStore (its MinIO Service, its Secret's prefix)."""
    return f"{namespace}-lake"


@dataclass(frozen=True)
class K8sPlatformArgs:
    """Inputs of :class:`K8sPlatform`: each component's own Args."""

    namespace: NamespaceArgs
    workflow: WorkflowArgs
    serving: ModelServerArgs
    monitoring: MonitoringArgs
    lake: ObjectStoreArgs | None = None
    kserve: bool = False
    mlflow: MlflowServerArgs | None = None
    # What the platform exports as its ``platform`` output, as MLPlatform does; None (Args
    # built by hand) exports only the namespace and the service URL.
    platform: K8sPlatformOutputs | None = None

    @classmethod
    def from_config(
        cls, config: K8sConfig, env: dict[str, EnvValue] | None = None
    ) -> K8sPlatformArgs:
        """Derive every component's settings from a stack config."""
        ns, labels, env = config.namespace, config.labels, dict(env or {})
        training, serving, monitoring = config.training, config.serving, config.monitoring
        lake_settings = config.lake
        name = f"{config.project}-server"
        lake = None
        if lake_settings.configured:
            lake = ObjectStoreArgs(
                ns,
                ns,
                lake=lake_settings,
                setup_image=config.image,
                labels=labels,
            )
            env.update(lake.env(lake_store(ns)))  # the ObjectStore's name: its Service's
        mlflow = mlflow_wiring(  # the tracking server, and what the workloads need of it
            config.mlflow, ns, lake, env, image=config.image, model_uri=serving.model_uri,
            irsa_role_arn=lake_settings.irsa_role_arn, labels=labels,
        )  # fmt: skip
        serving_env: dict[str, EnvValue] = {**env, Env.ENDPOINT_NAME: name}
        if serving.model_uri:
            serving_env[Env.MODEL_URI] = serving.model_uri
        gpu_taint = {"key": config.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}
        irsa = (
            {"eks.amazonaws.com/role-arn": lake_settings.irsa_role_arn}
            if lake_settings.irsa_role_arn
            else {}
        )
        return cls(
            namespace=NamespaceArgs(
                ns,
                labels,
                gpu_resource=config.gpu_resource,
                gpus=config.namespace_gpus,
                object_store_port=9000
                if lake_settings.minio_image
                else lake_settings.object_store_port,
                service_account_annotations=irsa,
                workflow_template=workflow_template(ns),
                pytorch_jobs=training.nodes > 1,
            ),
            workflow=WorkflowArgs(
                TrainingJobArgs(
                    ns,
                    config.image,
                    training=training,
                    gpu_resource=config.gpu_resource,
                    tolerations=(gpu_taint,) if training.gpus else (),
                    env=env,
                    labels=labels,
                ),
                name=workflow_template(ns),
                # MLflow's registered model when the stack runs MLflow (the server resolves it)
                model_name=str(env.get(Env.REGISTERED_MODEL, config.project)),
                primary_metric=training.primary_metric,
                evaluation_margin=training.evaluation_margin,
            ),
            serving=ModelServerArgs(
                ns,
                config.image,
                serving=serving,
                env=serving_env,
                gpu_resource=config.gpu_resource,
                labels=labels,
            ),
            monitoring=MonitoringArgs(
                ns,
                name,
                monitoring=monitoring,
                labels=labels,
                # The closed loop needs a model to compare with and a lake to read.
                # (MLflow's @champion is a model too.)
                drift_image=config.image if (serving.model_uri or mlflow) and lake else "",
                drift_env={**serving_env, Env.DRIFT_THRESHOLD: str(monitoring.drift_threshold)},
                retrain_workflow=workflow_template(ns),
                kserve=serving.kserve,
            ),
            lake=lake,
            kserve=serving.kserve,
            mlflow=mlflow,
            platform=platform_outputs(config, name, lake),
        )


def platform_outputs(
    config: K8sConfig, endpoint: str, lake: ObjectStoreArgs | None
) -> K8sPlatformOutputs:
    """The platform-neutral core (and the Kubernetes extras) this stack exports."""
    return K8sPlatformOutputs(
        project=config.project,
        environment=config.environment,
        buckets=dict(lake.buckets) if lake is not None else {},
        image_uri=config.image,
        endpoint_name=endpoint,
        planned_endpoint_name=endpoint,
        drift_threshold=config.monitoring.drift_threshold,
        namespace=config.namespace,
        workflow_template=workflow_template(config.namespace),
    )


class K8sPlatform(pulumi.ComponentResource):
    """The namespace, the lifecycle workflow, serving and monitoring of one environment."""

    def __init__(
        self, name: str, args: K8sPlatformArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:K8sPlatform", name, None, opts)
        self.namespace = MLNamespace(
            f"{name}-ns", args.namespace, pulumi.ResourceOptions(parent=self)
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        if args.lake is not None:
            ObjectStore(lake_store(args.namespace.namespace), args.lake, after)
        if args.mlflow is not None:
            MlflowServer(f"{args.namespace.namespace}-mlflow", args.mlflow, after)
        self.workflow = LifecycleWorkflow(f"{name}-lifecycle", args.workflow, after)
        server = KServeModel if args.kserve else ModelServer
        self.server = server(args.monitoring.service, args.serving, after)
        self.monitoring = Monitoring(f"{name}-monitoring", args.monitoring, after)
        self.outputs: dict[str, Any] = {
            "namespace": args.namespace.namespace,
            "service_url": self.server.url,
        }
        if args.platform is not None:
            exported = args.platform
            self.outputs["platform"] = self.server.url.apply(
                lambda url: dataclasses.replace(exported, service_url=url).to_mapping()
            )
        self.register_outputs(self.outputs)
