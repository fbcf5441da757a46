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
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
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
from mlops.core.errors import ExternalToolError, UserError
from mlops.core.process import start_time, verified
from mlops.infra.local_runtime import (
    RegistryError,
    free_port,
    read_registry,
    registry_file,
    wait_healthy,
    write_registry,
)
from mlops.pipelines.registry import RunRecord, list_runs

Say = Callable[[str], None]
SERVER_MODULE = "mlops.pipelines.container"
INSTANCE_TYPE = "ml.m5.large"  # recorded in the endpoint config; local mode runs one process
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


def plan(life: Any, version: str | None) -> list[Planned]:
    """The endpoint's variants: the chosen model, and the stack's challenger and shadow.

    Raises:
        UserError: nothing is approved, or a package the stack names is not registered here.
    """
    from mlops.infra import localmode

    record = choose_model(life, version)
    name, _, config = localmode.project_config(life.project)
    challenger = str(config.get(f"{name}:challengerModelPackageArn", "") or "")
    shadow = str(config.get(f"{name}:shadowModelPackageArn", "") or "")
    weight = float(config.get(f"{name}:challengerWeight", 0.1)) if challenger else 0.0
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


def deploy(project: Path, version: str | None = None, say: Say = print) -> dict[str, Any]:
    """Deploy to the local stack's endpoint; return its registry entry.

    Raises:
        UserError: local mode is down, or there is nothing to deploy.
        ExternalToolError: a model server did not come up (the ones started are stopped).
    """
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client

    state = localmode.require_state(project)
    if state.external:
        say(
            "local mode uses an external endpoint: it does not route InvokeEndpoint; the"
            " embedded one does (`mlops local down`, then `mlops local up`)"
        )
    life = lifecycle_for(project)
    endpoint = life.platform.serving_endpoint
    variants = plan(life, version)
    started: list[dict[str, Any]] = []
    try:
        entries = []
        for variant in variants:
            server = _start_server(project, life, state.endpoint, endpoint, variant)
            started.append(server)
            say(f"{variant.name}: {variant.record.run_id} serving at {server['url']}")
            entries.append(
                {
                    "name": variant.name,
                    "weight": variant.weight,
                    "shadow": variant.shadow,
                    "urls": [server["url"]],
                    "servers": [server],
                    "run_id": variant.record.run_id,
                    "model_package_arn": variant.record.model_package_arn,
                }
            )
        sagemaker = client(state.endpoint, state.region, "sagemaker")
        config = _create_endpoint(life, sagemaker, endpoint, variants)
    except BaseException:
        for server in started:
            _stop(project, server, lambda _: None)
        raise
    entry = {"endpoint_config": config, "variants": entries, "deployed": time.time()}
    path = registry_file(project)
    document = _registry(path)
    previous = document.setdefault("endpoints", {}).get(endpoint)
    document["endpoints"][endpoint] = entry
    write_registry(path, document)
    if isinstance(previous, dict):
        for server in _servers(previous):
            _stop(project, server, say)
    say(f"endpoint {endpoint} InService ({config})")
    return entry


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
        lines.append(f"endpoint {name} ({entry.get('endpoint_config', '?')}):")
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
        for server in _servers(entry):
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


def _start_server(
    project: Path, life: Any, aws_endpoint: str, endpoint: str, variant: Planned
) -> dict[str, Any]:
    """Unpack the variant's artifact and start its server; return it once ``/ping`` answers."""
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
    log = root / "server.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            command, cwd=project, env=env, stdout=handle, stderr=handle, start_new_session=True
        )
    _STARTED.append(proc)
    url = f"http://127.0.0.1:{port}"
    if not wait_healthy(url, 60.0, alive=lambda: proc.poll() is None):
        proc.kill()
        proc.wait()
        raise ExternalToolError("model server", f"{variant.name} did not answer /ping; see {log}")
    return {"url": url, "pid": proc.pid, "started": start_time(proc.pid), "log": str(log)}


def _create_endpoint(life: Any, sm: Any, endpoint: str, variants: list[Planned]) -> str:
    """Create the model(s), an endpoint config and the endpoint through the SageMaker API."""
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
            "InitialInstanceCount": 1,
            "InstanceType": INSTANCE_TYPE,
            "InitialVariantWeight": variant.weight,
        }
        (shadows if variant.shadow else production).append(spec)
    config = f"{endpoint}-{stamp}"[:63]
    extra = {"ShadowProductionVariants": shadows} if shadows else {}
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=production, **extra)
    names = [e["EndpointName"] for e in sm.list_endpoints(NameContains=endpoint)["Endpoints"]]
    if endpoint in names:
        sm.delete_endpoint(EndpointName=endpoint)  # moto has no UpdateEndpoint
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    return config
