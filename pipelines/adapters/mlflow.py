"""MLflow adapters: the Model Registry (a ``champion`` alias) and experiment tracking.

Both talk to an MLflow tracking server over its REST API (``/api/2.0/mlflow``), with the
standard library only. The lifecycle's image therefore does not carry the ``mlflow`` package
(hundreds of megabytes and its own pins) to register, approve, resolve or track: a dozen
documented JSON calls do it, each with a timeout, and the tests run them against a real
``mlflow server``.

The registry keeps what the SageMaker registry keeps, in MLflow's terms:

==========================  ===========================  ====================================
                            SageMaker (``aws``)          MLflow (this module)
==========================  ===========================  ====================================
group                       model package group          registered model
candidate                   package, PendingManual...    model version, tag ``mlops.approval``
lineage                     CustomerMetadataProperties   version tags ``mlops.*``
evaluation record           ModelQuality statistics URI  tag ``mlops.evaluation_uri``
champion                    newest Approved package      the version holding ``@champion``
approval                    UpdateModelPackage           the alias moves (tag ``Approved``)
package id (``model_pa..``)  package ARN                  ``models:/<name>/<version>``
==========================  ===========================  ====================================

Concurrency. MLflow has no compare-and-set on an alias, so registration and approval hold a
*lease* in the registry itself: a registered model named ``<name>.lease`` that exactly one
caller can create (the server's unique name constraint) and that the holder deletes when done.
Two approvals at once are therefore serialized wherever they run (two pods, two laptops): the
second is gated against the champion the first made, and refused when it does not beat it or
when its version is older (:class:`~mlops.pipelines.registry.OlderThanApproved`). A lease
whose holder died expires after ``lease_s`` and is then broken.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlops.core.contracts import Env
from mlops.core.errors import ExternalToolError, GateBlocked, MlopsError, UserError
from mlops.pipelines.evaluate import GateDecision
from mlops.pipelines.ports import ObjectStore, RegistryLock
from mlops.pipelines.registry import (
    APPROVAL_ATTEMPTS,
    DESCRIPTION_SEPARATOR,
    OlderThanApproved,
    RunRecord,
    gate_against,
    load_run,
    refuse_failed_gate,
    save_run,
    unlocked,
)

CHAMPION = "champion"
APPROVED, PENDING = "Approved", "PendingManualApproval"
TAG = "mlops."  # the prefix of every tag the lifecycle sets
APPROVAL_TAG, RUN_TAG, EVALUATION_TAG = f"{TAG}approval", f"{TAG}run_id", f"{TAG}evaluation_uri"
TRACKING_URI_ENV = Env.TRACKING_URI  # MLflow's own variable, read by its clients too
TOKEN_ENV = "MLFLOW_TRACKING_TOKEN"
MODEL_ARTIFACT = "model/model.tar.gz"  # where a tracked run keeps the model it trained
# Answers after which taking the lease is simply tried again (until the wait's deadline).
TRANSIENT = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "500", "502", "503", "504"})

# No proxy from the environment: the server is in the cluster or on loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class MlflowError(ExternalToolError):
    """The tracking server refused a call, or did not answer in time.

    Args:
        call: the method and path.
        code: MLflow's ``error_code`` (``RESOURCE_ALREADY_EXISTS``...), or the HTTP status.
        message: what the server said.
    """

    def __init__(self, call: str, code: str, message: str) -> None:
        self.code = code
        super().__init__("mlflow", f"{call}: {code} {message}".strip())


@dataclass(frozen=True)
class MlflowApi:
    """Just enough of MLflow's REST API: JSON calls and artifact uploads, each with a timeout.

    Attributes:
        url: the tracking server (``http://127.0.0.1:5000``, ``http://<svc>.<ns>.svc:5000``).
        timeout: seconds one call may take.
        token: a bearer token, when the server sits behind one (``MLFLOW_TRACKING_TOKEN``).
    """

    url: str
    timeout: float = 30.0
    token: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> MlflowApi | None:
        """The server ``MLFLOW_TRACKING_URI`` names, or None when it is unset.

        Raises:
            UserError: it is set but is not an http(s) URL (a ``file:`` store has no REST API).
        """
        uri = environ.get(TRACKING_URI_ENV, "").strip()
        if not uri:
            return None
        if not uri.startswith(("http://", "https://")):
            raise UserError(
                f"{TRACKING_URI_ENV}={uri!r}: the lifecycle talks to an MLflow tracking server"
                " over HTTP; start one (`mlops local up --mlflow`) and give its http:// URL"
            )
        return cls(uri.rstrip("/"), token=environ.get(TOKEN_ENV, ""))

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One call under ``/api/2.0/mlflow``; its JSON answer.

        Raises:
            MlflowError: the server refused (with MLflow's error code) or did not answer.
        """
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        data = json.dumps(body).encode() if body is not None else None
        raw = self._send(method, f"/api/2.0/mlflow/{path}{suffix}", data, "application/json")
        return dict(json.loads(raw or b"{}"))

    def upload(self, artifact_uri: str, path: str, body: bytes) -> None:
        """Put ``body`` at ``path`` under a run's ``mlflow-artifacts:/`` root (the server's proxy).

        Raises:
            MlflowError: the server refused, or the root is not one the server proxies.
        """
        if not artifact_uri.startswith("mlflow-artifacts:"):
            raise MlflowError(
                "upload",
                "UNSUPPORTED",
                f"{artifact_uri} is not proxied by the server (start it with --serve-artifacts)",
            )
        root = urllib.parse.urlparse(artifact_uri).path.strip("/")
        quoted = urllib.parse.quote(f"{root}/{path}")
        self._send("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{quoted}", body, "")

    def download(self, artifact_uri: str, path: str) -> bytes:
        """The bytes at ``path`` under a run's ``mlflow-artifacts:/`` root."""
        root = urllib.parse.urlparse(artifact_uri).path.strip("/")
        quoted = urllib.parse.quote(f"{root}/{path}")
        return self._send("GET", f"/api/2.0/mlflow-artifacts/artifacts/{quoted}", None, "")

    def _send(self, method: str, path: str, data: bytes | None, content_type: str) -> bytes:
        headers = {"Content-Type": content_type} if content_type else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers=headers
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500]
            try:
                parsed = json.loads(detail)
                code, message = str(parsed.get("error_code", exc.code)), parsed.get("message", "")
            except ValueError:
                code, message = str(exc.code), detail.decode(errors="replace")
            raise MlflowError(f"{method} {path.split('?')[0]}", code, str(message)) from None
        except OSError as exc:
            raise MlflowError(f"{method} {path.split('?')[0]}", "UNREACHABLE", str(exc)) from None


