"""What every workload of the flavour shares: the restricted security context, image rules."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from mlops.core.errors import UserError

# An image by digest: registry/path@sha256:<64 hex>. Tags move; digests do not.
DIGEST = re.compile(r"^[\w.\-/:]+@sha256:[0-9a-f]{64}\Z")
UID = 10001  # the image's non-root user
EXECUTOR_ACCOUNT = "argo-executor"  # Argo's wait/init containers; the steps' own get no token
API_CLIENT_LABEL = "mlops/api-client"  # pods the namespace lets reach the API server


def require_digest(image: str) -> str:
    """``image`` if it is pinned by digest.

    Raises:
        UserError: a tag (or ``latest``) instead of a digest.
    """
    if not DIGEST.match(image):
        raise UserError(
            f"image {image!r} is not pinned by digest: use repository@sha256:<digest>"
            " (`docker buildx imagetools inspect IMAGE` prints it)"
        )
    return image


def pod_security() -> dict[str, Any]:
    """The pod-level part of the restricted Pod Security Standard."""
    return {
        "run_as_non_root": True,
        "run_as_user": UID,
        "run_as_group": UID,
        "fs_group": UID,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    """The container-level part: no privilege, no capabilities, a read-only root filesystem."""
    return {
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": True,
        "run_as_non_root": True,
        "capabilities": {"drop": ["ALL"]},
    }


ML_ROOT = "/tmp/ml"  # on the pod's own emptyDir


def scratch_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """A size-limited emptyDir at /tmp: the one writable path under a read-only root."""
    volume = {"name": "tmp", "empty_dir": {"size_limit": "1Gi"}}
    mount = {"name": "tmp", "mount_path": "/tmp"}  # an emptyDir, the pod's own
    return volume, mount


def pod_resources(cpu: str, memory: str, gpus: int, gpu_resource: str) -> dict[str, Any]:
    """CPU, memory and (when asked for) GPUs as the extended resource; requests equal limits."""
    resources: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpus:
        resources[gpu_resource] = str(gpus)
    return resources


class SecretFile(NamedTuple):
    """An environment variable holding the path of one key of a Secret, mounted read-only.

    Credentials reach a pod as files, never as environment values (which leak into process
    listings, crash dumps and ``kubectl describe``).
    """

    secret: str
    key: str

    @property
    def path(self) -> str:
        """Where the key is mounted."""
        return f"{SECRETS_DIR}/{self.secret}/{self.key}"


EnvValue = str | SecretFile
SECRETS_DIR = "/var/run/secrets/mlops"


def env_list(env: dict[str, EnvValue]) -> list[dict[str, Any]]:
    """Environment variables in Kubernetes' shape, in a stable order (a file: its path)."""
    return [
        {"name": k, "value": v.path if isinstance(v, SecretFile) else v}
        for k, v in sorted(env.items())
    ]


def secret_mounts(env: dict[str, EnvValue]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The volumes and mounts that put the Secret keys ``env`` names at their paths."""
    keys: dict[str, set[str]] = {}
    for value in env.values():
        if isinstance(value, SecretFile):
            keys.setdefault(value.secret, set()).add(value.key)
    volumes, mounts = [], []
    for i, secret in enumerate(sorted(keys)):
        items = [{"key": k, "path": k} for k in sorted(keys[secret])]
        volumes.append(
            {
                "name": f"secret-{i}",
                # Readable by the pod's group (fsGroup) only.
                "secret": {"secret_name": secret, "items": items, "default_mode": 0o440},
            }
        )
        mounts.append(
            {"name": f"secret-{i}", "mount_path": f"{SECRETS_DIR}/{secret}", "read_only": True}
        )
    return volumes, mounts


# Fields whose values are maps of the user's own keys (labels, resource names), left as written.
_FREE_MAPS = frozenset(
    {"labels", "annotations", "node_selector", "match_labels", "requests", "limits", "data"}
)


def api_keys(value: Any) -> Any:
    """``value`` with Kubernetes' own camelCase field names.

    Typed pulumi-kubernetes resources translate snake_case names; a custom resource's spec is
    sent as written, and the API server drops (or, with strict field validation, refuses)
    ``restart_policy`` where it expects ``restartPolicy``. Keys of free-form maps stay as they are.
    """
    return _api_keys(value, free=False)


def _api_keys(value: Any, *, free: bool) -> Any:
    if isinstance(value, list):
        return [_api_keys(v, free=False) for v in value]
    if not isinstance(value, dict):
        return value
    if free:
        return dict(value)
    return {_camel(k): _api_keys(v, free=k in _FREE_MAPS) for k, v in value.items()}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def restricted_pod(
    container: str,
    image: str,
    command: str,
    env: dict[str, EnvValue],
    resources: dict[str, Any],
    service_account: str,
    *,
    container_extra: dict[str, Any] | None = None,
    **pod_extra: Any,
) -> dict[str, Any]:
    """A pod of the one image running one entry point, under the restricted profile.

    Requests equal limits; the root filesystem is read-only with a scratch ``/tmp``; the token
    is mounted only for the ``monitoring`` account (the one job that calls the API server).
    """
    volume, mount = scratch_volume()
    # SageMaker's /opt/ml would be on the read-only root: the steps' files go to the scratch.
    env = {"SM_ML_ROOT": ML_ROOT, **env}
    secret_volumes, secret_volume_mounts = secret_mounts(env)
    return {
        "service_account_name": service_account,
        "automount_service_account_token": service_account == "monitoring",
        "security_context": pod_security(),
        **pod_extra,
        "containers": [
            {
                "name": container,
                "image": image,
                "args": [command],
                "env": env_list(env),
                "resources": {"requests": resources, "limits": resources},
                "security_context": container_security(),
                "volume_mounts": [mount, *secret_volume_mounts],
                **(container_extra or {}),
            }
        ],
        "volumes": [volume, *secret_volumes],
    }
