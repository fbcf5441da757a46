"""``mlops:k8s:ObjectStore``: the lake on an S3-compatible store, same layout as on AWS.

On kind (``local``), a single-replica MinIO in the namespace, its data on a
PersistentVolumeClaim and its root credentials read from the Secret ``<name>-root``, which is
created in the cluster (``mlops local up --k8s`` makes one with a random password), never written
in the program or a stack file. Its key ``config.env`` is MinIO's environment file
(``MINIO_ROOT_USER=``, ``MINIO_ROOT_PASSWORD=``) and its key ``credentials`` the same pair as an
AWS shared credentials file, which the workloads' SDK reads: both mounted as files, never set as
environment values. MinIO's port is opened to the namespace's own pods only, and a Job
running the project image's ``prepare-lake`` creates the buckets (MinIO starts with none). On a
real cluster, S3 itself, reached through IRSA: the jobs' service accounts carry the IAM role to
assume, and no key is stored anywhere. Either way the workloads get the endpoint and the bucket
names as environment variables (:meth:`env`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.contracts import bucket_env
from mlops.core.errors import UserError
from mlops.core.layout import ZONES
from mlops.infra.k8s.settings import LakeSettings
from mlops.infra.k8s.workloads import (
    EnvValue,
    SecretFile,
    container_security,
    env_list,
    pod_security,
    require_digest,
    restricted_pod,
    secret_mounts,
)

MINIO_PORT = 9000
# The keys of the Secret ``<name>-root`` (see the module docstring).
CONFIG_KEY, CREDENTIALS_KEY = "config.env", "credentials"


@dataclass(frozen=True)
class ObjectStoreArgs:
    """Inputs of :class:`ObjectStore`.

    Attributes:
        namespace: where the workloads run.
        bucket_prefix: bucket names are ``<prefix>-lake-<zone>``.
        lake: where the lake lives: MinIO in the namespace (kind; its image by digest), or S3
            in a region through the IAM role the service accounts assume on EKS (IRSA).
        setup_image: the project image, whose ``prepare-lake`` creates MinIO's buckets.
        minio_storage: MinIO's volume size.
        labels: labels for every object.
    """

    namespace: pulumi.Input[str]
    bucket_prefix: str
    lake: LakeSettings = field(default_factory=LakeSettings)
    setup_image: str = ""
    minio_storage: str = "10Gi"
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lake.minio_image:
            require_digest(self.setup_image)
        elif not self.lake.irsa_role_arn.startswith("arn:"):
            raise UserError(
                "the object store is S3 through IRSA: give irsaRoleArn (the IAM role the jobs"
                " assume), or run MinIO in the cluster with minioImage"
            )

    @property
    def buckets(self) -> dict[str, str]:
        """Zone -> bucket, the lake's layout."""
        return {zone: f"{self.bucket_prefix}-lake-{zone}" for zone in ZONES}

    def endpoint(self, name: str) -> str:
        """The S3 endpoint: MinIO's Service (named ``name``), or S3 in the region."""
        if self.lake.minio_image:
            return f"http://{name}.{self.namespace}.svc:{MINIO_PORT}"
        return f"https://s3.{self.lake.s3_region}.amazonaws.com"

    def env(self, name: str) -> dict[str, EnvValue]:
        """What the lifecycle in a pod needs to reach the lake (``name``: the store's)."""
        env: dict[str, EnvValue] = {
            "AWS_ENDPOINT_URL_S3": self.endpoint(name),
            "AWS_DEFAULT_REGION": self.lake.s3_region,
            **{bucket_env(zone): b for zone, b in self.buckets.items()},
        }
        if self.lake.minio_image:  # MinIO's keys, a file from its Secret; IRSA needs none
            env["AWS_SHARED_CREDENTIALS_FILE"] = SecretFile(root_secret(name), CREDENTIALS_KEY)
        return env


def root_secret(store: str) -> str:
    """The Secret holding the MinIO store ``store``'s keys, created outside the program."""
    return f"{store}-root"


