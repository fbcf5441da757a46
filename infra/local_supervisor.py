"""Local mode's autoscaling and instance replacement: one supervisor process per endpoint.

``mlops deploy`` starts it detached (``python -m mlops.infra.local_supervisor --project P
--endpoint E``) and writes its :class:`Spec` as JSON on its stdin: the variants, the artifact
directory and environment of each variant's model servers, the servers the deploy started, the
scaling limits and the old servers a blue/green update retires. Nothing it runs comes from the
deployment registry, which is untrusted input: the registry only receives what the supervisor
publishes (each variant's URLs, for the runtime gateway) and every process it signals is one it
started, or one its spec named and :func:`server_ours` verifies.

What it does every ``poll_s``, as SageMaker does for an endpoint:

- **target tracking** (``SageMakerVariantInvocationsPerInstance``): from the runtime gateway's
  per-variant invocation counts (``GET /_mlops/runtime/metrics/<endpoint>``) it keeps the
  invocations per minute over a sliding ``window_s`` and sets each variant's process count
  between its floor (``endpointInstanceCount``) and ceiling (``autoscalingMax``) with
  :func:`desired`: out at once to ``ceil(rate / target)``, in one process at a time, each after
  its cooldown. A new server is added to the variant's URLs only once it answers ``/ping``; a
  server scaled in is taken out of the URLs first, drained, then stopped;
- **instance replacement**: a server that exited, or does not answer ``/ping``
  :data:`PING_FAILURES` times running, is taken out of the URLs, stopped (verified) and
  replaced;
- **termination wait**: the old (blue) servers of a blue/green update are stopped once the
  stack's ``terminationWaitMinutes`` (or ``mlops deploy --termination-wait-seconds``) is over,
  and taken off the registry's ``retiring`` list (the endpoint is ``Updating`` until then).

On SIGTERM (``mlops local down``, the next ``mlops deploy``) it stops the servers it started
that are not routed yet and exits; the routed ones stay, recorded in the registry, for whoever
stopped it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.process import file_lock, private_append, start_time, verified
from mlops.infra.local_runtime import (
    LIVE,
    NAME,
    RegistryError,
    free_port,
    read_registry,
    registry_file,
    server_address,
    wait_healthy,
    write_registry,
)

SERVER_MODULE = "mlops.pipelines.container"
SUPERVISOR_MODULE = "mlops.infra.local_supervisor"
DRAIN_S = 1.0  # after the gateway is re-pointed, requests already routed finish before a stop
PING_TIMEOUT_S = 5.0
PING_FAILURES = 3  # consecutive failed pings before a running server is replaced
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
LOCK_TIMEOUT_S = 30.0
SPEC_LIMIT = 1 << 20
REGISTRY_LOCK = Path(".mlops") / "deployments.lock"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Scaling:
    """Target tracking on invocations per instance per minute, with SageMaker's cooldowns.

    Attributes:
        target: invocations per process per minute (``invocationsPerInstance``).
        window_s: the sliding window the invocation rate is measured over.
        out_cooldown_s: after a scale-out, seconds before the next one.
        in_cooldown_s: after any scaling, seconds before a scale-in.
    """

    target: float = 100.0
    window_s: float = 60.0
    out_cooldown_s: float = 30.0
    in_cooldown_s: float = 120.0

    @property
    def poll_s(self) -> float:
        """How often the supervisor looks: a few times per window, at most every 2 s."""
        return max(0.1, min(2.0, self.window_s / 4))


def desired(per_minute: float, current: int, target: float, floor: int, ceiling: int) -> int:
    """The process count target tracking asks for (pure; exported for testing).

    Out: enough processes that each gets at most ``target`` invocations a minute
    (``ceil(rate / target)``), at once, capped at ``ceiling``. In: one process at a time, and
    only when one fewer would still stay at or under the target (so it never flaps back out).
    Never under ``floor`` nor over ``ceiling``.
    """
    want = max(floor, min(ceiling, math.ceil(per_minute / target) if per_minute > 0 else 0))
    if want < current:
        return max(floor, min(ceiling, current - 1))
    return max(floor, min(ceiling, want))


class Rate:
    """Invocations per minute over a sliding window, from cumulative counts."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, count: int) -> None:
        """Record the cumulative count at ``now`` (a count that went down restarts the window)."""
        if self._samples and count < self._samples[-1][1]:
            self._samples.clear()
        self._samples.append((now, count))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def span(self) -> float:
        """Seconds the samples cover."""
        return self._samples[-1][0] - self._samples[0][0] if len(self._samples) > 1 else 0.0

    def per_minute(self) -> float | None:
        """Invocations per minute over the window; None before two samples."""
        span = self.span()
        if span <= 0:
            return None
        return (self._samples[-1][1] - self._samples[0][1]) * 60.0 / span


