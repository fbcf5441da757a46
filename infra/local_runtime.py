"""The SageMaker runtime API on the embedded endpoint: ``InvokeEndpoint`` reaches the model.

moto answers ``POST /endpoints/<name>/invocations`` with a canned ``b'body'``. Local mode puts
:class:`RuntimeGateway`, a WSGI middleware, in front of moto's application: an invocation of an
endpoint that ``mlops deploy`` recorded in the project's deployment registry
(``.mlops/deployments.json``) goes to that endpoint's model servers on loopback; every other
request goes to moto as before. It follows SageMaker's contract as documented for
``InvokeEndpoint`` and as botocore's ``sagemaker-runtime`` model shapes it:

- production variants are chosen by weight; ``TargetVariant`` picks one by name;
- a shadow variant gets a copy of every request, off the request path; its answer is dropped;
- during a blue/green update (``UpdateEndpoint``) an entry's ``canary`` fleet takes its share of
  the traffic; per fleet the gateway counts invocations, the model's 5XX errors and its latency,
  which ``mlops deploy`` reads (``GET /_mlops/runtime/metrics/<endpoint>``) to roll the update
  forward or back, as the stack's rollback alarms would;
- ``InferenceId`` and ``CustomAttributes`` go to the model server in SageMaker's headers; the
  answer names the variant in ``x-Amzn-Invoked-Production-Variant``;
- errors have SageMaker's shapes, so boto3 raises what it raises against AWS: ``ValidationError``
  (400) for an unknown endpoint or variant; ``ModelError`` (424) with ``OriginalStatusCode``,
  ``OriginalMessage`` and ``LogStreamArn`` for a 4xx/5xx from the model, and for a model that
  does not answer within 60 s; a body over 6 MB (6,291,456 bytes) is refused before it is read
  with the 413 AWS answers (``HTTP content length exceeded 6291456 bytes.``, which botocore
  raises as a ``ClientError`` with code ``413``).

moto's ``DescribeEndpoint`` is given AWS's shape on the way out (:func:`aws_described_endpoint`):
clients that validate answers against the API's model (sagemaker-core's ``Endpoint.get``) refuse
the ``DataCaptureConfig`` moto echoes.

The registry is untrusted input (a project may be cloned with it, or edited): it is read with a
size bound, without following a link, and only loopback ``http://host:port`` server URLs are
used; anything else makes that entry unusable, never a request to another machine.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import random
import re
import socket
import stat
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlops.infra.local_endpoint import is_loopback

REGISTRY = Path(".mlops") / "deployments.json"
MAX_BODY = 6 * 1024 * 1024  # InvokeEndpoint's Body limit (botocore: max 6291456)
TIMEOUT_S = 60.0  # a model container must answer within 60 s
ACCOUNT = "123456789012"  # moto's account
REGISTRY_LIMIT = 1 << 20
INVOKE_PATH = re.compile(r"^/endpoints/([^/]+)/invocations\Z")
DESCRIBE_ENDPOINT = "SageMaker.DescribeEndpoint"  # moto's JSON protocol target
LIST_ENDPOINTS = "SageMaker.ListEndpoints"
METRICS_PATH = re.compile(r"^/_mlops/runtime/metrics/([^/]+)\Z")
CANARY_ID = re.compile(r"^[a-zA-Z0-9-]{1,64}\Z")
LIVE = "live"  # the fleet key of the endpoint's serving (blue) fleet in the metrics
LATENCY_SAMPLES = 4096  # the latest latencies kept per fleet, for its p99
METRIC_FLEETS = 64  # fleets whose figures are kept (the oldest are forgotten)
NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*\Z")  # endpoint and variant names
# Copies waiting for a slow shadow are bounded by their bytes: beyond this they are dropped
# (and counted, as the shadow fleet's ``dropped``), never held without limit.
SHADOW_PENDING_BYTES = 64 * 1024 * 1024

_log = logging.getLogger(__name__)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Any]
# Request headers SageMaker passes on to the container (it strips the others).
FORWARDED = {
    "CONTENT_TYPE": "Content-Type",
    "HTTP_ACCEPT": "Accept",
    "HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID": "X-Amzn-SageMaker-Inference-Id",
    "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES": "X-Amzn-SageMaker-Custom-Attributes",
}


class RegistryError(ValueError):
    """The deployment registry cannot be used.

    Args:
        path: the registry file.
        reason: what is wrong with it.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Variant:
    """One variant of a deployed endpoint, as the gateway routes to it.

    Attributes:
        name: the variant's name (``VariantName``).
        weight: its share of production traffic (``InitialVariantWeight``); ignored for a shadow.
        servers: its model servers, as ``(host, port)`` on loopback.
        shadow: a shadow variant: gets a copy of each request, never answers.
    """

    name: str
    weight: float
    servers: tuple[tuple[str, int], ...]
    shadow: bool = False