def root_secret_files(user: str, password: str) -> dict[str, str]:
    """The Secret's keys: MinIO's environment file and the SDKs' credentials file, one pair."""
    return {
        CONFIG_KEY: f"MINIO_ROOT_USER={user}\nMINIO_ROOT_PASSWORD={password}\n",
        CREDENTIALS_KEY: (
            f"[default]\naws_access_key_id = {user}\naws_secret_access_key = {password}\n"
        ),
    }


class ObjectStore(pulumi.ComponentResource):
    """MinIO in the namespace, or S3 through IRSA: the lake's endpoint for the workloads."""

    def __init__(
        self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:ObjectStore", name, None, opts)
        self.args, self.name = args, name
        self.endpoint = args.endpoint(name)
        if args.lake.minio_image:
            self._minio(name, args, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"endpoint": self.endpoint, "buckets": args.buckets})

    def env(self) -> dict[str, EnvValue]:
        """What the lifecycle in a pod needs to reach the lake."""
        return self.args.env(self.name)

    def service_account_annotations(self) -> dict[str, str]:
        """IRSA: the role a service account's pods assume (none with MinIO)."""
        if self.args.lake.minio_image:
            return {}
        return {"eks.amazonaws.com/role-arn": self.args.lake.irsa_role_arn}

    @staticmethod
    def _minio(name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions) -> None:
        labels = {**args.labels, "app.kubernetes.io/name": name, "mlops/role": "object-store"}
        meta = {"namespace": args.namespace, "labels": labels}
        k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata={**meta, "name": f"{name}-data"},
            spec={
                "access_modes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.minio_storage}},
            },
            opts=opts,
        )
        resources = {"cpu": "500m", "memory": "1Gi"}
        config: dict[str, EnvValue] = {
            "MINIO_CONFIG_ENV_FILE": SecretFile(root_secret(name), CONFIG_KEY)
        }
        config_volumes, config_mounts = secret_mounts(config)
        k8s.apps.v1.Deployment(
            f"{name}-minio",
            metadata={**meta, "name": name},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # one writer on a ReadWriteOnce volume
                "selector": {"match_labels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automount_service_account_token": False,
                        "security_context": pod_security(),
                        "containers": [
                            {
                                "name": "minio",
                                "image": args.lake.minio_image,
                                "args": ["server", "/data"],
                                "ports": [{"name": "s3", "container_port": MINIO_PORT}],
                                "env": env_list(config),
                                "resources": {"requests": resources, "limits": resources},
                                "readiness_probe": {
                                    "http_get": {"path": "/minio/health/ready", "port": MINIO_PORT}
                                },
                                "liveness_probe": {
                                    "http_get": {"path": "/minio/health/live", "port": MINIO_PORT}
                                },
                                "security_context": container_security(),
                                "volume_mounts": [
                                    {"name": "data", "mount_path": "/data"},
                                    *config_mounts,
                                ],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "data",
                                "persistent_volume_claim": {"claim_name": f"{name}-data"},
                            },
                            *config_volumes,
                        ],
                    },
                },
            },
            opts=opts,
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={**meta, "name": name},
            spec={
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "s3", "port": MINIO_PORT, "target_port": MINIO_PORT}],
            },
            opts=opts,
        )
        # Default-deny covers MinIO too: its port is open to this namespace's pods, no others.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-lake",
            metadata={**meta, "name": f"{name}-allow-lake"},
            spec={
                "pod_selector": {"match_labels": {"app.kubernetes.io/name": name}},
                "policy_types": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"pod_selector": {}}],
                        "ports": [{"protocol": "TCP", "port": MINIO_PORT}],
                    }
                ],
            },
            opts=opts,
        )
        small = {"cpu": "100m", "memory": "256Mi"}
        pod = restricted_pod(
            "prepare-lake", args.setup_image, "prepare-lake", args.env(name), small, "training"
        )
        k8s.batch.v1.Job(
            f"{name}-buckets",
            metadata={**meta, "name": f"{name}-buckets"},
            spec={
                "backoff_limit": 6,  # MinIO may still be starting: each try waits about a minute
                "active_deadline_seconds": 900,
                "ttl_seconds_after_finished": 86400,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {**pod, "restart_policy": "Never"},
                },
            },
            opts=opts,
        )