@dataclass
class Server:
    """A model server this supervisor manages: as recorded, and its process when a child."""

    url: str
    pid: int
    started: int
    log: str
    proc: subprocess.Popen[bytes] | None = None
    failures: int = 0

    def record(self) -> dict[str, Any]:
        """As the registry records it."""
        return {"url": self.url, "pid": self.pid, "started": self.started, "log": self.log}

    @classmethod
    def of(cls, values: object) -> Server | None:
        """From a spec's record; None unless well formed with a loopback URL."""
        if not isinstance(values, dict):
            return None
        url, pid, started, log = (values.get(k) for k in ("url", "pid", "started", "log"))
        if server_address(url) is None or not isinstance(log, str):
            return None
        if not (isinstance(pid, int) and isinstance(started, int) and pid > 0 and started > 0):
            return None
        return cls(str(url), pid, started, log)


@dataclass
class VariantSpec:
    """One variant's servers: how to start one, its limits and the servers it has now."""

    name: str
    root: Path
    env: dict[str, str]
    floor: int
    ceiling: int
    shadow: bool = False
    servers: list[Server] = field(default_factory=list)
    last_action: str = ""
    launched: int = 0


@dataclass
class Spec:
    """What a supervisor was started to do (from ``mlops deploy``, on its stdin)."""

    project: Path
    endpoint: str
    deployment: str
    aws_endpoint: str
    scaling: Scaling
    variants: list[VariantSpec]
    retiring: list[tuple[Server, float]] = field(default_factory=list)

    @classmethod
    def parse(cls, values: object, project: Path, endpoint: str) -> Spec:
        """Validate a spec document.

        Raises:
            ValueError: it is malformed.
        """
        if not isinstance(values, dict):
            raise ValueError("the spec must be a JSON object")
        scaling = _scaling(values.get("scaling"))
        variants = [_variant_spec(item) for item in values.get("variants") or []]
        if not variants:
            raise ValueError("the spec names no variant")
        deployment, aws_endpoint = values.get("deployment"), values.get("aws_endpoint")
        if not isinstance(deployment, str) or not deployment:
            raise ValueError("the spec names no deployment")
        if not isinstance(aws_endpoint, str) or server_address(aws_endpoint.rstrip("/")) is None:
            raise ValueError("the spec's AWS endpoint is not a loopback http://host:port")
        retiring = []
        for item in values.get("retiring") or []:
            server = Server.of(item)
            until = item.get("until") if isinstance(item, dict) else None
            if server is not None and isinstance(until, int | float):
                retiring.append((server, float(until)))
        return cls(
            project,
            endpoint,
            deployment,
            aws_endpoint.rstrip("/"),
            scaling,
            variants,
            retiring,
        )


def _scaling(values: object) -> Scaling:
    if not isinstance(values, dict):
        raise ValueError("the spec has no scaling")
    numbers = {}
    for key in ("target", "window_s", "out_cooldown_s", "in_cooldown_s"):
        value = values.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"the spec's scaling {key} must be a number >= 0")
        numbers[key] = float(value)
    if not (numbers["target"] > 0 and numbers["window_s"] > 0):
        raise ValueError("the spec's target and window must be over 0")
    return Scaling(**numbers)


