"""Local mode: the project's ``local`` stack on an AWS endpoint on this machine.

``up`` starts the embedded endpoint (moto, in its own process on 127.0.0.1) or uses a given
loopback endpoint (LocalStack, moto), then provisions the ``local`` stack: with the Pulumi CLI,
``pulumi up`` against that endpoint; without it, the bootstrap applies the same program's
resource graph (captured through the mock runtime) with boto3. ``down`` tears it down and
``status`` reports. State lives in ``.mlops/local.json`` in the project.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from mlops.core.errors import ExternalToolError, UserError
from mlops.core.process import listens_on, start_detached, start_time, verified
from mlops.infra.local import provider_config, require_loopback

STATE = Path(".mlops") / "local.json"
Say = Callable[[str], None]


@dataclass
class LocalState:
    """What local mode brought up."""

    endpoint: str
    region: str
    path: str  # "bootstrap" or "pulumi"
    pid: int = 0  # the embedded endpoint's process, 0 when external
    pid_started: int = 0  # its start time: with the pid, it names that one process
    # The bootstrap's record of each applied resource (an older state kept only the names).
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    platform: dict[str, Any] = field(default_factory=dict)
    model_package_arn: str = ""
    # `mlops serve`: url, pid, started, run_id
    serving: dict[str, Any] = field(default_factory=dict)


def state_file(project: Path) -> Path:
    """Where a project's local state is kept."""
    return project / STATE


def load_state(project: Path) -> LocalState | None:
    """The project's local state, if local mode is up."""
    path = state_file(project)
    if not path.exists():
        return None
    values = json.loads(path.read_text())
    known = {f.name for f in fields(LocalState)}
    state = LocalState(**{k: v for k, v in values.items() if k in known})
    if isinstance(state.applied, list):
        state.applied = {name: {} for name in state.applied}
    return state


def require_state(project: Path) -> LocalState:
    """The project's local state.

    Raises:
        UserError: local mode is not up for the project.
    """
    state = load_state(project)
    if state is None:
        raise UserError(f"local mode is not up for {project}: run `mlops local up` first")
    return state


