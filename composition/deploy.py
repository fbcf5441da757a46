"""Deploy a registered model to the local stack's endpoint, the cloud's way: ``mlops deploy``.

The approved model package (or the one named) becomes the endpoint's ``primary`` variant; the
``local`` stack's own endpoint config adds the challenger (``challengerModelPackageArn`` with
``challengerWeight``) and the shadow (``shadowModelPackageArn``) where it names them. Each
variant gets a model server on 127.0.0.1: the image's own entry point (``python -m
mlops.pipelines.container serve``) over the unpacked artifact, capturing into the lake as
SageMaker's data capture would. Once every server answers ``/ping``, the model, endpoint config
and endpoint are created (or the endpoint re-created: moto has no ``UpdateEndpoint``) through
the SageMaker API on the embedded endpoint, the servers are recorded in the deployment registry
that the runtime gateway routes by (:mod:`mlops.infra.local_runtime`), and only then are the
servers of an earlier deployment stopped.

Each variant starts with ``endpointInstanceCount`` server processes; a supervisor process per
endpoint (:mod:`mlops.infra.local_supervisor`, started detached once the endpoint serves) scales
each between that floor and ``autoscalingMax`` on the gateway's invocations per process per
minute (``invocationsPerInstance``, SageMaker's target tracking), and replaces a server that
exits or stops answering ``/ping``. Its spec goes to it on its stdin from here, never from the
registry; the next deploy, and ``mlops local down``, stop it (verified).

Deploying onto an endpoint that already serves is ``UpdateEndpoint``, blue/green as the stack
configures it (``rollout``, ``rolloutStepPercent``, ``bakingMinutes``): the new (green)
servers come up beside the old (blue) ones, take the canary share (canary), growing steps
(linear) or all traffic (all_at_once), and each step bakes while the gateway's figures for the
green fleet are watched against the stack's rollback alarms (``errors5xxThreshold``: more 5XX
errors than that in each of the last 2 one-minute periods, as the stack's CloudWatch alarm
evaluates them, the periods scaled as the bake is; ``latencyP99Ms``: a p99 model latency over
it, once there are :data:`MIN_LATENCY_SAMPLES` answers, over the whole bake). An alarm, a green
server that exits, or an interrupt rolls the update back: the blue servers never stopped
answering, the green ones are stopped, and the blue fleet's supervisor keeps running. Local
mode bakes for ``bakingMinutes`` too, unless ``mlops deploy --bake-seconds`` says less. While
an update runs, ``DescribeEndpoint`` says ``Updating``; the old servers are stopped after the
stack's ``terminationWaitMinutes`` (``--termination-wait-seconds``) by the new supervisor, so
the endpoint is ``InService`` again once they are gone.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.composition.lifecycle import lifecycle_for
from mlops.composition.serve import choose_model
from mlops.core.contracts import (
    CHALLENGER_VARIANT,
    PRIMARY_VARIANT,
    SHADOW_VARIANT,
    Env,
    bucket_env,
)
from mlops.core.errors import ExternalToolError, RolledBack, UserError
from mlops.core.process import file_lock, private_append, start_time
from mlops.infra.aws.settings import (
    ROLLBACK_DATAPOINTS,
    ROLLBACK_EVALUATION_PERIODS,
    ROLLBACK_PERIOD_S,
)
from mlops.infra.local_runtime import (
    RegistryError,
    read_registry,
    registry_file,
    server_address,
    wait_healthy,
    write_registry,
)
from mlops.infra.local_supervisor import (
    DRAIN_S,
    SERVER_MODULE,
    Scaling,
    find_servers,
    launch_server,
    registry_lock,
    server_ours,
    stop_found,
    stop_process,
    stop_supervisors,
    supervisor_command,
    supervisor_ours,
)
from mlops.pipelines.registry import RunRecord, list_runs

Say = Callable[[str], None]
INSTANCE_TYPE = "ml.m5.large"  # recorded in the endpoint config; local mode runs processes
MIN_LATENCY_SAMPLES = 10  # answers before a p99 latency can fire the rollback alarm
WATCH_EVERY_S = 0.25
LOCK_TIMEOUT_S = 30.0
SUPERVISOR_START_S = 10.0
# Local scaling cooldowns: a local server starts in about a second, not the minutes an instance
# takes, so they are the stack's (60 s out, 300 s in) halved and more, keeping scale-in the
# slower of the two; the rate is measured over one CloudWatch period.
SCALE_OUT_COOLDOWN_S = 30.0
SCALE_IN_COOLDOWN_S = 120.0
SCALE_WINDOW_S = 60.0
STACK_BAKE_S = 600.0  # bakingMinutes' own default: what a local bake is scaled against at 0
# The servers outlive this command on purpose; holding them keeps Python from warning that a
# child still runs when its Popen object goes away.
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class Planned:
    """A variant to deploy: its name, the run whose artifact it serves, weight and role."""

    name: str
    record: RunRecord
    weight: float
    shadow: bool = False


@dataclass(frozen=True)
class Rollout:
    """How local mode deploys and updates an endpoint: the stack's own settings.

    Attributes:
        mode: ``all_at_once``, ``canary`` or ``linear`` (``rollout``).
        step: the share each canary or linear step shifts (``rolloutStepPercent``).
        bake_s: how long each step is watched (``bakingMinutes``, or ``--bake-seconds``).
        errors_5xx: more 5XX errors than this on the green fleet roll back.
        latency_p99_ms: a green p99 model latency over this rolls back.
        processes: server processes per variant (``endpointInstanceCount``): the floor.
        max_processes: the autoscaling ceiling (``autoscalingMax``).
        stack_bake_s: the stack's own bake (``bakingMinutes``; its default at 0), which the
            rollback alarm's periods are scaled by (see :attr:`alarm_period_s`).
        termination_wait_s: how long the old servers stay after the switch
            (``terminationWaitMinutes``, or ``--termination-wait-seconds``).
        scaling: target tracking: ``invocationsPerInstance``, the local cooldowns and window.
    """

    mode: str = "all_at_once"
    step: float = 0.1
    bake_s: float = 600.0
    errors_5xx: int = 1
    latency_p99_ms: int = 500
    processes: int = 1
    max_processes: int = 1
    stack_bake_s: float = STACK_BAKE_S
    termination_wait_s: float = 0.0
    scaling: Scaling = Scaling()

    @classmethod
    def of(
        cls,
        config: Any,
        bake_s: float | None = None,
        termination_wait_s: float | None = None,
        scale_out_cooldown_s: float | None = None,
        scale_in_cooldown_s: float | None = None,
        scale_window_s: float | None = None,
    ) -> Rollout:
        """From a :class:`~mlops.infra.config.StackConfig`; the others override its settings."""
        serving, alarms = config.serving, config.alarms
        wait = serving.termination_wait_minutes * 60.0
        return cls(
            mode=serving.rollout,
            step=serving.rollout_step_percent / 100,
            bake_s=serving.baking_minutes * 60.0 if bake_s is None else bake_s,
            errors_5xx=alarms.errors_5xx_threshold,
            latency_p99_ms=alarms.latency_p99_ms,
            processes=serving.instance_count,
            max_processes=serving.scaling_max,
            stack_bake_s=serving.baking_minutes * 60.0 or STACK_BAKE_S,
            termination_wait_s=wait if termination_wait_s is None else termination_wait_s,
            scaling=Scaling(
                target=float(serving.invocations_per_instance),
                window_s=SCALE_WINDOW_S if scale_window_s is None else scale_window_s,
                out_cooldown_s=(
                    SCALE_OUT_COOLDOWN_S if scale_out_cooldown_s is None else scale_out_cooldown_s
                ),
                in_cooldown_s=(
                    SCALE_IN_COOLDOWN_S if scale_in_cooldown_s is None else scale_in_cooldown_s
                ),
            ),
        )

    @property
    def alarm_period_s(self) -> float:
        """The 5XX rollback alarm's period, scaled as the bake is (60 s over the stack's bake)."""
        return ROLLBACK_PERIOD_S * self.bake_s / self.stack_bake_s

    def shares(self) -> list[float]:
        """The green fleet's share of traffic at each step, the last always all of it."""
        if self.mode == "canary":
            return [self.step, 1.0]
        if self.mode == "linear":
            steps = int(1 / self.step - 1e-9)  # the whole steps below all of it
            return [round(self.step * k, 6) for k in range(1, steps + 1)] + [1.0]
        return [1.0]


