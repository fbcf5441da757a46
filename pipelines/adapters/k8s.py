"""Kubernetes adapters: retraining submits the lifecycle's Argo workflow; records are the registry.

The trigger goes through the Kubernetes API with the pod's own service-account token: the
monitoring account may create Workflows and read the lifecycle's WorkflowTemplate, the whole of
its RBAC. Until a registry runs in the cluster, the run records in the lake are the registry
(:class:`LakeRecords`): a registered record waits for approval, the newest approved one is the
champion the gate compares with.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.core.contracts import Env
from mlops.core.errors import ExternalToolError, GateBlocked, UserError

if TYPE_CHECKING:
    from mlops.pipelines.evaluate import GateDecision
    from mlops.pipelines.ports import ObjectStore, RegistryLock
    from mlops.pipelines.registry import RunRecord

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

    def submit_workflow(self, template: str, triggered_by: str) -> str:
        """Create a Workflow from a WorkflowTemplate (what ``argo submit --from`` does).

        Returns the name the API server gave it.
        """
        ns = self.namespace
        generate = f"{template}-{triggered_by}-"[:58]
        workflow: dict[str, Any] = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "generateName": generate,
                "namespace": ns,
                "labels": {
                    "workflows.argoproj.io/workflow-template": template,
                    "mlops/triggered-by": triggered_by,
                },
            },
            "spec": {"workflowTemplateRef": {"name": template}},
        }
        made = self.request(
            "POST", f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/workflows", workflow
        )
        return str(made.get("metadata", {}).get("name") or workflow["metadata"]["generateName"])


@dataclass(frozen=True)
class WorkflowTrigger:
    """Retraining is a Workflow submitted from the lifecycle's WorkflowTemplate.

    Attributes:
        api: the Kubernetes API, as the pod sees it.
        template: the WorkflowTemplate's name.
    """

    api: KubeApi
    template: str

    def start(self, reason: str) -> str:
        """Submit the workflow (validate -> train -> evaluate -> gate -> register); its name."""
        return self.api.submit_workflow(self.template, "drift")


@dataclass(frozen=True)
class LakeRecords:
    """The registry as run records in the lake (``runs/<run>.json``), for one model.

    Attributes:
        lake: the lake.
        group: the model's name (records carry no group: one lake, one model).
    """

    lake: ObjectStore
    group: str

    def _runs(self) -> list[RunRecord]:
        from mlops.pipelines.registry import list_runs

        return list_runs(self.lake)

    def approved_run(self) -> RunRecord | None:
        """The newest approved run, the champion."""
        approved = [r for r in self._runs() if r.status == "approved"]
        return approved[-1] if approved else None

    def approved_metric(self, metric: str) -> float | None:
        """The champion's recorded figure on ``metric``."""
        champion = self.approved_run()
        value = champion.metrics.get(metric) if champion is not None else None
        return float(value) if value is not None else None

    def approval_status(self, arn: str) -> str:
        """``Approved`` or ``PendingManualApproval`` for a run id."""
        from mlops.pipelines.registry import load_run

        status = load_run(self.lake, arn).status
        return "Approved" if status == "approved" else "PendingManualApproval"

    def register(
        self,
        record: RunRecord,
        image_uri: str,
        lock: RegistryLock,
        decision: GateDecision | None = None,
    ) -> RunRecord:
        """Record a run whose gate passed as registered, pending approval (idempotent).

        Raises:
            GateBlocked: its gate failed; nothing is registered.
        """
        from mlops.pipelines.registry import save_run

        verdict = decision.to_dict() if decision is not None else record.gate
        if not verdict.get("passed"):
            raise GateBlocked(
                str(verdict.get("metric", record.primary_metric)),
                float(verdict.get("candidate", float("nan"))),
                verdict.get("approved"),
                float(verdict.get("margin", 0.0)),
            )
        with lock(self.group):
            if self.lake.exists("runs", f"{record.run_id}.json"):
                from mlops.pipelines.registry import load_run

                return load_run(self.lake, record.run_id)
            registered = record.replace(status="registered", model_package_arn=record.run_id)
            save_run(self.lake, registered)
            return registered

    def approve(self, candidate: RunRecord, margin: float, lock: RegistryLock) -> GateDecision:
        """Approve a registered run that beats the champion of the moment.

        Raises:
            GateBlocked: it does not beat the champion by ``margin``; nothing changed.
        """
        from mlops.pipelines.registry import gate_against, save_run

        with lock(self.group):
            champion = self.approved_run()
            decision = gate_against(candidate, champion, margin)
            if not decision.passed:
                raise GateBlocked(decision.metric, decision.candidate, decision.approved, margin)
            previous = champion.run_id if champion is not None else ""
            save_run(self.lake, candidate.replace(status="approved", previous_run=previous))
            return decision