def save_state(project: Path, state: LocalState) -> None:
    """Write the state atomically."""
    path = state_file(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.replace(path)


def reachable(endpoint: str, timeout: float = 2.0) -> bool:
    """Whether something answers HTTP at ``endpoint``."""
    try:
        urllib.request.urlopen(endpoint, timeout=timeout)  # noqa: S310 - loopback only
    except urllib.error.HTTPError:
        return True  # it answered, if not with 200
    except OSError:
        return False
    return True


def start_embedded(project: Path, timeout: float = 30.0) -> tuple[str, int]:
    """Start moto in a new session on a free loopback port; return its URL and pid."""
    mlops = project / ".mlops"
    command = [sys.executable, "-m", "mlops.infra.moto_process", "--ready-file"]
    return start_detached(
        [*command, str(mlops / "local-endpoint")],
        mlops / "local-endpoint",
        mlops / "local-endpoint.log",
        "the embedded endpoint (moto)",
        timeout,
    )


class LocalProject(NamedTuple):
    """What local mode reads from a project: its name, program directory and local config."""

    name: str
    program_dir: Path
    config: dict[str, Any]


def project_config(project: Path) -> LocalProject:
    """The Pulumi project, its program directory and the ``local`` stack's config.

    Raises:
        UserError: this is not an mlops project (no Pulumi.yaml or Pulumi.local.yaml).
    """
    try:
        pulumi_yaml = yaml.safe_load((project / "Pulumi.yaml").read_text())
        config = yaml.safe_load((project / "Pulumi.local.yaml").read_text())["config"]
    except FileNotFoundError as exc:
        raise UserError(f"{project} is not an mlops project: {exc.filename} is missing") from None
    return LocalProject(
        str(pulumi_yaml["name"]), project / pulumi_yaml.get("main", "."), dict(config)
    )


def hyperparameters(project: Path) -> dict[str, Any]:
    """The ``local`` stack's ``hyperparameters`` config (the same key SageMaker training reads)."""
    name, _, config = project_config(project)
    value = config.get(f"{name}:hyperparameters", {})
    return dict(json.loads(value) if isinstance(value, str) else value)


def capture_program(local: LocalProject, extra: dict[str, Any] | None = None) -> Any:
    """Run the project's program under mocks for the ``local`` stack; return what it registered.

    Raises:
        UserError: the program failed (the message names its line).
    """
    from mlops.infra.program import run_project_program

    name, program_dir, config = local
    config = {**config, **{f"{name}:{k}": v for k, v in (extra or {}).items()}}

    def program() -> dict[str, Any]:
        scope = runpy.run_path(str(program_dir / "__main__.py"))
        platforms = [v for v in scope.values() if hasattr(v, "platform") and hasattr(v, "lake")]
        return {"platform": platforms[0].platform} if platforms else {}

    root = next(p for p in (program_dir, *program_dir.parents) if (p / "Pulumi.yaml").exists())
    return run_project_program(program, root, name, "local", config)


@contextmanager
def exclusive(project: Path, timeout: float = 120.0) -> Iterator[None]:
    """Hold the project's local-mode lock: one `local up` or `down` at a time.

    A second caller waits up to ``timeout`` for the first to finish (two `up`s at once would
    start two endpoints and orphan one).

    Raises:
        UserError: another local-mode command still holds the lock after ``timeout``.
    """
    import fcntl

    path = project / ".mlops" / "local.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"another `mlops local` command is running for {project}; wait for it"
                        f" to finish (lock: {path})"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(
    project: Path,
    aws_endpoint: str | None = None,
    say: Say = print,
    model_package_arn: str = "",
    lock_timeout: float = 120.0,
) -> LocalState:
    """Bring the local stack up (again): idempotent, resumes from the recorded state."""
    with exclusive(project, lock_timeout):
        return _up(project, aws_endpoint, say, model_package_arn)


def _up(project: Path, aws_endpoint: str | None, say: Say, model_package_arn: str) -> LocalState:
    local = project_config(project)
    region = str(local.config.get("aws:region", "us-east-1"))
    state = load_state(project)
    if state is not None and not reachable(state.endpoint):
        say(f"the recorded endpoint {state.endpoint} is gone; starting afresh")
        state = None
    elif state is not None and endpoint_is_ours(state) is False:
        # Our endpoint died and another program took its port: nothing goes to that program.
        say(
            f"{state.endpoint} answers, but not from the embedded endpoint this project started"
            f" (pid {state.pid}); starting a new one"
        )
        state = None
    model_package_arn = model_package_arn or (state.model_package_arn if state else "")
    extra = {"modelPackageArn": model_package_arn} if model_package_arn else {}
    # Evaluated first: a program this mode cannot run fails before anything is started.
    captured = capture_program(local, extra)
    if any(r.type.startswith("kubernetes:") for r in captured.resources):
        raise UserError(
            f"{local.name} is a Kubernetes project: `mlops local up --k8s` runs its local stack"
            " on a kind cluster (needs docker, kind and kubectl); without one, `make train` and"
            " `make serve` run its lifecycle on this machine"
        )
    started = 0, 0  # the endpoint this call starts, stopped again if provisioning fails
    if state is None:
        if aws_endpoint:
            require_loopback(aws_endpoint)
            if not reachable(aws_endpoint):
                raise UserError(
                    f"nothing answers at {aws_endpoint}: start LocalStack or moto there first,"
                    " or leave out --aws-endpoint to use the embedded endpoint"
                )
            endpoint, pid = aws_endpoint, 0
            say(f"using the AWS endpoint at {endpoint}")
        else:
            endpoint, pid = start_embedded(project)
            say(f"started the embedded AWS endpoint (moto) at {endpoint}")
        path = "pulumi" if shutil.which("pulumi") else "bootstrap"
        state = LocalState(endpoint, region, path, pid, start_time(pid) if pid else 0)
        started = state.pid, state.pid_started
    state.model_package_arn = model_package_arn
    try:
        _provision(project, state, captured, extra, say)
    except BaseException:
        if started[0]:  # nothing was recorded: an endpoint left running would be orphaned
            stop_endpoint(*started, say)
        raise
    save_state(project, state)
    return state


def _provision(
    project: Path, state: LocalState, captured: Any, extra: dict[str, Any], say: Say
) -> None:
    """Apply the ``local`` stack to the state's endpoint (Pulumi CLI, or the boto3 bootstrap)."""
    if state.path == "pulumi":
        say("provisioning with the Pulumi CLI: pulumi up --stack local")
        state.platform = _pulumi_up(project, state, extra)
    else:
        say("no Pulumi CLI on PATH: applying the program's resource graph with boto3 (bootstrap)")
        from mlops.infra.bootstrap import apply

        lost = missing_buckets(state) if state.applied else []
        if lost:
            # The endpoint answers but no longer holds what was applied (moto restarted on the
            # same port, say): apply everything again, and say what was lost with it.
            say(
                f"the endpoint at {state.endpoint} no longer holds this stack's lake"
                f" ({', '.join(lost)} missing): re-creating every resource;"
                " datasets, runs and registered models that were there are gone"
            )
            state.applied = {}
        applied = apply(captured, state.endpoint, state.region, done=state.applied)
        state.applied = applied.done
        state.platform = captured.result.get("platform", {})
        say(
            f"bootstrap: {sum(applied.created.values())} resources created,"
            f" {sum(applied.updated.values())} updated, {sum(applied.deleted.values())} deleted,"
            f" {applied.skipped} already there"
        )
        if applied.kept:
            say(
                f"left in place because they hold data: {', '.join(applied.kept)}"
                " (empty them, then run `mlops local up` again to delete them)"
            )


def missing_buckets(state: LocalState) -> list[str]:
    """The recorded lake buckets the endpoint does not have (empty when all are there)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops.infra.local import client

    buckets = dict(state.platform.get("buckets") or {})
    if not buckets:
        return []
    s3 = client(state.endpoint, state.region, "s3")
    missing = []
    for bucket in buckets.values():
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            missing.append(bucket)
        except BotoCoreError:
            return []  # unreachable: the caller already handles a gone endpoint
    return missing


def _pulumi_env(project: Path) -> dict[str, str]:
    backend = project / ".mlops" / "pulumi-state"
    backend.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "local-only"),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


def _pulumi(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=project,
        env=_pulumi_env(project),  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ExternalToolError(
            "pulumi", f"'pulumi {' '.join(args[:2])}' failed:\n{proc.stderr or proc.stdout}"
        )
    return proc


def pulumi_config_commands(endpoint: str, extra: dict[str, Any]) -> list[list[str]]:
    """``pulumi config set`` arguments that point the ``local`` stack at ``endpoint``."""
    commands = []
    for key, value in provider_config(endpoint).items():
        if key == "aws:endpoints":
            commands += [
                ["--path", f"aws:endpoints[0].{service}", url] for service, url in value[0].items()
            ]
        else:
            commands.append([key, str(value).lower() if isinstance(value, bool) else str(value)])
    commands += [[key, str(value)] for key, value in extra.items()]
    return [["config", "set", "--stack", "local", *command] for command in commands]


def _pulumi_up(project: Path, state: LocalState, extra: dict[str, Any]) -> dict[str, Any]:
    subprocess.run(  # noqa: S603
        ["pulumi", "stack", "select", "--create", "local", "--non-interactive"],  # noqa: S607
        cwd=project,
        env=_pulumi_env(project),
        capture_output=True,
        check=False,
    )
    for command in pulumi_config_commands(state.endpoint, extra):
        _pulumi(project, *command)
    _pulumi(project, "up", "--stack", "local", "--yes", "--skip-preview")
    out = _pulumi(project, "stack", "output", "platform", "--json", "--stack", "local")
    return dict(json.loads(out.stdout or "{}"))


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    """Wait until ``pid`` has exited (or is a zombie awaiting its parent), up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        if "\nState:\tZ" in status:
            return
        time.sleep(0.05)


def stop_server(state: LocalState, say: Say = print) -> None:
    """Stop the model server `mlops serve` left running, if it is still ours."""
    pid = int(state.serving.get("pid", 0) or 0)
    if verified(pid, int(state.serving.get("started", 0) or 0), "mlops", "serve"):
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
        say(f"stopped the model server at {state.serving.get('url')} (pid {pid})")
    state.serving = {}


def down(project: Path, say: Say = print, lock_timeout: float = 120.0) -> None:
    """Tear the local stack down and stop the embedded endpoint."""
    with exclusive(project, lock_timeout):
        _down(project, say)


def _down(project: Path, say: Say) -> None:
    state = load_state(project)
    if state is None:
        say("local mode is not up")
        return
    if state.serving:
        stop_server(state, say)
    if state.path == "pulumi" and reachable(state.endpoint):
        _pulumi(project, "destroy", "--stack", "local", "--yes", "--skip-preview")
        say("pulumi destroy --stack local: done")
    if state.pid:
        stop_endpoint(state.pid, state.pid_started, say)
    elif state.path == "bootstrap":
        say(f"the resources stay on the external endpoint {state.endpoint}; delete them there")
    state_file(project).unlink()


def stop_endpoint(pid: int, started: int, say: Say) -> None:
    """Stop the embedded endpoint ``pid``, if it is still the one started at ``started``."""
    if not verified(pid, started, "mlops.infra.moto_process"):
        say(f"pid {pid} is no longer the embedded endpoint; nothing signalled")
        return
    try:
        os.killpg(pid, signal.SIGTERM)
        _wait_gone(pid)
        say(f"stopped the embedded AWS endpoint (pid {pid}); its resources are gone with it")
    except ProcessLookupError:
        say(f"the embedded endpoint (pid {pid}) had already stopped")


def status(project: Path) -> dict[str, Any]:
    """The endpoint, whether it answers, how the stack was provisioned, and what it holds."""
    state = load_state(project)
    if state is None:
        return {"up": False}
    return {
        "up": True,
        "endpoint": state.endpoint,
        "reachable": reachable(state.endpoint),
        "ours": endpoint_is_ours(state),
        "embedded_pid": state.pid,
        "path": state.path,
        "resources": len(state.applied),
        "model_package_arn": state.model_package_arn,
        "platform": state.platform,
        "serving": _serving_status(state.serving),
    }


def endpoint_is_ours(state: LocalState) -> bool | None:
    """Whether the embedded endpoint we started still runs and holds the recorded port.

    None for an external endpoint (LocalStack, a moto of your own): not ours to vouch for.
    """
    if not state.pid:
        return None
    if not verified(state.pid, state.pid_started, "mlops.infra.moto_process"):
        return False
    port = urllib.parse.urlparse(state.endpoint).port
    return port is None or listens_on(state.pid, port) is not False


def _serving_status(serving: dict[str, Any]) -> dict[str, Any]:
    if not serving:
        return {}
    pid, started = int(serving.get("pid", 0) or 0), int(serving.get("started", 0) or 0)
    port = urllib.parse.urlparse(serving["url"]).port
    # The server records its own pid and start time: together they name it (it may run in
    # a notebook's process, so its command line is not checked here; down checks it).
    ours = verified(pid, started) and (port is None or listens_on(pid, port) is not False)
    return {**serving, "answering": reachable(f"{serving['url']}/ping"), "ours": ours}