def errors_alarm(per_period: list[int], rollout: Rollout) -> str | None:
    """Whether the 5XX rollback alarm fires on the green fleet's errors per period.

    Pure (exported for testing). As CloudWatch evaluates the stack's alarm: it fires when at
    least :data:`ROLLBACK_DATAPOINTS` of the last :data:`ROLLBACK_EVALUATION_PERIODS` periods
    each had more 5XX errors than ``errors5xxThreshold`` (the last period may still be open:
    its count only grows).
    """
    recent = per_period[-ROLLBACK_EVALUATION_PERIODS:]
    breaching = [n for n in recent if n > rollout.errors_5xx]
    if len(breaching) < ROLLBACK_DATAPOINTS:
        return None
    counts = ", ".join(str(n) for n in recent)
    return (
        f"{sum(recent)} 5XX errors from the new model in the last {len(recent)} periods of"
        f" {rollout.alarm_period_s:g} s ({counts}; the stack's errors5xxThreshold is"
        f" {rollout.errors_5xx} per period, {ROLLBACK_DATAPOINTS} of"
        f" {ROLLBACK_EVALUATION_PERIODS} periods)"
    )


def canary_alarm(figures: dict[str, Any] | None, rollout: Rollout) -> str | None:
    """Whether the latency rollback alarm fires on the green fleet's figures; None if not.

    Pure (exported for testing): ``figures`` are the gateway's for the green fleet. The 5XX
    alarm is :func:`errors_alarm`, evaluated per period.
    """
    if not figures:
        return None
    errors = int(figures.get("errors_5xx", 0))
    p99, answered = figures.get("p99_ms"), int(figures.get("invocations", 0)) - errors
    if p99 is not None and answered >= MIN_LATENCY_SAMPLES and p99 > rollout.latency_p99_ms:
        return (
            f"p99 model latency {p99:.0f} ms over {answered} answers (the stack's latencyP99Ms"
            f" is {rollout.latency_p99_ms})"
        )
    return None