@dataclass(frozen=True)
class Deployment:
    """A deployed endpoint: its production variants and its shadows.

    Attributes:
        endpoint: the endpoint's name.
        variants: the serving (blue) fleet's variants.
        canary: during a blue/green update, the new (green) fleet's variants.
        canary_share: the share of requests the green fleet takes, in [0, 1].
        canary_id: names the update in the gateway's metrics.
        retiring: a blue/green update's old (blue) servers still wait out the stack's
            termination wait (``terminationWaitMinutes``); they take no traffic.
    """

    endpoint: str
    variants: tuple[Variant, ...]
    canary: tuple[Variant, ...] = ()
    canary_share: float = 0.0
    canary_id: str = ""
    retiring: bool = False

    @property
    def updating(self) -> bool:
        """Whether an ``UpdateEndpoint`` is in progress: ``DescribeEndpoint`` says ``Updating``."""
        return bool(self.canary) or self.retiring

    @property
    def production(self) -> tuple[Variant, ...]:
        """The variants that answer."""
        return tuple(v for v in self.variants if not v.shadow)

    @property
    def shadows(self) -> tuple[Variant, ...]:
        """The variants that get copies."""
        return tuple(v for v in self.variants if v.shadow)


def registry_file(project: Path) -> Path:
    """Where ``mlops deploy`` records a project's deployed endpoints."""
    return project / REGISTRY


def server_address(url: object) -> tuple[str, int] | None:
    """``(host, port)`` of a loopback ``http://host:port`` URL; None for anything else."""
    if not isinstance(url, str) or not is_loopback(url):
        return None
    parts = urlparse(url)
    if parts.scheme != "http" or parts.port is None or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.hostname is None:
        return None
    return parts.hostname, parts.port


def parse_registry(values: object) -> dict[str, Deployment]:
    """The endpoints a registry document describes (pure; exported for testing).

    Entries that are not well formed are left out, so an invocation of them is answered as for
    an unknown endpoint; a server URL that is not a loopback ``http://host:port`` is dropped.
    """
    endpoints = values.get("endpoints") if isinstance(values, dict) else None
    if not isinstance(endpoints, dict):
        return {}
    found = {}
    for name, entry in endpoints.items():
        variants = entry.get("variants") if isinstance(entry, dict) else None
        if not (isinstance(name, str) and NAME.match(name) and isinstance(variants, list)):
            continue
        parsed = [_variant(v) for v in variants]
        if parsed and all(v is not None for v in parsed):
            fleet, share, update = _canary(entry.get("canary"))
            retiring = entry.get("retiring")
            found[name] = Deployment(
                name,
                tuple(v for v in parsed if v is not None),
                fleet,
                share,
                update,
                retiring=isinstance(retiring, list) and bool(retiring),
            )
    return found


def _canary(values: object) -> tuple[tuple[Variant, ...], float, str]:
    """A blue/green update's green fleet, share and id; a malformed one is no update."""
    if not isinstance(values, dict):
        return (), 0.0, ""
    share, update, variants = values.get("share"), values.get("id"), values.get("variants")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        return (), 0.0, ""
    if not (isinstance(update, str) and CANARY_ID.match(update) and isinstance(variants, list)):
        return (), 0.0, ""
    parsed = [_variant(v) for v in variants]
    if not parsed or any(v is None for v in parsed):
        return (), 0.0, ""
    return tuple(v for v in parsed if v is not None), float(share), update


