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

Each variant runs ``endpointInstanceCount`` server processes (the autoscaling floor; local mode
does not scale between it and ``autoscalingMax``, which is recorded and shown).

Deploying onto an endpoint that already serves is ``UpdateEndpoint``, blue/green as the stack
configures it (``rollout``, ``rolloutStepPercent``, ``bakingMinutes``): the new (green)
servers come up beside the old (blue) ones, take the canary share (canary), growing steps
(linear) or all traffic (all_at_once), and each step bakes while the gateway's figures for the
green fleet are watched against the stack's rollback alarms (``errors5xxThreshold``: more 5XX
errors than that; ``latencyP99Ms``: a p99 model latency over it, once there are
:data:`MIN_LATENCY_SAMPLES` answers). An alarm, a green server that exits, or an interrupt
rolls the update back: the blue servers never stopped answering, the green ones are stopped.
Local mode bakes for ``bakingMinutes`` too, unless ``mlops deploy --bake-seconds`` says less.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
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
from mlops.core.process import file_lock, start_time, verified
from mlops.infra.local_runtime import (
    RegistryError,
    free_port,
    read_registry,
    registry_file,
    server_address,
    wait_healthy,
    write_registry,
)
from mlops.pipelines.registry import RunRecord, list_runs

Say = Callable[[str], None]
SERVER_MODULE = "mlops.pipelines.container"
INSTANCE_TYPE = "ml.m5.large"  # recorded in the endpoint config; local mode runs processes
MIN_LATENCY_SAMPLES = 10  # answers before a p99 latency can fire the rollback alarm
DRAIN_S = 1.0  # after the gateway is re-pointed, requests already routed finish before a stop
WATCH_EVERY_S = 0.25
LOCK_TIMEOUT_S = 30.0
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
        processes: server processes per variant (``endpointInstanceCount``).
        max_processes: the autoscaling ceiling (``autoscalingMax``), recorded and shown.
    """

    mode: str = "all_at_once"
    step: float = 0.1
    bake_s: float = 600.0
    errors_5xx: int = 1
    latency_p99_ms: int = 500
    processes: int = 1
    max_processes: int = 1

    @classmethod
    def of(cls, config: Any, bake_s: float | None = None) -> Rollout:
        """From a :class:`~mlops.infra.config.StackConfig` (``bake_s`` overrides the bake)."""
        serving, alarms = config.serving, config.alarms
        return cls(
            mode=serving.rollout,
            step=serving.rollout_step_percent / 100,
            bake_s=serving.baking_minutes * 60.0 if bake_s is None else bake_s,
            errors_5xx=alarms.errors_5xx_threshold,
            latency_p99_ms=alarms.latency_p99_ms,
            processes=serving.instance_count,
            max_processes=serving.scaling_max,
        )

    def shares(self) -> list[float]:
        """The green fleet's share of traffic at each step, the last always all of it."""
        if self.mode == "canary":
            return [self.step, 1.0]
        if self.mode == "linear":
            steps = int(1 / self.step - 1e-9)  # the whole steps below all of it
            return [round(self.step * k, 6) for k in range(1, steps + 1)] + [1.0]
        return [1.0]


