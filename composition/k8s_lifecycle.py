"""A Kubernetes stack's lifecycle seen from a person's machine: ``mlops approve --stack``.

The stack's own program says where things are (no Pulumi CLI needed): the model server's
manifest names the lake's buckets, the MLflow server and the registered model. The registry is
MLflow's (:class:`~mlops.pipelines.adapters.mlflow.MlflowRegistry`), reached at
``MLFLOW_TRACKING_URI`` when set (``kubectl port-forward svc/<namespace>-mlflow 5000``), else at
the in-cluster URL; the lake at boto3's own endpoint setting (``AWS_ENDPOINT_URL_S3``: MinIO
through a port-forward) with the person's own credentials.

After an approval moves ``@champion``, the model server is restarted so its pods resolve the
new champion: the canary Deployment first where the stack has one (promote the stable track
once it has baked), else the stable one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.composition.lifecycle import Lifecycle
from mlops.core.contracts import Env, PlatformOutputs, bucket_env
from mlops.core.errors import ExternalToolError, UserError
from mlops.core.layout import ZONES

Say = Callable[[str], None]
TRACKING_URI, REGISTRY, REGISTERED_MODEL = Env.TRACKING_URI, Env.REGISTRY, Env.REGISTERED_MODEL


@dataclass(frozen=True)
class K8sStack:
    """What a k8s stack's manifests say about its serving and registry.

    Attributes:
        namespace: the stack's namespace.
        env: the model server's environment (its stable Deployment's).
        deployments: the model server's Deployments, canary first when there is one.
    """

    namespace: str
    env: dict[str, str]
    deployments: list[str]


def k8s_stack(project: Path, stack: str) -> K8sStack | None:
    """The stack's serving facts from its program, or None when it is not a k8s stack."""
    from mlops.infra.k8s.render import manifests
    from mlops.infra.program import capture

    objects = manifests(capture(project, stack))
    servers = [
        o
        for o in objects
        if o["kind"] == "Deployment"
        and o["metadata"].get("labels", {}).get("mlops/role") == "serving"
    ]
    if not servers:
        return None
    servers.sort(key=lambda o: o["metadata"]["labels"].get("mlops/track") != "canary")
    stable = next(
        (o for o in servers if o["metadata"]["labels"].get("mlops/track") != "canary"), servers[0]
    )
    container = stable["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}
    return K8sStack(
        str(stable["metadata"]["namespace"]), env, [o["metadata"]["name"] for o in servers]
    )


def k8s_lifecycle(project: Path, stack: str, facts: K8sStack) -> Lifecycle:
    """The stack's lifecycle on MLflow and its lake, from this machine.

    Raises:
        UserError: the stack has no MLflow registry (``mlflow: true``) or no lake.
    """
    import boto3

    from mlops.pipelines.adapters.mlflow import MlflowApi, MlflowRegistry
    from mlops.pipelines.adapters.none import NoMetrics, NoRetrain
    from mlops.pipelines.data import DataContract
    from mlops.pipelines.lake import Lake

    env = facts.env
    if env.get(REGISTRY) != "mlflow":
        raise UserError(
            f"the {stack} stack has no model registry: set `mlflow: true` in"
            f" Pulumi.{stack}.yaml (an MLflow server in its namespace), then `pulumi up`"
        )
    buckets = {zone: env[bucket_env(zone)] for zone in ZONES if bucket_env(zone) in env}
    if not buckets:
        raise UserError(f"the {stack} stack has no lake (minioImage or irsaRoleArn)")
    api = MlflowApi.from_environ(os.environ) or MlflowApi(env[TRACKING_URI])
    region = env.get("AWS_DEFAULT_REGION", "us-east-1")
    lake = Lake(boto3.client("s3", region_name=region), buckets)
    # The lifecycle's view of the platform: the registry group is the registered model.
    platform = PlatformOutputs(
        kind="k8s",
        project=project.name,
        environment=stack,
        buckets=buckets,
        image_uri=env.get(Env.CODE_VERSION, ""),
        region=region,
        pipeline_name="",
        model_package_group=env[REGISTERED_MODEL],
        evaluation_margin=_stack_margin(project, stack),
        extra={"namespace": facts.namespace},
    )
    return Lifecycle(
        project,
        platform,
        lake,
        MlflowRegistry(api, lake, env[REGISTERED_MODEL], experiment=env[REGISTERED_MODEL]),
        NoRetrain(),
        NoMetrics(),
        DataContract.load(project / "data" / "contract.yaml"),
    )


def _stack_margin(project: Path, stack: str) -> float:
    """The stack's evaluation margin where its config has one (0 otherwise)."""
    from mlops.infra.k8s.config import K8sConfig
    from mlops.infra.program import stack_config

    name, _, values = stack_config(project, stack)
    training = K8sConfig.from_values(name, stack, values).training
    margin: Any = getattr(training, "evaluation_margin", 0.0)
    return float(margin)


def roll_out(facts: K8sStack, say: Say, context: str | None = None) -> str:
    """Restart the first of the server's Deployments (the canary, if any); return its name.

    Its new pods resolve ``models:/<model>@champion`` as they start. Without kubectl (or a
    context) nothing is restarted and the command to run is said instead.
    """
    from mlops.core.process import run_tool

    target = facts.deployments[0]
    command = ["kubectl", *(["--context", context] if context else [])]
    command += ["rollout", "restart", f"deployment/{target}", "-n", facts.namespace]
    if shutil.which("kubectl") is None:
        say(f"kubectl is not on PATH: restart the server yourself: {' '.join(command)}")
        return ""
    try:
        run_tool(command, "kubectl rollout restart", 60)
    except ExternalToolError as exc:
        say(f"the server was not restarted ({exc}); run: {' '.join(command)}")
        return ""
    say(f"restarted deployment/{target} in {facts.namespace}: its pods serve the new champion")
    return target