def _variant(values: object) -> Variant | None:
    if not isinstance(values, dict):
        return None
    name, weight, shadow = values.get("name"), values.get("weight", 1.0), values.get("shadow")
    urls = values.get("urls")
    if not (isinstance(name, str) and NAME.match(name) and len(name) <= 63):
        return None
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
        return None
    if not isinstance(urls, list) or not isinstance(shadow, bool | None):
        return None
    servers = tuple(a for a in (server_address(u) for u in urls) if a is not None)
    return Variant(name, float(weight), servers, bool(shadow))


def read_registry(path: Path) -> dict[str, Any]:
    """The registry document at ``path`` (empty when there is none).

    Raises:
        RegistryError: it is not a regular file of this user, is too large, or is not JSON.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RegistryError(path, f"cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            raise RegistryError(path, "is not a regular file of this user")
        text = handle.read(REGISTRY_LIMIT + 1)
    if len(text) > REGISTRY_LIMIT:
        raise RegistryError(path, f"is over {REGISTRY_LIMIT} bytes")
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise RegistryError(path, f"is not JSON ({exc})") from None
    except RecursionError:  # a small file can nest deeper than the parser goes
        raise RegistryError(path, "nests too deeply to be a registry") from None
    if not isinstance(values, dict):
        raise RegistryError(path, "must hold a JSON object")
    return values


def write_registry(path: Path, values: Mapping[str, Any]) -> None:
    """Write the registry document atomically, readable only by this user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=1, sort_keys=True)
    tmp.replace(path)