def _tags(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in values.items()]


def _tag_map(entity: Mapping[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in entity.get("tags", [])}


def model_uri(name: str, version: str) -> str:
    """A model version's URI, ``models:/<name>/<version>`` (the record's package id)."""
    return f"models:/{name}/{version}"


def parse_model_uri(uri: str) -> tuple[str, str, str]:
    """``models:/<name>/<version>`` or ``models:/<name>@<alias>``: (name, version, alias).

    Raises:
        UserError: it is neither.
    """
    if not uri.startswith("models:/"):
        raise UserError(f"{uri!r} is not a models:/<name>@<alias> or models:/<name>/<version> URI")
    rest = uri.removeprefix("models:/").strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias:
            return name, "", alias
    elif "/" in rest:
        name, version = rest.rsplit("/", 1)
        if name and version.isdigit():
            return name, version, ""
    raise UserError(f"{uri!r} is not a models:/<name>@<alias> or models:/<name>/<version> URI")


def _version_number(package: str) -> int:
    tail = package.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


@dataclass(frozen=True)
class MlflowRegistry:
    """The MLflow Model Registry of one registered model; run records live in the lake.

    The :class:`~mlops.pipelines.ports.ModelRegistry` adapter of the Kubernetes flavour.

    Attributes:
        api: the tracking server's REST API.
        lake: the lake the run and evaluation records are in.
        group: the registered model's name.
        experiment: the experiment tracked runs are in (a version links to its run there).
        lease_s: how long a lease lives if its holder dies without releasing it.
        wait_s: how long to wait for another holder's lease before giving up.
    """

    api: MlflowApi
    lake: ObjectStore
    group: str
    experiment: str = ""
    lease_s: float = 120.0
    wait_s: float = 120.0

    # -- reading -----------------------------------------------------------------------------

    def champion(self) -> dict[str, Any] | None:
        """The model version holding the ``champion`` alias, if any (with its tags)."""
        try:
            model = self.api.call("GET", "registered-models/get", query={"name": self.group})
        except MlflowError as exc:
            if exc.code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        aliases = {a["alias"]: a["version"] for a in model["registered_model"].get("aliases", [])}
        if CHAMPION not in aliases:
            return None
        return self._version(str(aliases[CHAMPION]))

    def _version(self, version: str) -> dict[str, Any]:
        found = self.api.call(
            "GET", "model-versions/get", query={"name": self.group, "version": version}
        )
        return dict(found["model_version"])

    def _champion_number(self) -> str:
        current = self.champion()
        return "" if current is None else str(current["version"])

    def approved_run(self) -> RunRecord | None:
        """The champion's run record, if there is a champion and its record is in the lake."""
        current = self.champion()
        run = _tag_map(current).get(RUN_TAG, "") if current else ""
        if not run or not self.lake.exists("runs", f"{run}.json"):
            return None
        return load_run(self.lake, run)

    def approved_metric(self, metric: str) -> float | None:
        """The champion's figure on ``metric``, from the evaluation record it was registered with.

        As :func:`mlops.pipelines.registry.approved_metric` reads it for SageMaker: None when
        there is no champion, or its record lacks the metric.

        Raises:
            MlopsError: the champion names no evaluation record.
        """
        current = self.champion()
        if current is None:
            return None
        uri = _tag_map(current).get(EVALUATION_TAG, "")
        if not uri:
            raise MlopsError(
                f"the champion {model_uri(self.group, current['version'])} names no evaluation"
                f" record (tag {EVALUATION_TAG})"
            )
        figure = json.loads(self.lake.read_uri(uri)).get("metrics", {}).get(metric)
        return None if figure is None else float(figure)

    def approval_status(self, arn: str) -> str:
        """``Approved`` once a version has been approved, else ``PendingManualApproval``."""
        name, version, _ = parse_model_uri(arn)
        found = MlflowRegistry(self.api, self.lake, name)._version(version)
        return _tag_map(found).get(APPROVAL_TAG, PENDING)

    def resolve(self, uri: str) -> str:
        """The artifact (``s3://...model.tar.gz``) a ``models:/`` URI names.

        Raises:
            UserError: the alias holds no version, or the URI is not a ``models:/`` one.
        """
        name, version, alias = parse_model_uri(uri)
        if alias:
            try:
                found = self.api.call(
                    "GET", "registered-models/alias", query={"name": name, "alias": alias}
                )
            except MlflowError as exc:
                raise UserError(f"{uri}: no version holds @{alias} yet ({exc.detail})") from None
            return str(found["model_version"]["source"])
        other = MlflowRegistry(self.api, self.lake, name)
        return str(other._version(version)["source"])

    # -- writing -----------------------------------------------------------------------------

    def register(
        self,
        record: RunRecord,
        image_uri: str,
        lock: RegistryLock = unlocked,
        decision: GateDecision | None = None,
    ) -> RunRecord:
        """Register a run whose gate passed as a model version with its lineage as tags.

        Idempotent, as the SageMaker adapter: a run is registered once (a version carrying its
        run id is found, not made again), under ``lock`` and the registry's lease.

        Raises:
            NotRegistered: the gate failed; nothing was registered.
        """
        refuse_failed_gate(record, decision)
        if record.model_package_arn:
            return record
        with lock(self.group), self.lease():
            found = self.api.call(
                "GET",
                "model-versions/search",
                query={"filter": f"name='{self.group}' and tags.`{RUN_TAG}`='{record.run_id}'"},
            ).get("model_versions", [])
            if found:
                version = str(found[0]["version"])
            else:
                version = self._create_version(record, image_uri)
        updated = record.replace(
            model_package_arn=model_uri(self.group, version), status="registered"
        )
        save_run(self.lake, updated)
        return updated

    def _create_version(self, record: RunRecord, image_uri: str) -> str:
        try:
            self.api.call("POST", "registered-models/create", {"name": self.group})
        except MlflowError as exc:
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
        lineage = {
            RUN_TAG: record.run_id,
            f"{TAG}dataset_sha256": record.dataset_sha256,
            f"{TAG}contract_sha256": record.contract_sha256,
            f"{TAG}code_sha256": record.code_sha256,
            f"{TAG}code_version": record.code_version,
            f"{TAG}framework": record.framework,
            f"{TAG}image_uri": image_uri,
            f"{TAG}primary_metric": record.primary_metric,
            EVALUATION_TAG: self.lake.uri("evaluation", f"{record.run_id}.json"),
            APPROVAL_TAG: PENDING,
        }
        body: dict[str, Any] = {
            "name": self.group,
            "source": record.artifact_uri,
            "description": f"{record.run_id}{DESCRIPTION_SEPARATOR}{record.dataset_sha256[:12]}",
            "tags": _tags(lineage),
        }
        tracked = self._tracked_run(record.run_id)
        if tracked:
            body["run_id"] = tracked  # the version links to the tracked run in MLflow's UI
        created = self.api.call("POST", "model-versions/create", body)
        return str(created["model_version"]["version"])

    def _tracked_run(self, run_id: str) -> str:
        """The MLflow run that tracked ``run_id`` in :attr:`experiment`, or ""."""
        if not self.experiment:
            return ""
        try:
            experiment = self.api.call(
                "GET", "experiments/get-by-name", query={"experiment_name": self.experiment}
            )
        except MlflowError:
            return ""
        return _find_run(self.api, str(experiment["experiment"]["experiment_id"]), run_id)

    def approve(
        self, candidate: RunRecord, margin: float, lock: RegistryLock = unlocked
    ) -> GateDecision:
        """Move ``@champion`` to the candidate's version if it beats the champion of the moment.

        Under ``lock`` and the registry's lease; right before the alias moves the champion is
        read again, and if it changed the candidate is gated against the new one instead.

        Raises:
            GateBlocked: it does not beat the champion by the margin; nothing changed.
            OlderThanApproved: its version is older than the champion's.
            UserError: the champion kept changing while this approval tried to take over.
        """
        with lock(self.group), self.lease():
            for _ in range(APPROVAL_ATTEMPTS):
                seen = self._champion_number()
                current = self.approved_run()
                if current is not None and current.run_id == candidate.run_id:
                    return gate_against(candidate, None, margin)
                decision = gate_against(candidate, current, margin)
                if not decision.passed:
                    raise GateBlocked(
                        decision.metric, decision.candidate, decision.approved, margin
                    )
                if current is not None and _version_number(
                    candidate.model_package_arn
                ) < _version_number(current.model_package_arn):
                    raise OlderThanApproved(candidate, current)
                if self._champion_number() != seen:
                    continue
                _, version, _ = parse_model_uri(candidate.model_package_arn)
                self.api.call(
                    "POST",
                    "registered-models/alias",
                    {"name": self.group, "alias": CHAMPION, "version": version},
                )
                self.api.call(
                    "POST",
                    "model-versions/set-tag",
                    {
                        "name": self.group,
                        "version": version,
                        "key": APPROVAL_TAG,
                        "value": APPROVED,
                    },
                )
                previous = current.run_id if current is not None else ""
                save_run(self.lake, candidate.replace(status="approved", previous_run=previous))
                return decision
        raise UserError(
            f"the champion of {self.group} changed {APPROVAL_ATTEMPTS} times while approving"
            f" {candidate.run_id}; run the approval again"
        )

    # -- the lease ---------------------------------------------------------------------------

    @property
    def lease_name(self) -> str:
        """The registered model whose existence is the lease."""
        return f"{self.group}.lease"

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Hold the registry's lease on :attr:`group` while the block runs.

        Raises:
            UserError: another holder kept it for over ``wait_s`` seconds.
        """
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_s
        while not self._try_lease(token):
            if time.monotonic() > deadline:
                raise UserError(
                    f"another registration or approval of {self.group} has held its lease"
                    f" ({self.lease_name} in MLflow) for over {self.wait_s:.0f} s; try again"
                    " when it finishes"
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            self._release(token)

    def _try_lease(self, token: str) -> bool:
        expires = time.time() + self.lease_s
        try:
            self.api.call(
                "POST",
                "registered-models/create",
                {
                    "name": self.lease_name,
                    "description": f"held while mlops registers or approves in {self.group}",
                    "tags": _tags({f"{TAG}lease": token, f"{TAG}expires": f"{expires:.3f}"}),
                },
            )
            return True
        except MlflowError as exc:
            if exc.code in TRANSIENT:  # e.g. SQLite busy under concurrent writers: try again
                return False
            if exc.code == "RESOURCE_DOES_NOT_EXIST":
                # MLflow answers a name clash by reading the existing model: its holder released
                # it in between (the lease was held a moment ago and is free now): try again.
                return False
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
        held = self._holder()
        if held is not None and held[1] < time.time():
            self._delete_lease(held[0])  # its holder died: break it
        return False

    def _holder(self) -> tuple[str, float] | None:
        try:
            found = self.api.call("GET", "registered-models/get", query={"name": self.lease_name})
        except MlflowError as exc:
            if exc.code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        tags = _tag_map(found["registered_model"])
        try:
            expires = float(tags.get(f"{TAG}expires", "0"))
        except ValueError:
            expires = 0.0
        return tags.get(f"{TAG}lease", ""), expires if math.isfinite(expires) else 0.0

    def _release(self, token: str) -> None:
        self._delete_lease(token)

    def _delete_lease(self, token: str) -> None:
        """Delete the lease if ``token`` still holds it."""
        held = self._holder()
        if held is None or held[0] != token:
            return
        try:
            self.api.call("DELETE", "registered-models/delete", {"name": self.lease_name})
        except MlflowError as exc:
            if exc.code != "RESOURCE_DOES_NOT_EXIST":
                raise


def registry_from_environ(
    environ: Mapping[str, str], lake: ObjectStore, group: str = ""
) -> MlflowRegistry | None:
    """The MLflow registry a pod's environment names (``MLOPS_REGISTRY=mlflow``), else None.

    The registered model is ``group`` or ``MLOPS_REGISTERED_MODEL``; the server is
    ``MLFLOW_TRACKING_URI`` (the k8s platform sets all three when the stack runs MLflow).

    Raises:
        UserError: the registry is MLflow but the server or the model is not named.
    """
    if environ.get(Env.REGISTRY) != "mlflow":
        return None
    api = MlflowApi.from_environ(environ)
    name = group or environ.get(Env.REGISTERED_MODEL, "")
    if api is None or not name:
        raise UserError(
            f"{Env.REGISTRY}=mlflow needs {Env.TRACKING_URI} and {Env.REGISTERED_MODEL}"
            " (the k8s platform sets them when the stack has `mlflow: true`)"
        )
    return MlflowRegistry(api, lake, name, experiment=name)


def model_artifact_uri(uri: str, environ: Mapping[str, str], lake: ObjectStore) -> str:
    """The artifact ``MLOPS_MODEL_URI`` names, resolved when it is a registered model's.

    An ``s3://`` URI is taken as given; a ``models:/`` URI (``models:/<name>@champion``,
    ``models:/<name>/<version>``) is resolved through the MLflow registry at
    ``MLFLOW_TRACKING_URI``.

    Raises:
        UserError: a ``models:/`` URI without a tracking server, or no version holds the alias.
    """
    if not uri.startswith("models:/"):
        return uri
    api = MlflowApi.from_environ(environ)
    if api is None:
        raise UserError(
            f"{Env.MODEL_URI}={uri} names a registered model: set MLFLOW_TRACKING_URI to the"
            " MLflow server whose registry holds it"
        )
    name, _, _ = parse_model_uri(uri)
    resolved = MlflowRegistry(api, lake, name).resolve(uri)
    print(f"{uri} is {resolved}")
    return resolved


# -- tracking ----------------------------------------------------------------------------------


def _find_run(api: MlflowApi, experiment_id: str, run_id: str) -> str:
    found = api.call(
        "POST",
        "runs/search",
        {
            "experiment_ids": [experiment_id],
            "filter": f"tags.`{RUN_TAG}` = '{run_id}'",
            "max_results": 1,
        },
    ).get("runs", [])
    return str(found[0]["info"]["run_id"]) if found else ""


def experiment_id(api: MlflowApi, name: str) -> str:
    """The id of the experiment ``name``, created when it does not exist."""
    try:
        found = api.call("GET", "experiments/get-by-name", query={"experiment_name": name})
        return str(found["experiment"]["experiment_id"])
    except MlflowError as exc:
        if exc.code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        return str(api.call("POST", "experiments/create", {"name": name})["experiment_id"])
    except MlflowError as exc:  # made by another run meanwhile
        if exc.code != "RESOURCE_ALREADY_EXISTS":
            raise
        found = api.call("GET", "experiments/get-by-name", query={"experiment_name": name})
        return str(found["experiment"]["experiment_id"])


def log_run(
    api: MlflowApi,
    experiment: str,
    run_id: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    model: bytes | None = None,
    finish: bool = False,
) -> str:
    """Log to the MLflow run tagged ``mlops.run_id=run_id`` (made if missing); return its id.

    Every step of an executor may call it with what it knows (training: the parameters;
    evaluation: the metrics and the model): they meet in one MLflow run. Only numbers are
    logged as metrics; ``model`` (a packed model) goes under :data:`MODEL_ARTIFACT`; ``finish``
    marks the run FINISHED.
    """
    exp = experiment_id(api, experiment)
    run = _find_run(api, exp, run_id)
    if not run:
        created = api.call(
            "POST",
            "runs/create",
            {
                "experiment_id": exp,
                "run_name": run_id,
                "start_time": int(time.time() * 1000),
                "tags": _tags({RUN_TAG: run_id}),
            },
        )
        run = str(created["run"]["info"]["run_id"])
    now = int(time.time() * 1000)
    numbers = {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    batch_params = [{"key": k, "value": str(v)[:6000]} for k, v in (params or {}).items()]
    batch_metrics = [
        {"key": k, "value": v, "timestamp": now, "step": 0} for k, v in numbers.items()
    ]
    batch_tags = _tags({k: str(v)[:5000] for k, v in (tags or {}).items()})
    for start in range(0, max(len(batch_params), len(batch_metrics), len(batch_tags)) or 1, 100):
        api.call(
            "POST",
            "runs/log-batch",
            {
                "run_id": run,
                "params": batch_params[start : start + 100],
                "metrics": batch_metrics[start : start + 100],
                "tags": batch_tags[start : start + 100],
            },
        )
    if model is not None:
        info = api.call("GET", "runs/get", query={"run_id": run})["run"]["info"]
        api.upload(str(info["artifact_uri"]), MODEL_ARTIFACT, model)
    if finish:
        end = int(time.time() * 1000)
        api.call("POST", "runs/update", {"run_id": run, "status": "FINISHED", "end_time": end})
    return run


@dataclass(frozen=True)
class MlflowTracker:
    """Experiment tracking: a run record's parameters, metrics, lineage and model, to MLflow.

    The ``tracker`` the local executor hands :func:`mlops.pipelines.steps.evaluate_step`
    (its failure is logged, never fails the run).

    Attributes:
        api: the tracking server's REST API.
        experiment: the experiment the runs go to.
        lake: where the record's model artifact is read from (None: the model is not logged).
    """

    api: MlflowApi
    experiment: str
    lake: ObjectStore | None = None

    def __call__(self, record: RunRecord) -> str:
        """Log the run; return its MLflow run id."""
        tags = {
            f"{TAG}dataset_sha256": record.dataset_sha256,
            f"{TAG}contract_sha256": record.contract_sha256,
            f"{TAG}code_sha256": record.code_sha256,
            f"{TAG}code_version": record.code_version,
            f"{TAG}framework": record.framework,
            f"{TAG}artifact_uri": record.artifact_uri,
            f"{TAG}primary_metric": record.primary_metric,
            f"{TAG}gate": "passed" if record.gate.get("passed", True) else "failed",
        }
        model = self.lake.read_uri(record.artifact_uri) if self.lake is not None else None
        return log_run(
            self.api,
            self.experiment,
            record.run_id,
            params=record.params,
            metrics=record.metrics,
            tags=tags,
            model=model,
            finish=True,
        )