def refuse_cloud_stack(project: Path, stack: str) -> None:
    """Refuse ``mlops deploy --stack`` of a stack other than ``local``, saying what to do.

    Raises:
        UserError: always: an unknown stack is named with the closest one; a cloud stack
            deploys with ``pulumi up``.
    """
    from mlops.infra.program import stack_config

    stack_config(project, stack)  # an unknown stack: "no stack 'prd' (did you mean 'prod'?)"
    raise UserError(
        f"mlops deploy deploys the local stack; the {stack} stack deploys with"
        f" `pulumi up --stack {stack}` (its modelPackageArn)"
    )


def stack_settings(project: Path) -> Any:
    """The local stack's validated config (:class:`~mlops.infra.config.StackConfig`).

    Raises:
        ConfigError: ``Pulumi.local.yaml`` is invalid (as ``mlops local up`` would say).
    """
    from mlops.infra import localmode
    from mlops.infra.config import StackConfig

    name, _, values = localmode.project_config(project)
    return StackConfig.from_values(name, "local", values)


def plan(life: Any, version: str | None, config: Any = None) -> list[Planned]:
    """The endpoint's variants: the chosen model, and the stack's challenger and shadow.

    Raises:
        UserError: nothing is approved, or a package the stack names is not registered here.
    """
    record = choose_model(life, version)
    serving = (config or stack_settings(life.project)).serving
    challenger = serving.challenger_model_package_arn
    shadow = serving.shadow_model_package_arn
    weight = serving.challenger_weight if challenger else 0.0
    variants = [Planned(PRIMARY_VARIANT, record, 1.0 - weight)]
    by_arn = {r.model_package_arn: r for r in list_runs(life.lake) if r.model_package_arn}
    for variant, arn, share, is_shadow in (
        (CHALLENGER_VARIANT, challenger, weight, False),
        (SHADOW_VARIANT, shadow, 1.0, True),
    ):
        if not arn:
            continue
        if arn not in by_arn:
            raise UserError(
                f"Pulumi.local.yaml names {arn} for the {variant} variant, but it is not"
                " registered in the local stack: run `mlops pipeline run` for it, or remove it"
            )
        variants.append(Planned(variant, by_arn[arn], share, is_shadow))
    return variants


