"""``mlops:k8s:ObjectStore``: the lake on an S3-compatible store, same layout as on AWS.

On kind (``local``), a single-replica MinIO in the namespace, its data on a
PersistentVolumeClaim and its root credentials read from the Secret ``<name>-root`` (keys
``user`` and ``password``), which is created in the cluster, never written in the program or
a stack file; on a real cluster, S3 itself, reached through IRSA: the jobs' service accounts
carry the IAM role to assume, and no key is stored anywhere. Either way the
workloads get the endpoint and the bucket names as environment variables (:meth:`env`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from mlops.core.errors import UserError
from mlops.core.layout import ZONES
from mlops.infra.k8s.workloads import container_security, pod_security, require_digest

MINIO_PORT = 9000


@dataclass(frozen=True)
class ObjectStoreArgs:
    """Inputs of :class:`ObjectStore`.

    Attributes:
        namespace: where the workloads run.
        bucket_prefix: bucket names are ``<prefix>-lake-<zone>``.
        minio_image: run MinIO in the namespace (kind), by digest; empty to use S3.
        minio_storage: MinIO's volume size.
        s3_region: the region of the S3 buckets (when not MinIO).
        irsa_role_arn: the IAM role the service accounts assume on EKS (when not MinIO).
        labels: labels for every object.
    """

    namespace: pulumi.Input[str]
    bucket_prefix: str
    minio_image: str = ""
    minio_storage: str = "10Gi"
    s3_region: str = "us-east-1"
    irsa_role_arn: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.minio_image:
            require_digest(self.minio_image)
        elif not self.irsa_role_arn.startswith("arn:"):
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
        if self.minio_image:
            return f"http://{name}.{self.namespace}.svc:{MINIO_PORT}"
        return f"https://s3.{self.s3_region}.amazonaws.com"

    def env(self, name: str) -> dict[str, str]:
        """What the lifecycle in a pod needs to reach the lake (``name``: the store's)."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint(name),
            "AWS_DEFAULT_REGION": self.s3_region,
            **{f"MLOPS_BUCKET_{zone.upper()}": b for zone, b in self.buckets.items()},
        }


class ObjectStore(pulumi.ComponentResource):
    """MinIO in the namespace, or S3 through IRSA: the lake's endpoint for the workloads."""

    def __init__(
        self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:k8s:ObjectStore", name, None, opts)
        self.args, self.name = args, name
        self.endpoint = args.endpoint(name)
        if args.minio_image:
            self._minio(name, args, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"endpoint": self.endpoint, "buckets": args.buckets})

    def env(self) -> dict[str, str]:
        """What the lifecycle in a pod needs to reach the lake."""
        return self.args.env(self.name)

    def service_account_annotations(self) -> dict[str, str]:
        """IRSA: the role a service account's pods assume (none with MinIO)."""
        if self.args.minio_image:
            return {}
        return {"eks.amazonaws.com/role-arn": self.args.irsa_role_arn}

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
                                "image": args.minio_image,
                                "args": ["server", "/data"],
                                "ports": [{"name": "s3", "container_port": MINIO_PORT}],
                                "env": [
                                    {
                                        "name": "MINIO_ROOT_PASSWORD",
                                        "value_from": {
                                            "secret_key_ref": {
                                                "name": f"{name}-root",
                                                "key": "password",
                                            }
                                        },
                                    },
                                    {
                                        "name": "MINIO_ROOT_USER",
                                        "value_from": {
                                            "secret_key_ref": {
                                                "name": f"{name}-root",
                                                "key": "user",
                                            }
                                        },
                                    },
                                ],
                                "resources": {"requests": resources, "limits": resources},
                                "readiness_probe": {
                                    "http_get": {"path": "/minio/health/ready", "port": MINIO_PORT}
                                },
                                "liveness_probe": {
                                    "http_get": {"path": "/minio/health/live", "port": MINIO_PORT}
                                },
                                "security_context": container_security(),
                                "volume_mounts": [{"name": "data", "mount_path": "/data"}],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "data",
                                "persistent_volume_claim": {"claim_name": f"{name}-data"},
                            }
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