def _variant_spec(item: object) -> VariantSpec:
    if not isinstance(item, dict):
        raise ValueError("a variant must be a JSON object")
    name, root, env = item.get("name"), item.get("root"), item.get("env")
    floor, ceiling = item.get("min"), item.get("max")
    if not (isinstance(name, str) and NAME.match(name) and isinstance(root, str)):
        raise ValueError("a variant needs a name and an artifact directory")
    if not (isinstance(env, dict) and all(isinstance(v, str) for v in env.values())):
        raise ValueError(f"variant {name}: env must map names to strings")
    if not (isinstance(floor, int) and isinstance(ceiling, int) and 1 <= floor <= ceiling):
        raise ValueError(f"variant {name}: needs 1 <= min <= max")
    servers = [Server.of(s) for s in item.get("servers") or []]
    return VariantSpec(
        name,
        Path(root),
        {str(k): v for k, v in env.items()},
        floor,
        ceiling,
        bool(item.get("shadow")),
        [s for s in servers if s is not None],
    )


def server_command(project: Path, endpoint: str, variant: str) -> list[str]:
    """A model server's command line: the image's entry point, naming project and variant.

    The trailing arguments are ignored by ``serve``; they name the project and the variant on
    the command line, which is what :func:`server_ours` verifies before a pid is signalled.
    """
    command = [sys.executable, "-m", SERVER_MODULE, "serve", "--project", str(project.resolve())]
    return [*command, "--endpoint", endpoint, "--variant", variant]