def deploy(
    project: Path,
    version: str | None = None,
    say: Say = print,
    bake_s: float | None = None,
    termination_wait_s: float | None = None,
    scale_out_cooldown_s: float | None = None,
    scale_in_cooldown_s: float | None = None,
    scale_window_s: float | None = None,
) -> dict[str, Any]:
    """Deploy to the local stack's endpoint; return its registry entry.

    Onto an endpoint that already serves, the update is blue/green (see the module's notes);
    ``bake_s`` overrides the stack's ``bakingMinutes`` for each step, ``termination_wait_s``
    its ``terminationWaitMinutes``; the scaling arguments override local mode's cooldowns and
    rate window (:data:`SCALE_OUT_COOLDOWN_S`, :data:`SCALE_IN_COOLDOWN_S`,
    :data:`SCALE_WINDOW_S`).

    Raises:
        UserError: local mode is down, the stack's config is invalid, or there is nothing to
            deploy.
        ExternalToolError: a model server did not come up (the ones started are stopped).
        RolledBack: the update failed its canary; the endpoint still serves the old servers.
    """
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client

    state = localmode.require_state(project)
    if state.external:
        say(
            "local mode uses an external endpoint: it does not route InvokeEndpoint; the"
            " embedded one does (`mlops local down`, then `mlops local up`)"
        )
    config = stack_settings(project)
    rollout = Rollout.of(
        config,
        bake_s,
        termination_wait_s,
        scale_out_cooldown_s,
        scale_in_cooldown_s,
        scale_window_s,
    )
    life = lifecycle_for(project)
    endpoint = life.platform.serving_endpoint
    variants = plan(life, version, config)
    lock = project / ".mlops" / "deploy.lock"
    with file_lock(lock, LOCK_TIMEOUT_S, f"another `mlops deploy` is running ({lock})"):
        started: list[dict[str, Any]] = []
        try:
            fleet = _start_fleet(project, life, state.endpoint, endpoint, variants, rollout)
            entries = [entry for entry, _ in fleet]
            started = _servers({"variants": entries})
            for entry in entries:
                urls = ", ".join(entry["urls"])
                say(f"{entry['name']}: {entry['run_id']} serving at {urls}")
            sagemaker = client(state.endpoint, state.region, "sagemaker")
            config_name = _create_config(life, sagemaker, endpoint, variants, rollout)
            previous = _live(project, endpoint)
            if previous is not None and not state.external:
                _blue_green(project, state.endpoint, endpoint, previous, entries, rollout, say)
            _recreate_endpoint(sagemaker, endpoint, config_name)
        except BaseException:
            try:
                _drop_canary(project, endpoint)  # the gateway never routes to servers stopped here
            finally:  # and the servers started here stop even if the registry cannot be read
                for server in started:
                    _stop(project, server, lambda _: None)
            raise
        deployment = uuid.uuid4().hex
        entry = {
            "deployment": deployment,
            "endpoint_config": config_name,
            "variants": entries,
            "deployed": time.time(),
            "processes": rollout.processes,
            "max_processes": rollout.max_processes,
        }
        retiring = _switch(project, endpoint, entry, rollout, say)
        supervisor = _start_supervisor(
            project, state.endpoint, endpoint, deployment, fleet, retiring, rollout, say
        )
        if supervisor is None and retiring:  # nobody waits out the termination wait: now
            time.sleep(DRAIN_S)
            for server in retiring:
                _stop(project, server, say)
            _record(project, endpoint, deployment, retiring=[])
    if retiring and supervisor is not None:
        say(
            f"endpoint {endpoint} serves the new servers ({config_name}); Updating until the"
            f" {len(retiring)} old one(s) stop after the termination wait"
            f" ({rollout.termination_wait_s:g} s)"
        )
    else:
        say(f"endpoint {endpoint} InService ({config_name})")
    return entry


def _switch(
    project: Path, endpoint: str, entry: dict[str, Any], rollout: Rollout, say: Say
) -> list[dict[str, Any]]:
    """Make ``entry`` the endpoint's only fleet; return the old servers still to be stopped.

    The old supervisor is stopped first (verified), so the old fleet no longer changes under
    this; the old servers (and those an earlier update still retires) are then stopped after
    a drain, or, with a termination wait, left to the new supervisor: returned, recorded in
    the entry's ``retiring`` with when each is due.
    """
    path = registry_file(project)
    _stop_supervisor(project, endpoint, say)
    with registry_lock(project):
        document = _registry(path)
        replaced = document.setdefault("endpoints", {}).get(endpoint)
        now, wait = time.time(), rollout.termination_wait_s
        old = [{**s, "until": now + wait} for s in _servers(replaced)]
        earlier = replaced.get("retiring") if isinstance(replaced, dict) else None
        for server in earlier if isinstance(earlier, list) else []:
            if isinstance(server, dict):
                until = server.get("until")
                due = until if isinstance(until, int | float) and until <= now + wait else now
                old.append({**server, "until": due})
        old = [s for s in old if server_ours(project, s)]
        if wait > 0 and old:
            entry["retiring"] = old
        document["endpoints"][endpoint] = entry
        write_registry(path, document)
    if wait > 0:
        return old
    if old:
        time.sleep(DRAIN_S)  # requests the gateway routed before the switch finish
    for server in old:
        _stop(project, server, say)
    return []


def _record(project: Path, endpoint: str, deployment: str, **values: Any) -> None:
    """Set ``values`` in the endpoint's registry entry if it is still ``deployment``'s."""
    path = registry_file(project)
    with registry_lock(project):
        document = _registry(path)
        entry = document.get("endpoints", {}).get(endpoint)
        if not (isinstance(entry, dict) and entry.get("deployment") == deployment):
            return
        for key, value in values.items():
            if value == [] or value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
        write_registry(path, document)


