"""``mlops:k8s:MlflowServer``: the MLflow tracking server and model registry in the namespace.

One Deployment under the restricted profile (non-root, read-only root filesystem with a scratch
``/tmp``, no API token), a Service, and NetworkPolicies that open its port to the namespace's
own pods and let those pods reach it (the namespace denies all traffic by default).

The backend store is SQLite on a PersistentVolumeClaim (kind, dev: one replica, ``Recreate``)
or a database (prod) whose URI is read from a Secret created outside the program, as a file:
the container exports it as ``MLFLOW_BACKEND_STORE_URI`` for the server process only, so it is
in neither the manifest, the Pulumi state nor the command line. Artifacts go to the lake
(``s3://<artifacts bucket>/mlflow``), proxied by the server, so clients need no S3 access; the
server reaches the lake with the workloads' own credentials (MinIO's key file, or IRSA).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.contracts import Env
from mlops.infra.k8s.settings import MlflowSettings
from mlops.infra.k8s.workloads import (
    EnvValue,
    SecretFile,
    container_security,
    env_list,
    pod_security,
    scratch_volume,
    secret_mounts,
)

if TYPE_CHECKING:
    from mlops.infra.k8s.object_store import ObjectStoreArgs

MLFLOW_PORT = 5000
DATA_DIR = "/mlflow"
URI_KEY = "uri"  # the backend Secret's key holding the database URI


@dataclass(frozen=True)
class MlflowServerArgs:
    """Inputs of :class:`MlflowServer`.

    Attributes:
        namespace: where it runs.
        mlflow: the image, backend store and registered model (see :class:`MlflowSettings`).
        artifacts: where artifacts go, ``s3://<artifacts bucket>/mlflow``.
        lake_env: how the server reaches the lake (its endpoint, region, MinIO's key file).
        service_account_annotations: on its service account (IRSA's role for S3).
        labels: labels for every object.
    """

    namespace: str
    mlflow: MlflowSettings
    artifacts: str
    lake_env: Mapping[str, EnvValue] = field(default_factory=dict)
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def url(self, name: str) -> str:
        """The server's in-cluster URL (``name``: the component's, its Service's)."""
        return f"http://{name}.{self.namespace}.svc:{MLFLOW_PORT}"


def mlflow_wiring(
    mlflow: MlflowSettings,
    namespace: str,
    lake: ObjectStoreArgs | None,
    env: dict[str, EnvValue],
    *,
    image: str,
    model_uri: str = "",
    irsa_role_arn: str = "",
    labels: Mapping[str, str] | None = None,
) -> MlflowServerArgs | None:
    """The stack's MLflow server (None when it has none), and its use by the workloads.

    Adds to ``env`` (every workload's) the server's URL, the registry it is
    (``MLOPS_REGISTRY=mlflow``), the registered model (``registeredModel``, default the
    namespace) and the code identity (the project ``image``); without a ``model_uri`` of its
    own the model server serves ``models:/<model>@champion``, resolved when a pod starts, so a
    promotion rolls out as the Deployment restarts.
    """
    if not mlflow.enabled or lake is None:
        return None
    name = f"{namespace}-mlflow"
    model = mlflow.registered_model or namespace
    args = MlflowServerArgs(
        namespace,
        mlflow,
        artifacts=f"s3://{lake.buckets['artifacts']}/mlflow",
        lake_env={k: v for k, v in env.items() if k.startswith("AWS_")},
        service_account_annotations=(
            {"eks.amazonaws.com/role-arn": irsa_role_arn} if irsa_role_arn else {}
        ),
        labels=dict(labels or {}),
    )
    env.update(
        {
            Env.TRACKING_URI: args.url(name),
            Env.REGISTRY: "mlflow",
            Env.REGISTERED_MODEL: model,
            Env.CODE_VERSION: image,
        }
    )
    if not model_uri:
        env[Env.MODEL_URI] = f"models:/{model}@champion"
    return args


# What a person's client sends through `kubectl port-forward svc/<name> PORT:5000` (any local
# port): `mlops approve --stack` and the UI reach the server so, from loopback only.
PORT_FORWARD_HOSTS = ("localhost:*", "127.0.0.1:*")


def allowed_hosts(name: str, namespace: str) -> str:
    """The Host headers the server accepts (MLflow refuses others, with 403).

    Its Service's names, and loopback's for a port-forward: the pod itself is reached only
    as its NetworkPolicies allow, or through the API server's port-forward.
    """
    names = [name, f"{name}.{namespace}", f"{name}.{namespace}.svc"]
    names.append(f"{name}.{namespace}.svc.cluster.local")
    hosts = [h for n in names for h in (n, f"{n}:{MLFLOW_PORT}")]
    return ",".join([*hosts, *PORT_FORWARD_HOSTS])


def server_command(args: MlflowServerArgs, name: str) -> list[str]:
    """The container's command: ``mlflow server``, its backend URI exported from the file."""
    options = [
        "--host 0.0.0.0",
        f"--port {MLFLOW_PORT}",
        f"--artifacts-destination {args.artifacts}",
        "--serve-artifacts",
        "--workers 2",
        f"--allowed-hosts '{allowed_hosts(name, args.namespace)}'",  # quoted: no globbing
    ]
    if args.mlflow.backend == "database":
        uri = SecretFile(args.mlflow.backend_secret, URI_KEY).path
        export = f'export MLFLOW_BACKEND_STORE_URI="$(cat {uri})" && '
    else:
        export = f"export MLFLOW_BACKEND_STORE_URI=sqlite:///{DATA_DIR}/mlflow.db && "
    return ["sh", "-c", f"{export}exec mlflow server {' '.join(options)}"]


class MlflowServer(pulumi.ComponentResource):
    """The tracking server's Deployment, Service, volume, service account and network rules."""

    def __init__(
        self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:MlflowServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.mlflow
        app = {"app.kubernetes.io/name": name, "mlops/role": "tracking"}
        labels = {**args.labels, **app}
        meta = {"namespace": args.namespace, "labels": labels}
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={**meta, "name": name, "annotations": dict(args.service_account_annotations)},
            automount_service_account_token=False,
            opts=child,
        )
        env: dict[str, EnvValue] = {
            **args.lake_env,
            "HOME": "/tmp",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no GenAI job runner: none is used
        }
        endpoint = args.lake_env.get("AWS_ENDPOINT_URL_S3")
        if isinstance(endpoint, str) and not endpoint.startswith("https://s3."):
            env["MLFLOW_S3_ENDPOINT_URL"] = endpoint  # MinIO (S3 itself needs no endpoint)
        files: dict[str, EnvValue] = dict(env)
        if settings.backend == "database":
            files["backend-uri"] = SecretFile(settings.backend_secret, URI_KEY)  # mounted only
        secret_volumes, secret_volume_mounts = secret_mounts(files)
        scratch, scratch_mount = scratch_volume()
        volumes, mounts = [scratch, *secret_volumes], [scratch_mount, *secret_volume_mounts]
        if settings.backend == "sqlite":
            k8s.core.v1.PersistentVolumeClaim(
                f"{name}-data",
                metadata={**meta, "name": f"{name}-data"},
                spec={
                    "access_modes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": settings.storage}},
                },
                opts=child,
            )
            volumes.append(
                {"name": "data", "persistent_volume_claim": {"claim_name": f"{name}-data"}}
            )
            mounts.append({"name": "data", "mount_path": DATA_DIR})
        resources = {"cpu": "500m", "memory": "1Gi"}
        probe = {"http_get": {"path": "/health", "port": MLFLOW_PORT}, "period_seconds": 10}
        annotations = {}
        if not settings.by_digest:
            # Checkov's own suppression, on this object only: the image is a pinned version tag.
            annotations["checkov.io/skip1"] = (
                "CKV_K8S_43=pinned by version tag (mlflowImage); its digest was not resolvable"
                " offline: set mlflowImage to repository@sha256:<digest>"
            )
        sqlite = settings.backend == "sqlite"
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata={**meta, "name": name, "annotations": annotations},
            spec={
                "replicas": 1 if sqlite else 2,  # SQLite: one writer on its volume
                "strategy": {"type": "Recreate"} if sqlite else {"type": "RollingUpdate"},
                "selector": {"match_labels": app},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "service_account_name": name,
                        "automount_service_account_token": False,
                        "security_context": pod_security(),
                        "containers": [
                            {
                                "name": "mlflow",
                                "image": settings.image,
                                "image_pull_policy": "IfNotPresent"
                                if settings.by_digest
                                else "Always",
                                "command": server_command(args, name),
                                "ports": [{"name": "http", "container_port": MLFLOW_PORT}],
                                "env": env_list(env),
                                "resources": {"requests": resources, "limits": resources},
                                "readiness_probe": {**probe, "initial_delay_seconds": 10},
                                "liveness_probe": {
                                    **probe,
                                    "initial_delay_seconds": 60,
                                    "failure_threshold": 3,
                                },
                                "security_context": container_security(),
                                "volume_mounts": mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
            opts=child,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={**meta, "name": name},
            spec={
                "selector": app,
                "ports": [{"name": "http", "port": MLFLOW_PORT, "target_port": MLFLOW_PORT}],
            },
            opts=child,
        )
        self._network_policies(name, args, meta, app, child)
        self.url = args.url(name)
        self.register_outputs({"url": self.url})

    @staticmethod
    def _network_policies(
        name: str,
        args: MlflowServerArgs,
        meta: Mapping[str, object],
        app: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        port = [{"protocol": "TCP", "port": MLFLOW_PORT}]
        # In: the namespace's own pods (the lifecycle's steps, the model server), no others.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-in",
            metadata={**meta, "name": f"{name}-allow-in"},
            spec={
                "pod_selector": {"match_labels": dict(app)},
                "policy_types": ["Ingress"],
                "ingress": [{"from": [{"pod_selector": {}}], "ports": port}],
            },
            opts=opts,
        )
        # Out: the namespace denies egress by default; its pods may reach this server.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-out",
            metadata={**meta, "name": f"{name}-allow-out"},
            spec={
                "pod_selector": {},
                "policy_types": ["Egress"],
                "egress": [{"to": [{"pod_selector": {"match_labels": dict(app)}}], "ports": port}],
            },
            opts=opts,
        )
        if args.mlflow.backend == "database":  # and the server its database, nothing else new
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-database",
                metadata={**meta, "name": f"{name}-allow-database"},
                spec={
                    "pod_selector": {"match_labels": dict(app)},
                    "policy_types": ["Egress"],
                    "egress": [{"ports": [{"protocol": "TCP", "port": args.mlflow.database_port}]}],
                },
                opts=opts,
            )