def launch_server(
    project: Path, endpoint: str, variant: str, root: Path, env: dict[str, str], index: int
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start one model server of ``variant`` over the artifact in ``root`` on a free port.

    Returns the process and its registry record (``url``, ``pid``, ``started``, ``log``); it
    is ready once its ``/ping`` answers.
    """
    port = free_port()
    environ = {**os.environ, **env, "SAGEMAKER_BIND_TO_PORT": str(port)}
    log = root / f"server-{index}.log"
    with private_append(log) as handle:
        proc = subprocess.Popen(  # our own module, fixed arguments
            server_command(project, endpoint, variant),
            cwd=project,
            env=environ,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    return proc, {"url": url, "pid": proc.pid, "started": start_time(proc.pid), "log": str(log)}


def server_ours(project: Path, server: dict[str, Any]) -> bool:
    """Whether the recorded server is still the process started for this project."""
    pid, started = server.get("pid"), server.get("started")
    if not (isinstance(pid, int) and isinstance(started, int)) or started <= 0:
        return False
    return verified(pid, started, exact=("--project", str(project.resolve())), module=SERVER_MODULE)


def supervisor_command(project: Path, endpoint: str) -> list[str]:
    """The supervisor's command line (what :func:`supervisor_ours` verifies)."""
    return [
        sys.executable,
        "-m",
        SUPERVISOR_MODULE,
        "--project",
        str(project.resolve()),
        "--endpoint",
        endpoint,
    ]


def supervisor_ours(project: Path, endpoint: str, record: object) -> bool:
    """Whether a registry's ``supervisor`` record names the supervisor started for it."""
    pid = record.get("pid") if isinstance(record, dict) else None
    started = record.get("started") if isinstance(record, dict) else None
    if not (isinstance(pid, int) and isinstance(started, int)) or started <= 0:
        return False
    exact = ("--project", str(project.resolve()), "--endpoint", endpoint)
    return verified(pid, started, exact=exact, module=SUPERVISOR_MODULE)


def find_processes(project: Path, module: str, *exact: str) -> list[tuple[int, int]]:
    """This project's processes of ``module``: ``(pid, start time)`` each.

    Found from the process table, not the registry (whose records may be edited or lost): a
    process of this user running ``<python> -m <module>`` with ``--project <the project's
    path>`` and each of ``exact`` among its arguments, as :func:`mlops.core.process.verified`
    checks.
    """
    args = ("--project", str(project.resolve()), *exact)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if verified(pid, 0, exact=args, module=module):
            started = start_time(pid)
            if started > 0:
                found.append((pid, started))
    return found


def find_supervisors(project: Path, endpoint: str | None = None) -> list[tuple[int, int]]:
    """The supervisors running for ``project`` (and ``endpoint``): ``(pid, start time)``."""
    exact = ("--endpoint", endpoint) if endpoint is not None else ("--endpoint",)
    return find_processes(project, SUPERVISOR_MODULE, *exact)


def find_servers(project: Path) -> list[tuple[int, int]]:
    """The model servers ``mlops deploy`` or a supervisor started for ``project``, running.

    (``mlops serve``'s server is another module's: it is not among them.)
    """
    return find_processes(project, SERVER_MODULE, "--endpoint", "--variant")


def stop_found(
    project: Path,
    module: str,
    found: list[tuple[int, int]],
    procs: list[subprocess.Popen[bytes]] | None = None,
) -> list[int]:
    """Stop processes :func:`find_processes` found, each verified again; their pids."""
    args = ("--project", str(project.resolve()))
    stopped = []
    for pid, started in found:

        def ours(pid: int = pid, started: int = started) -> bool:
            return verified(pid, started, exact=args, module=module)

        if stop_process(pid, ours, procs):
            stopped.append(pid)
    return stopped


def stop_supervisors(
    project: Path, endpoint: str | None = None, procs: list[subprocess.Popen[bytes]] | None = None
) -> list[int]:
    """Stop the supervisors :func:`find_supervisors` finds (each verified again); their pids."""
    return stop_found(project, SUPERVISOR_MODULE, find_supervisors(project, endpoint), procs)


def stop_process(
    pid: int,
    ours: Callable[[], bool],
    procs: list[subprocess.Popen[bytes]] | None = None,
    timeout: float = STOP_TIMEOUT_S,
) -> bool:
    """SIGTERM process group ``pid`` once ``ours()`` verifies it; wait until it is gone.

    ``procs``: the ``Popen`` objects this process holds; the one for ``pid`` is reaped.
    Returns whether it was signalled.
    """
    if not ours():
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and ours():
        try:
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                break
        except OSError:
            break
        time.sleep(0.05)
    for proc in [p for p in procs or [] if p.pid == pid]:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        procs.remove(proc)  # type: ignore[union-attr]
    return True


@contextmanager
def registry_lock(project: Path) -> Iterator[None]:
    """Hold the registry's lock for a read-modify-write (``mlops deploy`` and supervisors)."""
    lock = project / REGISTRY_LOCK
    with file_lock(lock, LOCK_TIMEOUT_S, "the deployment registry is busy"):
        yield


def ping(url: str, timeout: float = PING_TIMEOUT_S) -> bool:
    """Whether ``url``'s ``GET /ping`` answers 200 now (loopback only)."""
    server = server_address(url)
    if server is None:
        return False
    conn = http.client.HTTPConnection(*server, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def invocations(figures: dict[str, Any] | None, variant: VariantSpec) -> int | None:
    """The gateway's cumulative invocation count for ``variant`` (its live or shadow fleet)."""
    if figures is None:
        return None
    fleet = figures.get(f"shadow-{variant.name}" if variant.shadow else LIVE)
    if not isinstance(fleet, dict):
        return 0  # nothing invoked yet
    counts = fleet.get("variants")
    count = counts.get(variant.name, 0) if isinstance(counts, dict) else 0
    return count if isinstance(count, int) and count >= 0 else 0


def gateway_figures(aws_endpoint: str, endpoint: str) -> dict[str, Any] | None:
    """The runtime gateway's figures for ``endpoint``; None when it does not answer."""
    server = server_address(aws_endpoint)
    if server is None:
        return None
    conn = http.client.HTTPConnection(*server, timeout=5.0)
    try:
        conn.request("GET", f"/_mlops/runtime/metrics/{endpoint}")
        answer = conn.getresponse()
        values = json.loads(answer.read(1 << 20)) if answer.status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
    return values if isinstance(values, dict) else None


class Supervisor:
    """Scales, heals and retires one endpoint's model servers (see the module's notes)."""

    def __init__(self, spec: Spec, log: Log = print, clock: Callable[[], float] = time.monotonic):
        self.spec, self.log, self.clock = spec, log, clock
        self.stopping = threading.Event()
        self.procs: list[subprocess.Popen[bytes]] = []
        now = clock()
        self._last_out = {v.name: -math.inf for v in spec.variants}
        self._last_any = {v.name: now for v in spec.variants}  # no scale-in before a window
        self._rates = {v.name: Rate(spec.scaling.window_s) for v in spec.variants}
        self.gone = False  # the registry no longer names this deployment

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until stopped (SIGTERM) or the registry drops this deployment."""
        self.log(
            f"supervising {self.spec.endpoint} (deployment {self.spec.deployment}): "
            + ", ".join(f"{v.name} {v.floor}..{v.ceiling}" for v in self.spec.variants)
        )
        self.publish()
        try:
            while not self.stopping.is_set() and not self.gone:
                self.step()
                self.stopping.wait(self.spec.scaling.poll_s)
        finally:
            self.shutdown()
        return 0

    def step(self) -> None:
        """One look: heal, scale, retire."""
        figures = gateway_figures(self.spec.aws_endpoint, self.spec.endpoint)
        for variant in self.spec.variants:
            if self.stopping.is_set() or self.gone:
                return
            self.heal(variant)
            self.scale(variant, invocations(figures, variant))
        self.retire()

    def shutdown(self) -> None:
        """Stop the servers started here that are not routed (nothing else is signalled)."""
        routed = {s.pid for v in self.spec.variants for s in v.servers}
        for proc in list(self.procs):
            if proc.pid not in routed:
                proc.kill()
                proc.wait()
                self.procs.remove(proc)

    # -- instance replacement ------------------------------------------------------------

    def heal(self, variant: VariantSpec) -> None:
        """Replace the servers of ``variant`` that exited or stopped answering ``/ping``."""
        for server in list(variant.servers):
            alive = self._alive(server)
            if alive:
                server.failures = 0 if ping(server.url) else server.failures + 1
            if alive and server.failures < PING_FAILURES:
                continue
            why = "exited" if not alive else f"did not answer /ping {PING_FAILURES} times"
            variant.servers.remove(server)
            self.publish()  # out of routing while it is replaced
            self._stop(server)
            started = self._start(variant, 1)
            variant.servers.extend(started)
            variant.last_action = f"replaced {server.url} (pid {server.pid}, {why})" + (
                f" with {started[0].url} (pid {started[0].pid})" if started else ": failed"
            )
            self.log(variant.last_action)
            self.publish()

    def _alive(self, server: Server) -> bool:
        if server.proc is not None and server.proc.poll() is not None:
            return False
        return server_ours(self.spec.project, server.record())

    # -- target tracking -----------------------------------------------------------------

    def scale(self, variant: VariantSpec, count: int | None) -> None:
        """Target tracking for ``variant`` on its invocations per process per minute."""
        if count is None or variant.floor == variant.ceiling:
            return
        now, scaling = self.clock(), self.spec.scaling
        rate = self._rates[variant.name]
        rate.add(now, count)
        per_minute = rate.per_minute()
        current = len(variant.servers)
        if per_minute is None or current == 0:
            return
        want = desired(per_minute, current, scaling.target, variant.floor, variant.ceiling)
        per_process = per_minute / current
        if want > current and now - self._last_out[variant.name] >= scaling.out_cooldown_s:
            started = self._start(variant, want - current)
            if not started:
                return
            variant.servers.extend(started)
            self.publish()
            variant.last_action = (
                f"scaled out {current} -> {len(variant.servers)} at {per_process:.0f}"
                f" invocations per process per minute (target {scaling.target:g})"
            )
            self._acted(variant, now, out=True)
        elif (
            want < current
            and rate.span() >= scaling.window_s * 0.9  # a whole window of evidence
            and now - self._last_any[variant.name] >= scaling.in_cooldown_s
        ):
            server = variant.servers.pop()
            self.publish()  # out of routing first
            self.stopping.wait(DRAIN_S)  # requests already routed to it finish
            self._stop(server)
            variant.last_action = (
                f"scaled in {current} -> {len(variant.servers)} at {per_process:.0f}"
                f" invocations per process per minute (target {scaling.target:g})"
            )
            self._acted(variant, now, out=False)

    def _acted(self, variant: VariantSpec, now: float, out: bool) -> None:
        done = self.clock()  # cooldowns run from when the action finished
        if out:
            self._last_out[variant.name] = done
        self._last_any[variant.name] = done
        self.log(variant.last_action)
        self.publish()

    # -- servers -------------------------------------------------------------------------

    def _start(self, variant: VariantSpec, count: int) -> list[Server]:
        """Start ``count`` servers of ``variant``; those that answer ``/ping`` in time."""
        launched = []
        for _ in range(count):
            index = 100 + variant.launched  # the deploy's own are 0, 1, ...
            variant.launched += 1
            proc, record = launch_server(
                self.spec.project,
                self.spec.endpoint,
                variant.name,
                variant.root,
                variant.env,
                index,
            )
            self.procs.append(proc)
            launched.append((proc, Server(**record, proc=proc)))
        ready = []
        for proc, server in launched:
            if wait_healthy(server.url, START_TIMEOUT_S, alive=self._running(proc)):
                ready.append(server)
                continue
            self.log(f"a new {variant.name} server did not answer /ping; see {server.log}")
            proc.kill()
            proc.wait()
            self.procs.remove(proc)
        return ready

    def _running(self, proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
        return lambda: proc.poll() is None and not self.stopping.is_set()

    def _stop(self, server: Server) -> None:
        record = server.record()
        if stop_process(server.pid, lambda: server_ours(self.spec.project, record), self.procs):
            self.log(f"stopped the model server at {server.url} (pid {server.pid})")
        elif server.proc is not None and server.proc in self.procs:  # exited: reap it
            server.proc.wait()
            self.procs.remove(server.proc)

    def retire(self) -> None:
        """Stop the old fleet's servers whose termination wait is over."""
        due = [(s, t) for s, t in self.spec.retiring if t <= time.time()]
        if not due:
            return
        for server, _ in due:
            self._stop(server)
            self.spec.retiring.remove((server, _))
        self.log(f"terminated {len(due)} old server(s) after the termination wait")
        self.publish()

    # -- the registry ----------------------------------------------------------------------

    def publish(self) -> None:
        """Write this deployment's servers (and scaling status) into the registry.

        Only this endpoint's entry is changed, and only when it still names this deployment:
        a registry that names another (a later deploy, or an edit) is left alone and the
        supervisor stops. Anything else the entry's variants list (URLs, pids) is replaced by
        what the supervisor runs.
        """
        path = registry_file(self.spec.project)
        with registry_lock(self.spec.project):
            try:
                document = read_registry(path)
            except RegistryError as exc:
                self.log(f"not publishing: {exc}")
                return
            endpoints = document.get("endpoints")
            entry = endpoints.get(self.spec.endpoint) if isinstance(endpoints, dict) else None
            if not isinstance(entry, dict) or entry.get("deployment") != self.spec.deployment:
                self.log(
                    f"the registry no longer names deployment {self.spec.deployment} of"
                    f" {self.spec.endpoint}: stopping"
                )
                self.gone = True
                return
            recorded = entry.get("variants")
            recorded = recorded if isinstance(recorded, list) else []
            by_name = {v.get("name"): v for v in recorded if isinstance(v, dict)}
            for variant in self.spec.variants:
                values = by_name.get(variant.name)
                if values is None:
                    continue
                values["urls"] = [s.url for s in variant.servers]
                values["servers"] = [s.record() for s in variant.servers]
                values["min"], values["max"] = variant.floor, variant.ceiling
                values["last_action"] = variant.last_action
            retiring = [{**s.record(), "until": t} for s, t in self.spec.retiring]
            if retiring:
                entry["retiring"] = retiring
            else:
                entry.pop("retiring", None)
            write_registry(path, document)


def main(argv: list[str] | None = None) -> int:
    """``python -m mlops.infra.local_supervisor --project P --endpoint E`` (spec on stdin)."""
    parser = argparse.ArgumentParser(prog=SUPERVISOR_MODULE)
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args(argv)
    if not NAME.match(args.endpoint):
        print(f"not an endpoint name: {args.endpoint!r}", file=sys.stderr)
        return 2
    try:
        text = sys.stdin.buffer.read(SPEC_LIMIT + 1)
        if len(text) > SPEC_LIMIT:
            raise ValueError(f"the spec is over {SPEC_LIMIT} bytes")
        spec = Spec.parse(json.loads(text), args.project.resolve(), args.endpoint)
    except ValueError as exc:
        print(f"no supervisor: {exc}", file=sys.stderr)
        return 2

    def log(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

    supervisor = Supervisor(spec, log)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stopping.set())
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