def _start_supervisor(
    project: Path,
    aws_endpoint: str,
    endpoint: str,
    deployment: str,
    fleet: list[tuple[dict[str, Any], dict[str, Any]]],
    retiring: list[dict[str, Any]],
    rollout: Rollout,
    say: Say,
) -> dict[str, Any] | None:
    """Start the endpoint's supervisor, its spec on its stdin; its registry record.

    None when it did not start (the endpoint serves on, without scaling or replacement).
    """
    spec = {
        "deployment": deployment,
        "aws_endpoint": aws_endpoint,
        "scaling": {
            "target": rollout.scaling.target,
            "window_s": rollout.scaling.window_s,
            "out_cooldown_s": rollout.scaling.out_cooldown_s,
            "in_cooldown_s": rollout.scaling.in_cooldown_s,
        },
        "variants": [
            {
                "name": entry["name"],
                "shadow": entry["shadow"],
                "min": rollout.processes,
                "max": rollout.max_processes,
                "servers": entry["servers"],
                **launch,
            }
            for entry, launch in fleet
        ],
        "retiring": retiring,
    }
    log = project / ".mlops" / "deploy" / endpoint / "supervisor.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with private_append(log) as handle:
        proc = subprocess.Popen(  # our own module, fixed arguments; the spec on its stdin
            supervisor_command(project, endpoint),
            cwd=project,
            stdin=subprocess.PIPE,
            stdout=handle,
            stderr=handle,
            start_new_session=True,
        )
    _STARTED.append(proc)
    assert proc.stdin is not None
    try:
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
    except OSError:
        pass  # it exited at once: reported below
    record = {"pid": proc.pid, "started": start_time(proc.pid), "log": str(log)}
    deadline = time.monotonic() + SUPERVISOR_START_S
    while not supervisor_ours(project, endpoint, record):
        if proc.poll() is not None or time.monotonic() > deadline:
            say(f"the endpoint's supervisor did not start (no autoscaling); see {log}")
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            _STARTED.remove(proc)
            return None
        time.sleep(0.02)
    _record(project, endpoint, deployment, supervisor=record)
    say(
        f"supervisor pid {proc.pid}: {rollout.processes}..{rollout.max_processes} server"
        f" process(es) per variant at {rollout.scaling.target:g} invocations per process per"
        " minute"
    )
    return record


def _stop_supervisor(project: Path, endpoint: str | None, say: Say) -> int:
    """Stop the endpoint's supervisor (every endpoint's with None), found and verified.

    Found in the process table, never taken from the registry's record (which only shows it).
    """
    stopped = stop_supervisors(project, endpoint, _STARTED)
    for pid in stopped:
        say(f"stopped the supervisor of {endpoint or project.name} (pid {pid})")
    return len(stopped)


