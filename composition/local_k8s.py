"""``mlops local up|down --k8s``: the ``local`` stack on a kind cluster on this machine.

The cluster comes from :mod:`mlops.infra.kind`, with the pinned Argo Workflows controller that
runs the lifecycle's WorkflowTemplate; the stack's objects are the ones
``mlops render-manifests`` writes (rendered into ``.mlops/k8s-local``) and are applied with
``kubectl apply -k``, so no Pulumi CLI is needed. With the lake on MinIO (the generated local
stack's default), its keys are made here as a Secret with a random password: the program and
the stack files never hold one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from mlops.composition.manifests import render_manifests
from mlops.infra import kind
from mlops.infra.k8s.config import K8sConfig
from mlops.infra.k8s.object_store import root_secret, root_secret_files
from mlops.infra.k8s.platform import lake_store
from mlops.infra.program import stack_config

Say = Callable[[str], None]


def up(project: Path, say: Say) -> str:
    """Create (or reuse) the project's cluster and apply its ``local`` stack; return its name.

    Raises:
        UserError: docker, kind or kubectl is missing (nothing is created), or the stack is bad.
        ExternalToolError: kind or kubectl failed.
    """
    kind.require_tools()
    name, _, values = stack_config(project, "local")
    config = K8sConfig.from_values(name, "local", values)
    # Rendered first: a broken stack fails before a cluster is made for it.
    manifests = project / ".mlops" / "k8s-local"
    files = render_manifests(project, "local", manifests)
    cluster = kind.cluster_name(name)
    kind.create_cluster(cluster, project / ".mlops" / "kind.yaml", say)
    kind.install_argo(cluster, say)  # its CRDs first: the stack declares a WorkflowTemplate
    kind.apply(cluster, manifests)
    say(f"applied {len(files)} objects of the local stack to kind-{cluster}")
    if config.lake.minio_image:
        # MinIO and the pods wait for its keys; they are made here, once, and stay in the cluster.
        secret = root_secret(lake_store(config.namespace))
        keys = root_secret_files("mlops", secrets.token_urlsafe(32))
        if kind.ensure_secret(cluster, config.namespace, secret, keys):
            say(
                f"created the lake's keys: Secret {secret} (a random password, kept in the cluster)"
            )
        else:
            say(f"the lake's keys: Secret {secret} already there, kept")
    return cluster


def down(project: Path, say: Say) -> None:
    """Delete the project's kind cluster."""
    name, _, _ = stack_config(project, "local")
    kind.delete_cluster(kind.cluster_name(name), say)
