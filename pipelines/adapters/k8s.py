"""Kubernetes adapters: retraining is a Job made from the retraining CronJob.

Through the Kubernetes API with the pod's own service-account token (the monitoring service
account may read that CronJob and create Jobs: that is the whole of its RBAC).
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops.core.contracts import Env
from mlops.core.errors import ExternalToolError, UserError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class KubeApi:
    """Just enough of the Kubernetes API: GET and POST with the pod's service-account token."""

    base: str
    token: str
    namespace: str
    ca_file: str | None = None

    @classmethod
    def in_cluster(cls, environ: Mapping[str, str]) -> KubeApi:
        """From the pod's environment (``MLOPS_KUBE_*`` override it, for tests).

        Raises:
            UserError: not in a cluster, and no override given.
        """
        base = environ.get(Env.KUBE_API)
        if base is None:
            host, port = (
                environ.get("KUBERNETES_SERVICE_HOST"),
                environ.get("KUBERNETES_SERVICE_PORT", "443"),
            )
            if not host:
                raise UserError(
                    "not in a Kubernetes pod (no KUBERNETES_SERVICE_HOST): cannot start retraining"
                )
            base = f"https://{host}:{port}"
        token_file = Path(environ.get(Env.KUBE_TOKEN_FILE, SERVICE_ACCOUNT / "token"))
        namespace = (
            environ.get(Env.KUBE_NAMESPACE) or (SERVICE_ACCOUNT / "namespace").read_text().strip()
        )
        ca = SERVICE_ACCOUNT / "ca.crt"
        return cls(
            base, token_file.read_text().strip(), namespace, str(ca) if ca.exists() else None
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call; its JSON answer.

        Raises:
            ExternalToolError: the API server refused or did not answer in 30 s.
        """
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        context = (
            ssl.create_default_context(cafile=self.ca_file)
            if self.base.startswith("https")
            else None
        )
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise ExternalToolError("kubernetes", f"{method} {path}: {exc.code} {detail}") from None
        except OSError as exc:
            raise ExternalToolError("kubernetes", f"{method} {path}: {exc}") from None

    def job_from_cronjob(self, cronjob: str, suffix: str) -> str:
        """Create a Job from a CronJob's template (what ``kubectl create job --from`` does)."""
        ns = self.namespace
        cron = self.request("GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{cronjob}")
        template = cron["spec"]["jobTemplate"]
        name = f"{cronjob}-drift-{suffix}"[:63]
        metadata = {
            **template.get("metadata", {}),
            "name": name,
            "namespace": ns,
            "annotations": {"mlops/triggered-by": "drift"},
        }
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata,
            "spec": template["spec"],
        }
        self.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", job)
        return name


@dataclass(frozen=True)
class CronJobTrigger:
    """Retraining is a Job created from the retraining CronJob's template.

    Attributes:
        api: the Kubernetes API, as the pod sees it.
        cronjob: the retraining CronJob's name.
    """

    api: KubeApi
    cronjob: str

    def start(self, reason: str) -> str:
        """Create the Job (``kubectl create job --from=cronjob/...``); return its name."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ").lower()
        return self.api.job_from_cronjob(self.cronjob, stamp)