def _live(project: Path, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's registry entry when every one of its servers is still ours (InService)."""
    entry = _registry(registry_file(project)).get("endpoints", {}).get(endpoint)
    servers = _servers(entry)
    if not (isinstance(entry, dict) and servers and all(server_ours(project, s) for s in servers)):
        return None
    return entry


def _blue_green(
    project: Path,
    aws_endpoint: str,
    endpoint: str,
    blue: dict[str, Any],
    green: list[dict[str, Any]],
    rollout: Rollout,
    say: Say,
) -> None:
    """Shift traffic to the green fleet step by step, each step baked and watched.

    Returns once the green fleet takes all traffic and has baked; the caller then makes it
    the endpoint's only fleet. On an alarm (or an interrupt) the green fleet is taken out of
    the gateway's routing and :class:`RolledBack` is raised; the caller stops its servers.
    """
    update = uuid.uuid4().hex[:12]
    path = registry_file(project)
    serving = ", ".join(f"{v.get('name')} {v.get('run_id')}" for v in blue.get("variants", []))
    green_servers = _servers({"variants": green})
    try:
        for share in rollout.shares():
            with registry_lock(project):  # the blue fleet's supervisor writes it too
                document = _registry(path)
                entry = document.setdefault("endpoints", {}).setdefault(endpoint, blue)
                entry["canary"] = {"id": update, "share": share, "variants": green}
                write_registry(path, document)
            say(
                f"blue/green ({rollout.mode}): the new servers take {share:.0%} of {endpoint}'s"
                f" traffic; baking {rollout.bake_s:g} s"
            )
            reason = _bake(project, aws_endpoint, endpoint, update, green_servers, rollout)
            if reason is not None:
                raise RolledBack(endpoint, reason, serving)
    except BaseException:
        _drop_canary(project, endpoint)
        say(f"rolled back: {endpoint} serves {serving} as before")
        raise


def _drop_canary(project: Path, endpoint: str) -> None:
    """Take an update's green fleet out of the gateway's routing, if one is there."""
    path = registry_file(project)
    with registry_lock(project):
        try:
            document = _registry(path)
        except UserError:  # unreadable: the gateway routes nothing from it anyway
            return
        entry = document.get("endpoints", {}).get(endpoint)
        if not (isinstance(entry, dict) and "canary" in entry):
            return
        del entry["canary"]
        write_registry(path, document)
    time.sleep(DRAIN_S)  # requests already routed to the green fleet finish


def _bake(
    project: Path,
    aws_endpoint: str,
    endpoint: str,
    update: str,
    green: list[dict[str, Any]],
    rollout: Rollout,
) -> str | None:
    """Watch the green fleet for ``rollout.bake_s``; why it must roll back, or None.

    Its 5XX errors are counted per period of ``rollout.alarm_period_s`` (the alarm's minute,
    scaled as the bake is) from when this step began, as CloudWatch sums them.
    """
    began = time.monotonic()
    deadline = began + rollout.bake_s
    period = max(rollout.alarm_period_s, 1e-3)
    every = min(WATCH_EVERY_S, period / 4)
    marks: list[int] = []  # the green fleet's 5XX count when each period began
    while True:
        figures = fleet_metrics(aws_endpoint, endpoint)
        if figures is None:
            return "the embedded endpoint does not report the new servers' figures"
        fleet = figures.get(update) or {}
        errors = int(fleet.get("errors_5xx", 0))
        if not marks:
            marks.append(errors)
        while len(marks) < (time.monotonic() - began) // period + 1:
            marks.append(errors)  # a period closed since the last look
        per_period = [b - a for a, b in zip(marks, [*marks[1:], errors], strict=True)]
        reason = errors_alarm(per_period, rollout) or canary_alarm(fleet, rollout)
        if reason is not None:
            return reason
        gone = [s for s in green if not server_ours(project, s)]
        if gone:
            return f"the new model server at {gone[0].get('url')} exited; see {gone[0]['log']}"
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(every, left))


def fleet_metrics(aws_endpoint: str, endpoint: str) -> dict[str, Any] | None:
    """The runtime gateway's figures for ``endpoint`` per fleet (``live`` and updates).

    None when the embedded endpoint does not answer (or is not on loopback).
    """
    import json
    import urllib.request

    if server_address(aws_endpoint.rstrip("/")) is None:
        return None
    url = f"{aws_endpoint.rstrip('/')}/_mlops/runtime/metrics/{endpoint}"
    try:
        with urllib.request.urlopen(url, timeout=5.0) as answer:  # loopback http, checked above
            values = json.loads(answer.read(1 << 20))
    except (OSError, ValueError):
        return None
    return values if isinstance(values, dict) else None


def deployed(project: Path) -> dict[str, Any]:
    """The registry's endpoints, each server marked ``ours`` when it is still the one started."""
    endpoints = _registry(registry_file(project)).get("endpoints", {})
    shown: dict[str, Any] = {}
    for name, entry in endpoints.items() if isinstance(endpoints, dict) else ():
        if not isinstance(entry, dict):
            continue
        variants = []
        for variant in entry.get("variants", []) if isinstance(entry.get("variants"), list) else []:
            if not isinstance(variant, dict):
                continue
            servers = [
                {**s, "ours": server_ours(project, s)} for s in _servers({"variants": [variant]})
            ]
            variants.append({**variant, "servers": servers})
        supervisor = entry.get("supervisor")
        running = supervisor_ours(project, str(name), supervisor)
        shown[str(name)] = {
            **entry,
            "variants": variants,
            "supervisor": {**supervisor, "ours": running} if isinstance(supervisor, dict) else None,
            "retiring": [{**s, "ours": server_ours(project, s)} for s in _retiring(entry)],
        }
    return shown


