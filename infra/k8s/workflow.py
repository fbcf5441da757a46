"""``mlops:k8s:LifecycleWorkflow``: the lifecycle as an Argo Workflows ``WorkflowTemplate``.

validate -> train -> evaluate -> gate -> register, each step the image's
``python -m mlops.pipelines.container <step>``, the entry point SageMaker's pipeline runs, with
the same places in the lake per run (``{{workflow.name}}`` plays SageMaker's execution id):

- validate: the dataset version (the ``dataset-uri`` parameter) in, the report and the validated
  data out to ``validation/<run>/``;
- train: the validated data in, ``models/<run>/model.tar.gz`` out (the training Job's pod; with
  more than one node, a resource step that creates the stack's PyTorchJob and waits for it);
- evaluate: the model and the validated data in, the evaluation record out to
  ``evaluation/<run>/evaluation.json`` (gated against the registry's champion);
- gate: reads that record; a candidate that does not beat the champion fails the run here, as
  SageMaker's ``GateFailed`` step does, and nothing is registered;
- register: the candidate goes to the registry, pending approval.

Every step pod is restricted (the workloads' security context, read-only root, a scratch
``/tmp``) under the ``training`` account with no API token; Argo's executor gets its own account
(:data:`EXECUTOR_ACCOUNT`, whose Role the namespace holds). With a schedule, a ``CronWorkflow``
submits the template (scheduled retraining), never two runs at once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from mlops.core.contracts import Env
from mlops.infra.k8s.training_job import TrainingJobArgs, pod_spec, pytorch_spec
from mlops.infra.k8s.workloads import (
    API_CLIENT_LABEL,
    EXECUTOR_ACCOUNT,
    EnvValue,
    api_keys,
    env_list,
    restricted_pod,
)

API_VERSION = "argoproj.io/v1alpha1"
STEPS = ("validate", "train", "evaluate", "gate", "register")
COMMAND = ["python", "-m", "mlops.pipelines.container"]  # the image's entry point, named
STEP_ACCOUNT = "training"
RUN = "{{workflow.name}}"  # one run's id: its outputs never overwrite another's
DATASET_PARAMETER = "dataset-uri"
LATEST_DATASET = "latest"  # the newest dataset version in the lake (scheduled retraining)
REGISTRY = "lake"  # the run records in the lake, unless the stack runs MLflow (its registry)


def run_places() -> dict[str, str]:
    """Where one run's outputs live, as lake places with the run's id (resolved by the steps)."""
    return {
        "validated": f"validation/{RUN}/",
        "model": f"models/{RUN}/model.tar.gz",
        "evaluation": f"evaluation/{RUN}/evaluation.json",
    }


@dataclass(frozen=True)
class WorkflowArgs:
    """Inputs of :class:`LifecycleWorkflow`.

    Attributes:
        training: the train step's pod (namespace, image by digest, env with the lake, GPUs,
            placement, labels); its nodes choose a container step or a PyTorchJob.
        name: the WorkflowTemplate's name (the CronWorkflow's is the same).
        model_name: the registry's name for the project's model.
        primary_metric: the metric the gate compares.
        evaluation_margin: how much the candidate must beat the champion by.
        step_cpu: CPU of the steps other than train.
        step_memory: memory of the steps other than train.
        step_deadline_seconds: the longest one of those steps may take.
        ttl_seconds: how long a finished Workflow (and its pods' logs) stays.
    """

    training: TrainingJobArgs
    name: str
    model_name: str
    primary_metric: str = "roc_auc"
    evaluation_margin: float = 0.01
    step_cpu: str = "1"
    step_memory: str = "2Gi"
    step_deadline_seconds: int = 3600
    ttl_seconds: int = 24 * 3600

    @property
    def namespace(self) -> pulumi.Input[str]:
        """Where the Workflows run (the training pod's namespace)."""
        return self.training.namespace


def _step_env(args: WorkflowArgs, step: str) -> dict[str, EnvValue]:
    """One step's environment: the stack's (lake, project) plus where its inputs and outputs are."""
    places = run_places()
    env: dict[str, EnvValue] = dict(args.training.env)
    if step == "validate":
        env[Env.STAGE_IN] = _json(
            {"processing/input/data": f"{{{{workflow.parameters.{DATASET_PARAMETER}}}}}"}
        )
        env[Env.STAGE_OUT] = _json({"processing/output": places["validated"]})
    elif step == "train":
        env[Env.DATASET_URI] = places["validated"]
        env[Env.MODEL_OUTPUT_URI] = places["model"]
    elif step == "evaluate":
        env[Env.STAGE_IN] = _json(
            {"processing/model": places["model"], "processing/input/data": places["validated"]}
        )
        env[Env.STAGE_OUT] = _json({"processing/output": places["evaluation"].rsplit("/", 1)[0]})
        env.setdefault(Env.REGISTRY, REGISTRY)  # mlflow_wiring set it to MLflow's
    elif step == "register":
        env.setdefault(Env.REGISTRY, REGISTRY)  # mlflow_wiring set it to MLflow's
    return env


def _json(value: Mapping[str, str]) -> str:
    return json.dumps(dict(value), sort_keys=True)


def step_args(args: WorkflowArgs, step: str) -> list[str]:
    """The entry point's arguments of a step (after ``python -m mlops.pipelines.container``)."""
    places = run_places()
    if step == "evaluate":
        return [
            "evaluate",
            "--metric",
            args.primary_metric,
            "--margin",
            str(args.evaluation_margin),
            "--model-package-group",
            args.model_name,
        ]
    if step == "gate":
        return ["gate", "--evaluation", places["evaluation"]]
    if step == "register":
        return [
            "register",
            "--run-id",
            RUN,
            "--evaluation",
            places["evaluation"],
            "--model",
            places["model"],
            "--model-package-group",
            args.model_name,
        ]
    return [step]


def _container_step(args: WorkflowArgs, step: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """A step as an Argo container template: the restricted pod's one container and placement."""
    if step == "train":
        pod = api_keys(pod_spec(args.training, "Never"))
        deadline, retries = args.training.deadline_seconds, args.training.backoff_limit
    else:
        resources = {"cpu": args.step_cpu, "memory": args.step_memory}
        env = dict(args.training.env)
        pod = api_keys(restricted_pod(step, args.training.image, step, env, resources, "training"))
        deadline, retries = args.step_deadline_seconds, 0
    (container,) = pod["containers"]
    container = {
        **container,
        "name": "main",  # Argo's name for a step's own container
        "command": COMMAND,
        "args": step_args(args, step),
        "env": _env_list(_step_env(args, step)),
    }
    template: dict[str, Any] = {
        "name": step,
        "metadata": {"labels": {**labels, "mlops/step": step}},
        "container": container,
        "securityContext": pod["securityContext"],
        # An int-or-string in Argo's model: a string is what both the model and the API take.
        "activeDeadlineSeconds": str(deadline),
    }
    for key in ("nodeSelector", "tolerations"):
        if pod.get(key):
            template[key] = pod[key]
    if retries:
        template["retryStrategy"] = {"limit": str(retries), "retryPolicy": "OnFailure"}
    return template


def _env_list(env: dict[str, EnvValue]) -> list[dict[str, Any]]:
    return env_list({"SM_ML_ROOT": "/tmp/ml", **env})


def _pytorch_step(args: WorkflowArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    """Training on several nodes: create the stack's PyTorchJob for this run and wait for it."""
    env = _step_env(args, "train")
    training = dataclasses.replace(args.training, env=env)
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": f"{RUN}-train", "labels": {**labels, "mlops/step": "train"}},
        "spec": pytorch_spec(training, {**labels, "mlops/step": "train"}),
    }
    return {
        "name": "train",
        "metadata": {"labels": {**labels, "mlops/step": "train"}},
        "resource": {
            "action": "create",
            "manifest": yaml.safe_dump(job, sort_keys=False),
            "successCondition": "status.replicaStatuses.Master.succeeded > 0",
            "failureCondition": "status.replicaStatuses.Master.failed > 0",
        },
        "activeDeadlineSeconds": str(args.training.deadline_seconds),
    }


def workflow_spec(args: WorkflowArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    """The WorkflowTemplate's spec, in the API's own field names. Exported for testing."""
    steps = [
        _pytorch_step(args, labels)
        if step == "train" and args.training.training.nodes > 1
        else _container_step(args, step, labels)
        for step in STEPS
    ]
    # Every step's volumes: the scratch /tmp and the lake's Secret files, as the pods mount them.
    volumes = api_keys(
        restricted_pod("x", args.training.image, "x", dict(args.training.env), {}, STEP_ACCOUNT)
    )["volumes"]
    return {
        "entrypoint": "lifecycle",
        "arguments": {"parameters": [{"name": DATASET_PARAMETER, "value": LATEST_DATASET}]},
        "serviceAccountName": STEP_ACCOUNT,
        # The steps never call the API server; Argo's own containers do, as the executor.
        "automountServiceAccountToken": False,
        "executor": {"serviceAccountName": EXECUTOR_ACCOUNT},
        "securityContext": api_keys(restricted_pod("x", args.training.image, "x", {}, {}, "x"))[
            "securityContext"
        ],
        "volumes": volumes,
        "activeDeadlineSeconds": args.training.deadline_seconds + 4 * args.step_deadline_seconds,
        "ttlStrategy": {"secondsAfterCompletion": args.ttl_seconds},
        "workflowMetadata": {"labels": dict(labels)},
        # The namespace lets these pods (Argo's executor in them) reach the API server.
        "podMetadata": {"labels": {**labels, API_CLIENT_LABEL: "true"}},
        "templates": [
            {"name": "lifecycle", "steps": [[{"name": s, "template": s}] for s in STEPS]},
            *steps,
        ],
    }


class LifecycleWorkflow(pulumi.ComponentResource):
    """The lifecycle's WorkflowTemplate and, with a retraining schedule, its CronWorkflow."""

    def __init__(
        self, name: str, args: WorkflowArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:LifecycleWorkflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**args.training.labels, "app.kubernetes.io/name": args.name}
        meta = {"name": args.name, "namespace": args.namespace, "labels": labels}
        self.template = k8s.apiextensions.CustomResource(
            f"{name}-template",
            api_version=API_VERSION,
            kind="WorkflowTemplate",
            metadata=meta,
            spec=workflow_spec(args, {**labels, "mlops/role": "training"}),
            opts=child,
        )
        schedule = args.training.training.retrain_schedule
        if schedule:
            k8s.apiextensions.CustomResource(
                f"{name}-cron",
                api_version=API_VERSION,
                kind="CronWorkflow",
                metadata=meta,
                spec={
                    "schedules": [schedule],
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": 3600,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "workflowMetadata": {"labels": {**labels, "mlops/triggered-by": "schedule"}},
                    "workflowSpec": {"workflowTemplateRef": {"name": args.name}},
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.template]),
            )
        self.register_outputs(
            {"template": args.name, "steps": len(STEPS), "scheduled": bool(schedule)}
        )