class _Registry:
    """The registry file, re-read only when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._deployments: dict[str, Deployment] = {}
        self._lock = threading.Lock()

    def deployments(self) -> dict[str, Deployment]:
        if self.path is None:
            return {}
        try:
            info = self.path.stat()
            seen = (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            seen = None
        with self._lock:
            if seen != self._seen:
                try:
                    self._deployments = parse_registry(read_registry(self.path)) if seen else {}
                except RegistryError as exc:
                    _log.warning("no endpoint is routed: %s", exc)
                    self._deployments = {}
                self._seen = seen
            return self._deployments


class _Pool:
    """Keep-alive connections to the model servers, reused across requests."""

    def __init__(self, per_server: int = 16) -> None:
        self._idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self.per_server = per_server

    def post(
        self, server: tuple[str, int], body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int, dict[str, str], bytes]:
        """POST ``/invocations``; a reused connection the server has closed is retried once.

        Raises:
            TimeoutError: no answer within ``timeout``.
            OSError: the server cannot be reached.
        """
        for attempt in (0, 1):
            conn, reused = self._take(server, timeout)
            try:
                conn.request("POST", "/invocations", body, headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            answer = {k.lower(): v for k, v in response.getheaders()}
            if response.will_close:
                conn.close()
            else:
                self._give(server, conn)
            return response.status, answer, data
        raise ConnectionResetError("the model server closed the connection")  # not reached

    def _take(self, server: tuple[str, int], timeout: float) -> tuple[Any, bool]:
        with self._lock:
            idle = self._idle.get(server)
            conn = idle.pop() if idle else None
        if conn is None:
            conn = http.client.HTTPConnection(*server, timeout=timeout)
            conn.connect()
            if conn.sock is not None:  # small answers are not held back by Nagle's algorithm
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn, False
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn, True

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    def _give(self, server: tuple[str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(server, [])
            if len(idle) < self.per_server:
                idle.append(conn)
                return
        conn.close()


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class FleetMetrics:
    """Per endpoint and fleet: invocations, the model's 4XX and 5XX errors, its latency.

    What SageMaker reports to CloudWatch per variant (``Invocations``,
    ``Invocation5XXErrors``, ``Invocation4XXErrors``, ``ModelLatency``), kept in memory for the
    fleets of the latest updates, so a blue/green update can be watched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fleets: dict[tuple[str, str], dict[str, Any]] = {}

    def record(
        self,
        endpoint: str,
        fleet: str,
        status: int | None,
        latency_ms: float,
        dropped: bool = False,
        variant: str = "",
    ) -> None:
        """Count one invocation; ``status`` is the model's (None: it did not answer).

        ``dropped``: a shadow's copy that was never sent (too much was waiting for it).
        ``variant``: the variant that got it, counted in the fleet's ``variants`` (what the
        ``SageMakerVariantInvocationsPerInstance`` target tracking of local mode scales on).
        """
        with self._lock:
            figures = self._fleets.get((endpoint, fleet))
            if figures is None:
                if len(self._fleets) >= METRIC_FLEETS:
                    del self._fleets[next(iter(self._fleets))]
                figures = {"invocations": 0, "errors_5xx": 0, "errors_4xx": 0, "dropped": 0}
                figures["latency"] = deque(maxlen=LATENCY_SAMPLES)
                figures["variants"] = {}
                self._fleets[(endpoint, fleet)] = figures
            if dropped:
                figures["dropped"] += 1
                return
            figures["invocations"] += 1
            if variant:
                counts = figures["variants"]
                counts[variant] = counts.get(variant, 0) + 1
            if status is None or status >= 500:
                figures["errors_5xx"] += 1
            elif status >= 400:
                figures["errors_4xx"] += 1
            if status is not None:
                figures["latency"].append(latency_ms)

    def of(self, endpoint: str) -> dict[str, dict[str, Any]]:
        """The endpoint's figures per fleet: counts and ``p99_ms`` (None before any answer)."""
        with self._lock:
            fleets = {
                f: {**v, "variants": dict(v["variants"]), "latency": list(v["latency"])}
                for (e, f), v in self._fleets.items()
                if e == endpoint
            }
        shown = {}
        for fleet, figures in fleets.items():
            latency = sorted(figures.pop("latency"))
            index = max(0, -(-len(latency) * 99 // 100) - 1)  # nearest rank
            figures["p99_ms"] = round(latency[index], 3) if latency else None
            shown[fleet] = figures
        return shown


class RuntimeGateway:
    """WSGI middleware: ``InvokeEndpoint`` of a deployed endpoint reaches its model servers.

    Args:
        app: moto's WSGI application, which answers everything else.
        registry: the deployment registry (None: no endpoint is deployed).
        timeout: seconds a model server has to answer.
        max_body: the largest request body accepted.
        account: the account id errors name.
        rng: the random source that chooses variants (seed it in tests).
    """

    def __init__(
        self,
        app: WsgiApp,
        registry: Path | None,
        *,
        timeout: float = TIMEOUT_S,
        max_body: int = MAX_BODY,
        account: str = ACCOUNT,
        rng: random.Random | None = None,
    ) -> None:
        self.app, self.timeout, self.max_body, self.account = app, timeout, max_body, account
        self.registry = _Registry(registry)
        self.rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.pool = _Pool()
        self.shadows = ThreadPoolExecutor(max_workers=4, thread_name_prefix="shadow")
        self._shadow_lock = threading.Lock()
        self._shadow_bytes = 0
        self.shadow_dropped = 0
        self.metrics = FleetMetrics()

    def close(self) -> None:
        """Let shadow copies in flight finish; close the connections to the model servers."""
        self.shadows.shutdown(wait=True, cancel_futures=True)
        self.pool.close()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer ``InvokeEndpoint``; hand everything else to moto."""
        path = str(environ.get("PATH_INFO", ""))
        metrics = METRICS_PATH.match(path)
        if environ.get("REQUEST_METHOD") == "GET" and metrics is not None:
            answer = _json(200, self.metrics.of(metrics.group(1)), [])
            start_response("200 OK", [*answer.headers, ("Content-Length", str(len(answer.body)))])
            return [answer.body]
        if environ.get("HTTP_X_AMZ_TARGET") in (DESCRIBE_ENDPOINT, LIST_ENDPOINTS):
            return self._amended(environ, start_response)
        match = INVOKE_PATH.match(path)
        if environ.get("REQUEST_METHOD") != "POST" or match is None or not _runtime(environ):
            passed: Iterable[bytes] = self.app(environ, start_response)
            return passed
        answer = self.invoke(match.group(1), environ)
        start_response(
            f"{answer.status} {http.client.responses.get(answer.status, '')}",
            [*answer.headers, ("Content-Length", str(len(answer.body)))],
        )
        return [answer.body]

    def _amended(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """The answer to ``DescribeEndpoint`` or ``ListEndpoints``: moto's, amended to AWS's.

        A described endpoint takes AWS's shape (:func:`aws_described_endpoint`). Both say
        ``Updating`` while local mode updates an endpoint: moto has no ``UpdateEndpoint``
        (``mlops deploy`` re-creates the endpoint), so its endpoints are always ``InService``;
        during a blue/green update the registry says otherwise, and SageMaker says ``Updating``
        until the old fleet is terminated.
        """
        status, headers, body = self._moto(environ)
        answer = _json_object(body) if status.startswith("200") else None
        if answer is not None:
            if environ.get("HTTP_X_AMZ_TARGET") == DESCRIBE_ENDPOINT:
                capture = None
                if answer.get("DataCaptureConfig"):  # its sampling share is in the config
                    config = {"EndpointConfigName": answer.get("EndpointConfigName", "")}
                    asked = self._moto(
                        _json_call(environ, "SageMaker.DescribeEndpointConfig", config)
                    )
                    capture = (_json_object(asked[2]) or {}).get("DataCaptureConfig")
                answer = aws_described_endpoint(answer, capture)
                endpoints = [answer]
            else:
                listed = answer.get("Endpoints")
                endpoints = (
                    [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
                )
            self._updating(endpoints)
            body = json.dumps(answer).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _updating(self, endpoints: list[dict[str, Any]]) -> None:
        """Say ``Updating`` of each ``InService`` endpoint whose deployment is being updated."""
        deployments = self.registry.deployments()
        for endpoint in endpoints:
            name = endpoint.get("EndpointName")
            deployment = deployments.get(name) if isinstance(name, str) else None
            if (
                endpoint.get("EndpointStatus") == "InService"
                and deployment is not None
                and deployment.updating
            ):
                endpoint["EndpointStatus"] = "Updating"

    def _moto(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        """One request answered by moto: its status line, headers and body."""
        answered: list[Any] = []
        written: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            answered[:] = [status, headers]
            return written.append

        result = self.app(environ, capture)
        try:
            body = b"".join([*written, *result])
        finally:
            if hasattr(result, "close"):
                result.close()
        return answered[0], answered[1], body

    def invoke(self, endpoint: str, environ: Environ) -> _Answer:
        """One ``InvokeEndpoint`` call, answered as SageMaker answers it."""
        region = _region(environ)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body:
            if length <= 4 * self.max_body:  # read and dropped, so the client reads the answer
                _discard(environ["wsgi.input"], length)
            message = f"HTTP content length exceeded {self.max_body} bytes."
            return _json(413, {"message": message}, [("Connection", "close")])
        body = environ["wsgi.input"].read(length) if length else b""
        deployment = self.registry.deployments().get(endpoint)
        if deployment is None:
            return _error(
                400, "ValidationError", f"Endpoint {endpoint} of account {self.account} not found."
            )
        target = str(environ.get("HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT", ""))
        fleet, variant = self._route(deployment, target)
        if variant is None:
            names = ", ".join(sorted({v.name for v in self._fleets(deployment) if not v.shadow}))
            return _error(
                400,
                "ValidationError",
                f"Invalid TargetVariant {target!r}: endpoint {endpoint} has no production"
                f" variant of that name (its variants: {names}).",
            )
        headers = {v: str(environ[k]) for k, v in FORWARDED.items() if environ.get(k)}
        for shadow in deployment.shadows:
            self._copy(endpoint, shadow, body, headers)
        return self._forward(endpoint, region, variant, body, headers, fleet)

    @staticmethod
    def _fleets(deployment: Deployment) -> tuple[Variant, ...]:
        return deployment.variants + deployment.canary

    def _route(self, deployment: Deployment, target: str) -> tuple[str, Variant | None]:
        """The fleet (``live`` or the update's id) and the variant that answer a request.

        During a blue/green update the green fleet takes its share of requests; a
        ``TargetVariant`` only one fleet has is always sent to that fleet.
        """
        blue = deployment.production
        green = tuple(v for v in deployment.canary if not v.shadow)
        use_green = False
        if green:
            with self._rng_lock:
                use_green = self.rng.random() < deployment.canary_share
        if target and green:
            in_blue = any(v.name == target for v in blue)
            in_green = any(v.name == target for v in green)
            use_green = in_green and (use_green or not in_blue)
        if use_green:
            return deployment.canary_id, self._choose(green, target)
        return LIVE, self._choose(blue, target)

    def _choose(self, production: tuple[Variant, ...], target: str) -> Variant | None:
        if target:
            return next((v for v in production if v.name == target), None)
        if not production:
            return None
        weights = [v.weight for v in production]
        with self._rng_lock:
            if sum(weights) <= 0:
                return self.rng.choice(production)
            return self.rng.choices(production, weights)[0]

    def _server(self, variant: Variant) -> tuple[str, int] | None:
        if not variant.servers:
            return None
        with self._rng_lock:
            return self.rng.choice(variant.servers)

    def _post(
        self, variant: Variant, body: bytes, headers: dict[str, str], tried: list[tuple[str, int]]
    ) -> tuple[int, dict[str, str], bytes]:
        """POST to one of the variant's servers; one that refuses the connection is skipped.

        A refused connection never reached a model (a server that exited, or one being
        replaced before the registry says so), so the request goes to the variant's next
        server, as SageMaker's load balancer only routes to healthy instances. ``tried`` gets
        the servers tried, in order.

        Raises:
            TimeoutError: the chosen server did not answer within the timeout.
            OSError: no server of the variant could be reached.
        """
        with self._rng_lock:
            servers = self.rng.sample(variant.servers, len(variant.servers))
        for index, server in enumerate(servers):
            tried.append(server)
            try:
                return self.pool.post(server, body, headers, self.timeout)
            except ConnectionRefusedError:
                if index == len(servers) - 1:
                    raise
        raise ConnectionRefusedError("the variant has no model server")  # not reached

    def _forward(
        self,
        endpoint: str,
        region: str,
        variant: Variant,
        body: bytes,
        headers: dict[str, str],
        fleet: str = LIVE,
    ) -> _Answer:
        if not variant.servers:
            return _error(
                503,
                "ServiceUnavailable",
                f"Variant {variant.name} of endpoint {endpoint} has no model server on this"
                " machine: run `mlops deploy` again.",
            )
        started = time.perf_counter()
        tried: list[tuple[str, int]] = []
        try:
            status, answer, data = self._post(variant, body, headers, tried)
        except TimeoutError:
            self.metrics.record(endpoint, fleet, None, 0.0, variant=variant.name)
            return self._model_error(
                endpoint,
                region,
                "Your invocation timed out while waiting for a response from container primary."
                " Review the latency metrics for each container in Amazon CloudWatch, resolve"
                " the issue, and try again.",
                {},
            )
        except OSError as exc:
            self.metrics.record(endpoint, fleet, None, 0.0, variant=variant.name)
            server = tried[-1]
            where = f"http://{server[0]}:{server[1]}"
            if isinstance(exc, ConnectionRefusedError) and len(tried) > 1:
                where = "any of its servers"
            return _error(
                503,
                "ServiceUnavailable",
                f"The model server of variant {variant.name} at {where} does not answer:"
                " run `mlops deploy` again.",
            )
        latency = (time.perf_counter() - started) * 1000
        self.metrics.record(endpoint, fleet, status, latency, variant=variant.name)
        if status >= 400:
            original = data.decode("utf-8", errors="replace")
            kind = "client" if status < 500 else "server"
            return self._model_error(
                endpoint,
                region,
                f"Received {kind} error ({status}) from primary with message"
                f' "{original}". See {_logs_url(region, endpoint)} in account {self.account}'
                " for more information.",
                {"OriginalStatusCode": status, "OriginalMessage": original},
            )
        out = [
            ("Content-Type", answer.get("content-type", "application/octet-stream")),
            ("x-Amzn-Invoked-Production-Variant", variant.name),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ]
        attributes = answer.get("x-amzn-sagemaker-custom-attributes")
        if attributes:
            out.append(("X-Amzn-SageMaker-Custom-Attributes", attributes))
        return _Answer(200, out, data)

    def _model_error(
        self, endpoint: str, region: str, message: str, fields: dict[str, Any]
    ) -> _Answer:
        stream = (
            f"arn:aws:logs:{region}:{self.account}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
        )
        return _error(424, "ModelError", message, {**fields, "LogStreamArn": stream})

    def _copy(self, endpoint: str, shadow: Variant, body: bytes, headers: dict[str, str]) -> None:
        """Send a copy to ``shadow`` off the request path; its answer is dropped.

        Its figures are kept as the fleet ``shadow-<variant>`` (SageMaker reports a shadow
        variant's own metrics too).
        """
        server = self._server(shadow)
        if server is None:
            return
        cost = len(body) + 1024  # its headers and bookkeeping too
        with self._shadow_lock:
            if self._shadow_bytes + cost > SHADOW_PENDING_BYTES:
                self.shadow_dropped += 1
                self.metrics.record(
                    endpoint, f"shadow-{shadow.name}", None, 0.0, dropped=True, variant=shadow.name
                )
                return
            self._shadow_bytes += cost

        def send() -> None:
            started = time.perf_counter()
            status: int | None = None
            try:
                status = self.pool.post(server, body, headers, self.timeout)[0]
            except OSError as exc:
                _log.warning("shadow variant %s did not answer: %s", shadow.name, exc)
            finally:
                with self._shadow_lock:
                    self._shadow_bytes -= cost
                latency = (time.perf_counter() - started) * 1000
                self.metrics.record(
                    endpoint, f"shadow-{shadow.name}", status, latency, variant=shadow.name
                )

        self.shadows.submit(send)


def aws_described_endpoint(
    described: dict[str, Any], capture: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``DescribeEndpoint`` answer of moto, in AWS's shape.

    moto answers ``DataCaptureConfig: {}`` for an endpoint that captures nothing, where AWS
    leaves the member out; for one that captures, it keeps ``EnableCapture``,
    ``DestinationS3Uri`` and ``KmsKeyId`` of what ``CreateEndpointConfig`` took, where AWS
    answers a ``DataCaptureConfigSummary``, whose ``CaptureStatus`` and
    ``CurrentSamplingPercentage`` are required too. The sampling share is the endpoint config's
    (``capture``: its ``DataCaptureConfig`` as ``DescribeEndpointConfig`` answers it).

    Args:
        described: moto's ``DescribeEndpoint`` answer.
        capture: the endpoint config's ``DataCaptureConfig`` (None: unknown).

    Returns:
        The answer, with ``DataCaptureConfig`` a summary or left out.
    """
    answer = dict(described)
    given = answer.pop("DataCaptureConfig", None)
    if not isinstance(given, dict) or not given:
        return answer
    if "CaptureStatus" in given and "CurrentSamplingPercentage" in given:  # AWS's shape already
        answer["DataCaptureConfig"] = given
        return answer
    given = {**(capture or {}), **given}
    enabled = bool(given.get("EnableCapture", False))
    summary: dict[str, Any] = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": given.get("InitialSamplingPercentage", 0),
        "DestinationS3Uri": given.get("DestinationS3Uri", ""),
    }
    if given.get("KmsKeyId"):
        summary["KmsKeyId"] = given["KmsKeyId"]
    answer["DataCaptureConfig"] = summary
    return answer


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_call(environ: Environ, target: str, payload: dict[str, Any]) -> Environ:
    """A JSON-protocol request like ``environ`` (same caller and region) for another action."""
    body = json.dumps(payload).encode()
    return {
        **environ,
        "HTTP_X_AMZ_TARGET": target,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }


def _discard(stream: Any, length: int, chunk: int = 1 << 16) -> None:
    """Read ``length`` bytes of a request body and drop them."""
    while length > 0:
        got = stream.read(min(chunk, length))
        if not got:
            return
        length -= len(got)


def _runtime(environ: Environ) -> bool:
    """Whether a request is for the runtime API (signed for ``sagemaker``, or unsigned)."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request", auth)
    return not auth or (scope is not None and scope.group(2) == "sagemaker")


def _region(environ: Environ) -> str:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    scope = re.search(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/", auth)
    return scope.group(1) if scope else "us-east-1"


def _logs_url(region: str, endpoint: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{endpoint}"
    )


def _json(status: int, payload: dict[str, Any], headers: list[tuple[str, str]]) -> _Answer:
    return _Answer(
        status,
        [("Content-Type", "application/json"), ("x-amzn-RequestId", str(uuid.uuid4())), *headers],
        json.dumps(payload).encode(),
    )


def _error(status: int, code: str, message: str, fields: dict[str, Any] | None = None) -> _Answer:
    """An error in the runtime API's rest-json shape (``x-amzn-ErrorType`` names the code)."""
    return _json(status, {"message": message, **(fields or {})}, [("x-amzn-ErrorType", code)])


def _keep_alive_handler() -> type:
    """Moto's request handler, keeping ``InvokeEndpoint`` connections open (HTTP/1.1).

    Werkzeug's development server closes every connection after one answer, so each
    ``invoke_endpoint`` of a client would pay a new TCP connection (and the next request a
    client pipelines on it is drained and lost). An invocation with a ``Content-Length`` body is
    answered here instead, framed by its length, and the connection stays open for the
    client's next request; every other request is werkzeug's as before.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveHandler(MotoRequestHandler):
        timeout = 75  # an idle keep-alive connection is closed after this (seconds)

        def setup(self) -> None:
            super().setup()  # headers and body go out in two writes: no Nagle stall between
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def run_wsgi(self) -> None:
            framed = "Transfer-Encoding" not in self.headers and "Expect" not in self.headers
            if not (self.command == "POST" and framed and INVOKE_PATH.match(self.path)):
                super().run_wsgi()
                return
            environ = self.make_environ()
            answered: list[Any] = []
            written: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
                answered[:] = [status, headers]
                return written.append

            try:
                chunks = list(self.server.app(environ, start_response))
                body = b"".join(written + chunks)
                status, headers = answered
            except Exception:
                _log.exception("InvokeEndpoint failed in the gateway")
                self.close_connection = True
                status, headers = "500 Internal Server Error", [("Connection", "close")]
                body = b'{"message": "the runtime gateway failed; see its log"}'

            code, _, reason = status.partition(" ")
            self.send_response(int(code), reason)
            for key, value in headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)  # `Connection: close` ends the connection
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_request(self, *_: Any) -> None:
            pass  # one line per invocation would flood the endpoint's log

    return KeepAliveHandler


class EmbeddedServer:
    """moto on loopback with the runtime gateway in front: the embedded AWS endpoint.

    Mirrors moto's ``ThreadedMotoServer`` (``start``, ``get_host_and_port``, ``stop``).
    """

    def __init__(self, host: str, port: int, registry: Path | None, **gateway: Any) -> None:
        self.host, self.port, self.registry, self.options = host, port, registry, gateway
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.gateway: RuntimeGateway | None = None

    def start(self) -> EmbeddedServer:
        """Serve on a background thread; returns once it listens."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        self.gateway = RuntimeGateway(
            DomainDispatcherApplication(create_backend_app), self.registry, **self.options
        )
        self._server = make_server(
            self.host, self.port, self.gateway, True, request_handler=_keep_alive_handler()
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def get_host_and_port(self) -> tuple[str, int]:
        """Where it listens."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Its base URL."""
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        if self._server is not None:
            self._server.server_close()
        if self.gateway is not None:
            self.gateway.close()


def wait_healthy(url: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """Whether ``url``'s ``GET /ping`` answers 200 within ``timeout`` (loopback only)."""
    server = server_address(url)
    if server is None:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        conn = http.client.HTTPConnection(*server, timeout=2.0)
        try:
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (it may be taken before it is used: retry then)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