def status_lines(project: Path) -> list[str]:
    """``mlops local status``'s lines for the deployed endpoints: variants, weights, pids."""
    lines = []
    for name, entry in deployed(project).items():
        processes, ceiling = entry.get("processes", 1), entry.get("max_processes", 1)
        lines.append(
            f"endpoint {name} ({entry.get('endpoint_config', '?')}; {processes} server"
            f" process(es) per variant, autoscaling limit {ceiling}):"
        )
        supervisor = entry["supervisor"]
        if supervisor is None:
            lines.append("  supervisor: none (no autoscaling nor replacement)")
        else:
            alive = "running" if supervisor["ours"] else "NOT running"
            lines.append(f"  supervisor: pid {supervisor.get('pid')} ({alive})")
        canary = entry.get("canary")
        if isinstance(canary, dict):
            share = _fraction(canary.get("share"))
            lines.append(f"  Updating (blue/green): the new servers take {share}")
        if entry["retiring"]:
            times = [_number(s.get("until")) for s in entry["retiring"]]
            until = max((u for u in times if u is not None and 0 <= u < 1e11), default=None)
            when = "?" if until is None else time.strftime("%H:%M:%S", time.localtime(until))
            pids = ", ".join(str(s.get("pid")) for s in entry["retiring"])
            lines.append(
                f"  Updating (blue/green): the old servers (pids {pids}) stop at {when}"
                " (termination wait)"
            )
        for variant in entry["variants"]:
            lines += _variant_lines(variant, processes, ceiling)
    return lines


