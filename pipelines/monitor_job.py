"""The monitoring step in a container: ``python -m mlops.pipelines.container monitor``.

What ``mlops monitor run`` does on a laptop, as a scheduled job in the cluster (Kubernetes: a
CronJob under the ``monitoring`` service account). It reads the captured traffic and the served
model's artifact (with its reference sample) from the lake, runs the drift check, keeps the JSON
report in the lake, and on a retrain decision creates a Job from the retraining CronJob through
the Kubernetes API, with the pod's own service-account token: that is the whole of its RBAC.

Environment: ``MLOPS_DATA_CONTRACT`` (the features), ``MLOPS_MODEL_URI`` (``s3://`` of the
served ``model.tar.gz``), ``MLOPS_ENDPOINT_NAME`` (the capture prefix), ``MLOPS_BUCKET_<ZONE>``
(the lake), ``MLOPS_DRIFT_THRESHOLD``, and ``MLOPS_RETRAIN_CRONJOB`` (none: decide only).
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

from mlops.core.errors import ExternalToolError, UserError
from mlops.pipelines.lake import Lake

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
        base = environ.get("MLOPS_KUBE_API")
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
        token_file = Path(environ.get("MLOPS_KUBE_TOKEN_FILE", SERVICE_ACCOUNT / "token"))
        namespace = (
            environ.get("MLOPS_KUBE_NAMESPACE")
            or (SERVICE_ACCOUNT / "namespace").read_text().strip()
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
        request = urllib.request.Request(  # the API server's URL, from the pod
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


def monitor_main(environ: Mapping[str, str]) -> int:
    """Drift on the captured traffic against the served model's reference; retrain on drift.

    Raises:
        UserError: the environment is incomplete, or the model carries no reference.
    """
    from mlops.pipelines.data import DataContract
    from mlops.pipelines.drift import compare, decide
    from mlops.pipelines.reference import read_reference
    from mlops.pipelines.windows import captured_window

    lake = Lake.from_environ(environ)
    missing = [k for k in ("MLOPS_MODEL_URI", "MLOPS_ENDPOINT_NAME") if not environ.get(k)]
    missing += ["MLOPS_BUCKET_<ZONE>"] if lake is None else []
    if missing or lake is None:
        raise UserError(f"monitor needs {', '.join(missing)} set")
    contract = DataContract.load(Path(environ.get("MLOPS_DATA_CONTRACT", "data/contract.yaml")))
    reference = read_reference(lake.read_uri(environ["MLOPS_MODEL_URI"]))
    if reference is None:
        raise UserError(f"{environ['MLOPS_MODEL_URI']} carries no reference sample: retrain it")
    endpoint = environ["MLOPS_ENDPOINT_NAME"]
    report = compare(
        reference, captured_window(lake, endpoint, contract.features), contract.features
    )
    decision = decide(report, threshold=float(environ.get("MLOPS_DRIFT_THRESHOLD", "0.35")))
    started = ""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if decision.retrain and environ.get("MLOPS_RETRAIN_CRONJOB"):
        api = KubeApi.in_cluster(environ)
        started = api.job_from_cronjob(environ["MLOPS_RETRAIN_CRONJOB"], stamp.lower())
    body = json.dumps(
        {
            "endpoint": endpoint,
            "report": report.to_dict(),
            "decision": {"retrain": decision.retrain, "reason": decision.reason, "job": started},
        }
    ).encode()
    lake.put("monitoring", f"drift/{stamp}.json", body)
    lake.put("monitoring", "drift/latest.json", body)
    print(decision.reason + (f"; started Job {started}" if started else ""))
    return 0