def canary_alarm(figures: dict[str, Any] | None, rollout: Rollout) -> str | None:
    """Which rollback alarm the green fleet's figures fire; None when none does.

    Pure (exported for testing): ``figures`` are the gateway's for the green fleet.
    """
    if not figures:
        return None
    errors = int(figures.get("errors_5xx", 0))
    if errors > rollout.errors_5xx:
        return (
            f"{errors} 5XX errors from the new model in {figures.get('invocations')} invocations"
            f" (the stack's errors5xxThreshold is {rollout.errors_5xx})"
        )
    p99, answered = figures.get("p99_ms"), int(figures.get("invocations", 0)) - errors
    if p99 is not None and answered >= MIN_LATENCY_SAMPLES and p99 > rollout.latency_p99_ms:
        return (
            f"p99 model latency {p99:.0f} ms over {answered} answers (the stack's latencyP99Ms"
            f" is {rollout.latency_p99_ms})"
        )
    return None


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
) -> dict[str, Any]:
    """Deploy to the local stack's endpoint; return its registry entry.

    Onto an endpoint that already serves, the update is blue/green (see the module's notes);
    ``bake_s`` overrides the stack's ``bakingMinutes`` for each step.

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
    rollout = Rollout.of(config, bake_s)
    life = lifecycle_for(project)
    endpoint = life.platform.serving_endpoint
    variants = plan(life, version, config)
    lock = project / ".mlops" / "deploy.lock"
    with file_lock(lock, LOCK_TIMEOUT_S, f"another `mlops deploy` is running ({lock})"):
        started: list[dict[str, Any]] = []
        try:
            entries = _start_fleet(project, life, state.endpoint, endpoint, variants, rollout)
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
            _drop_canary(project, endpoint)  # the gateway never routes to servers stopped here
            for server in started:
                _stop(project, server, lambda _: None)
            raise
        entry = {
            "endpoint_config": config_name,
            "variants": entries,
            "deployed": time.time(),
            "processes": rollout.processes,
            "max_processes": rollout.max_processes,
        }
        path = registry_file(project)
        document = _registry(path)
        replaced = document.setdefault("endpoints", {}).get(endpoint)
        document["endpoints"][endpoint] = entry
        write_registry(path, document)
        if isinstance(replaced, dict):
            if _servers(replaced):
                time.sleep(DRAIN_S)  # requests the gateway routed before the switch finish
            for server in _servers(replaced):
                _stop(project, server, say)
    say(f"endpoint {endpoint} InService ({config_name})")
    return entry


def _live(project: Path, endpoint: str) -> dict[str, Any] | None:
    """The endpoint's registry entry when every one of its servers is still ours (InService)."""
    entry = _registry(registry_file(project)).get("endpoints", {}).get(endpoint)
    servers = _servers(entry)
    if not (isinstance(entry, dict) and servers and all(_ours(project, s) for s in servers)):
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
    try:
        document = _registry(path)
    except UserError:  # unreadable: the gateway routes nothing from it anyway
        return
    entry = document.get("endpoints", {}).get(endpoint)
    if isinstance(entry, dict) and "canary" in entry:
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
    """Watch the green fleet for ``rollout.bake_s``; why it must roll back, or None."""
    deadline = time.monotonic() + rollout.bake_s
    while True:
        figures = fleet_metrics(aws_endpoint, endpoint)
        if figures is None:
            return "the embedded endpoint does not report the new servers' figures"
        reason = canary_alarm(figures.get(update), rollout)
        if reason is not None:
            return reason
        gone = [s for s in green if not _ours(project, s)]
        if gone:
            return f"the new model server at {gone[0].get('url')} exited; see {gone[0]['log']}"
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(WATCH_EVERY_S, left))


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
            servers = [{**s, "ours": _ours(project, s)} for s in _servers({"variants": [variant]})]
            variants.append({**variant, "servers": servers})
        shown[str(name)] = {**entry, "variants": variants}
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
        canary = entry.get("canary")
        if isinstance(canary, dict):
            share = canary.get("share", 0)
            lines.append(f"  updating (blue/green): the new servers take {share:.0%}")
        for variant in entry["variants"]:
            share = "shadow" if variant.get("shadow") else f"{variant.get('weight', 0):.0%}"
            for server in variant["servers"]:
                alive = "running" if server["ours"] else "NOT running"
                lines.append(
                    f"  {variant.get('name')} {share}: {variant.get('run_id')} at"
                    f" {server.get('url')}, pid {server.get('pid')} ({alive})"
                )
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
    for entry in endpoints.values() if isinstance(endpoints, dict) else ():
        canary = entry.get("canary") if isinstance(entry, dict) else None
        for server in _servers(entry) + _servers(canary):  # an update's new servers too
            stopped += _stop(project, server, say)
    path.unlink(missing_ok=True)
    return stopped


def _registry(path: Path) -> dict[str, Any]:
    try:
        return read_registry(path)
    except RegistryError as exc:
        raise UserError(f"{exc}; remove it (`mlops local down` stops nothing it names)") from None