def _number(value: object) -> float | None:
    """A finite number from the registry (untrusted: any JSON value), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _fraction(value: object) -> str:
    """A registry share or weight as a percentage; ``?`` for anything else."""
    number = _number(value)
    return "?" if number is None else f"{number:.0%}"


def _variant_lines(variant: dict[str, Any], floor: object, ceiling: object) -> list[str]:
    share = "shadow" if variant.get("shadow") else _fraction(variant.get("weight"))
    servers = variant["servers"]
    pids = ", ".join(str(s.get("pid")) for s in servers) or "none"
    action = variant.get("last_action") or "none yet"
    lines = [
        f"  {variant.get('name')} {share}: {variant.get('run_id')}; {len(servers)} process(es)"
        f" (min {variant.get('min', floor)}, max {variant.get('max', ceiling)}), pids {pids};"
        f" last scaling action: {action}"
    ]
    for server in servers:
        alive = "running" if server["ours"] else "NOT running"
        lines.append(f"    {server.get('url')}, pid {server.get('pid')} ({alive})")
    return lines


def stop_all(project: Path, say: Say = print) -> int:
    """Stop every model server ``mlops deploy`` started (verified first); forget them all.

    An unreadable registry names no process that can be verified: it is removed, nothing is
    signalled.
    """
    path = registry_file(project)
    try:
        document = read_registry(path)
    except RegistryError as exc:
        say(f"{exc}: removing it; no model server it may name is signalled")
        document = {}
    endpoints = document.get("endpoints", {})
    stopped = 0
    # The supervisors first: they would replace the servers stopped below.
    stopped += _stop_supervisor(project, None, say)
    for entry in endpoints.values() if isinstance(endpoints, dict) else ():
        canary = entry.get("canary") if isinstance(entry, dict) else None
        # An update's new servers too, and the old ones waiting out the termination wait.
        for server in _servers(entry) + _servers(canary) + _retiring(entry):
            stopped += _stop(project, server, say)
    path.unlink(missing_ok=True)
    # Servers the registry no longer names (an edit, a lost write): found and verified.
    for pid in stop_found(project, SERVER_MODULE, find_servers(project), _STARTED):
        say(f"stopped a model server the registry did not name (pid {pid})")
        stopped += 1
    for proc in [p for p in _STARTED if p.poll() is not None]:  # exited (replaced): reaped
        _STARTED.remove(proc)
    return stopped


def _registry(path: Path) -> dict[str, Any]:
    try:
        return read_registry(path)
    except RegistryError as exc:
        raise UserError(f"{exc}; remove it (`mlops local down` stops nothing it names)") from None


def _retiring(entry: object) -> list[dict[str, Any]]:
    """The old servers an update still retires (the entry's ``retiring``)."""
    servers = entry.get("retiring") if isinstance(entry, dict) else None
    return [s for s in servers if isinstance(s, dict)] if isinstance(servers, list) else []


def _servers(entry: object) -> list[dict[str, Any]]:
    variants = entry.get("variants") if isinstance(entry, dict) else None
    found = []
    for variant in variants if isinstance(variants, list) else []:
        servers = variant.get("servers") if isinstance(variant, dict) else None
        for server in servers if isinstance(servers, list) else []:
            if isinstance(server, dict):
                found.append(server)
    return found


def _stop(project: Path, server: dict[str, Any], say: Say) -> int:
    """Stop a recorded model server once verified as this project's; 1 if it was signalled."""
    pid = server.get("pid")
    if not isinstance(pid, int) or not stop_process(
        pid, lambda: server_ours(project, server), _STARTED
    ):
        return 0
    say(f"stopped the model server at {server.get('url')} (pid {pid})")
    return 1


def _start_fleet(
    project: Path,
    life: Any,
    aws_endpoint: str,
    endpoint: str,
    variants: list[Planned],
    rollout: Rollout,
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Start ``rollout.processes`` servers per variant.

    Returns each variant's registry entry with how its servers are started (``root``, ``env``:
    what the supervisor needs to start more). The servers are started together and each is
    returned once ``/ping`` answers.

    Raises:
        ExternalToolError: one did not come up (every one started is stopped).
    """
    launched: list[tuple[Planned, subprocess.Popen[bytes], dict[str, Any]]] = []
    how: dict[str, dict[str, Any]] = {}
    try:
        for variant in variants:
            root, env = _prepare(project, life, aws_endpoint, endpoint, variant)
            how[variant.name] = {"root": str(root), "env": env}
            for index in range(rollout.processes):
                proc, server = launch_server(project, endpoint, variant.name, root, env, index)
                _STARTED.append(proc)
                launched.append((variant, proc, server))
        for variant, proc, server in launched:
            if not wait_healthy(server["url"], 60.0, alive=_running(proc)):
                raise ExternalToolError(
                    "model server", f"{variant.name} did not answer /ping; see {server['log']}"
                )
    except BaseException:
        for _, proc, _ in launched:
            proc.kill()
            proc.wait()
            _STARTED.remove(proc)
        raise
    entries = []
    for variant in variants:
        servers = [s for v, _, s in launched if v is variant]
        entry = {
            "name": variant.name,
            "weight": variant.weight,
            "shadow": variant.shadow,
            "urls": [s["url"] for s in servers],
            "servers": servers,
            "run_id": variant.record.run_id,
            "model_package_arn": variant.record.model_package_arn,
            "min": rollout.processes,
            "max": rollout.max_processes,
        }
        entries.append((entry, how[variant.name]))
    return entries


def _running(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


def _prepare(
    project: Path, life: Any, aws_endpoint: str, endpoint: str, variant: Planned
) -> tuple[Path, dict[str, str]]:
    """Unpack the variant's artifact (once); its directory and its servers' environment."""
    from mlops.pipelines.model import safe_extract, train_module

    root = project / ".mlops" / "deploy" / endpoint / f"{variant.name}-{variant.record.run_id}"
    model_dir = root / "model"
    if not (model_dir.is_dir() and any(model_dir.iterdir())):
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(life.lake.read_uri(variant.record.artifact_uri))) as t:
            safe_extract(t, model_dir)
    env = {
        Env.TRAIN_MODULE: train_module(life.platform.package),
        "SM_ML_ROOT": str(root),
        Env.SERVE_HOST: "127.0.0.1",
        Env.DATA_CONTRACT: str(project / "data" / "contract.yaml"),
        Env.ENDPOINT_NAME: endpoint,
        "AWS_ENDPOINT_URL_S3": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        **{bucket_env(zone): b for zone, b in life.platform.buckets.items()},
    }
    return root, {str(k): str(v) for k, v in env.items()}


def _create_config(
    life: Any, sm: Any, endpoint: str, variants: list[Planned], rollout: Rollout
) -> str:
    """Create the model(s) and an endpoint config through the SageMaker API; its name."""
    stamp = time.strftime("%Y%m%d%H%M%S")
    role = str(
        life.platform.extra.get("sagemaker_role_arn")
        or f"arn:aws:iam::123456789012:role/{life.platform.project}-sagemaker"
    )
    production: list[dict[str, Any]] = []
    shadows: list[dict[str, Any]] = []
    for variant in variants:
        model = f"{endpoint}-{variant.name}-{variant.record.run_id}"[:63]
        try:
            sm.create_model(
                ModelName=model,
                ExecutionRoleArn=role,
                PrimaryContainer={
                    "Image": life.platform.image_uri,
                    "ModelDataUrl": variant.record.artifact_uri,
                },
            )
        except Exception as exc:
            if "already" not in str(exc).lower():
                raise
        spec = {
            "VariantName": variant.name,
            "ModelName": model,
            "InitialInstanceCount": rollout.processes,
            "InstanceType": INSTANCE_TYPE,
            "InitialVariantWeight": variant.weight,
        }
        (shadows if variant.shadow else production).append(spec)
    config = f"{endpoint}-{stamp}-{uuid.uuid4().hex[:6]}"[:63]
    extra = {"ShadowProductionVariants": shadows} if shadows else {}
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=production, **extra)
    return config


def _recreate_endpoint(sm: Any, endpoint: str, config: str) -> None:
    """Point the endpoint at ``config`` (moto has no ``UpdateEndpoint``: delete, create)."""
    names = [e["EndpointName"] for e in sm.list_endpoints(NameContains=endpoint)["Endpoints"]]
    if endpoint in names:
        sm.delete_endpoint(EndpointName=endpoint)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