def _servers(entry: object) -> list[dict[str, Any]]:
    variants = entry.get("variants") if isinstance(entry, dict) else None
    found = []
    for variant in variants if isinstance(variants, list) else []:
        servers = variant.get("servers") if isinstance(variant, dict) else None
        for server in servers if isinstance(servers, list) else []:
            if isinstance(server, dict):
                found.append(server)
    return found


def _ours(project: Path, server: dict[str, Any]) -> bool:
    """Whether the recorded server is still the process deploy started for this project."""
    pid, started = server.get("pid"), server.get("started")
    if not (isinstance(pid, int) and isinstance(started, int)) or started <= 0:
        return False
    return verified(pid, started, exact=("--project", str(project.resolve())), module=SERVER_MODULE)


def _stop(project: Path, server: dict[str, Any], say: Say) -> int:
    if not _ours(project, server):
        return 0
    pid = int(server["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _ours(project, server):
        try:
            if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
                break
        except OSError:
            break
        time.sleep(0.05)
    for proc in [p for p in _STARTED if p.pid == pid]:  # started by this process: reap it
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _STARTED.remove(proc)
    say(f"stopped the model server at {server.get('url')} (pid {pid})")
    return 1


def _start_fleet(
    project: Path,
    life: Any,
    aws_endpoint: str,
    endpoint: str,
    variants: list[Planned],
    rollout: Rollout,
) -> list[dict[str, Any]]:
    """Start ``rollout.processes`` servers per variant; return the registry's variant entries.

    The servers are started together and each is returned once ``/ping`` answers.

    Raises:
        ExternalToolError: one did not come up (every one started is stopped).
    """
    launched: list[tuple[Planned, subprocess.Popen[bytes], dict[str, Any]]] = []
    try:
        for variant in variants:
            for index in range(rollout.processes):
                proc, server = _launch(project, life, aws_endpoint, endpoint, variant, index)
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
        raise
    entries = []
    for variant in variants:
        servers = [s for v, _, s in launched if v is variant]
        entries.append(
            {
                "name": variant.name,
                "weight": variant.weight,
                "shadow": variant.shadow,
                "urls": [s["url"] for s in servers],
                "servers": servers,
                "run_id": variant.record.run_id,
                "model_package_arn": variant.record.model_package_arn,
            }
        )
    return entries


def _running(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


def _launch(
    project: Path, life: Any, aws_endpoint: str, endpoint: str, variant: Planned, index: int
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Unpack the variant's artifact (once) and start one of its servers."""
    from mlops.pipelines.model import safe_extract, train_module

    root = project / ".mlops" / "deploy" / endpoint / f"{variant.name}-{variant.record.run_id}"
    model_dir = root / "model"
    if not (model_dir.is_dir() and any(model_dir.iterdir())):
        model_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(life.lake.read_uri(variant.record.artifact_uri))) as t:
            safe_extract(t, model_dir)
    port = free_port()
    env = {
        **os.environ,
        Env.TRAIN_MODULE: train_module(life.platform.package),
        "SM_ML_ROOT": str(root),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        Env.SERVE_HOST: "127.0.0.1",
        Env.DATA_CONTRACT: str(project / "data" / "contract.yaml"),
        Env.ENDPOINT_NAME: endpoint,
        "AWS_ENDPOINT_URL_S3": aws_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        **{bucket_env(zone): b for zone, b in life.platform.buckets.items()},
    }
    # The trailing arguments are ignored by `serve`; they name the project and the variant on
    # the command line, which is what `mlops local down` verifies before it signals the pid.
    command = [sys.executable, "-m", SERVER_MODULE, "serve", "--project", str(project.resolve())]
    command += ["--endpoint", endpoint, "--variant", variant.name]
    log = root / f"server-{index}.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            command, cwd=project, env=env, stdout=handle, stderr=handle, start_new_session=True
        )
    _STARTED.append(proc)
    url = f"http://127.0.0.1:{port}"
    return proc, {"url": url, "pid": proc.pid, "started": start_time(proc.pid), "log": str(log)}


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
