"""Local mode: the project's ``local`` stack on an AWS endpoint on this machine.

``up`` starts the embedded endpoint (moto, in its own process on 127.0.0.1) or uses a given
loopback endpoint (LocalStack, moto), then provisions the ``local`` stack: with the Pulumi CLI,
``pulumi up`` against that endpoint; without it, the bootstrap applies the same program's
resource graph (captured through the mock runtime) with boto3. ``down`` tears it down and
``status`` reports. State lives in ``.mlops/local.json`` in the project.

The state is read as untrusted input (a project may be cloned or unpacked with it, or edited):
an endpoint is used only when it is on loopback and is either the embedded endpoint this project
started (a process of this user, ``python -m mlops.infra.moto_process --project <this
project>``, with the recorded pid and start time, holding the recorded port) or the one given on
purpose with ``--aws-endpoint``, which ``up`` records outside every project, in this user's
:func:`endpoints_file`, where a project's files cannot forge it. The state
is written before provisioning starts, and the embedded endpoint records itself in
``.mlops/local-endpoint.pid`` as it starts, so ``down`` finds it even when ``up`` was killed.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from mlops.core import yamlfile
from mlops.core.errors import ExternalToolError, UserError
from mlops.core.process import file_lock, listens_on, start_detached, start_time, verified
from mlops.core.progress import Progress, no_progress
from mlops.infra.local_endpoint import is_loopback, provider_config, require_loopback

STATE = Path(".mlops") / "local.json"
PID_FILE = Path(".mlops") / "local-endpoint.pid"
ENDPOINT_MODULE = "mlops.infra.moto_process"
RESET = "run `mlops local down --force` to reset local mode's state"
# This user's record of the endpoints given with --aws-endpoint, under $XDG_STATE_HOME.
ENDPOINTS_FILE = Path("mlops") / "local-endpoints.json"
Say = Callable[[str], None]


class LocalStateError(UserError):
    """``.mlops/local.json`` cannot be read as local mode's state.

    Args:
        path: the state file.
        reason: what is wrong with it, with the line where there is one.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: {reason}; {RESET} (it stops only processes it verifies as this project's)"
        )


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
    # Given with --aws-endpoint: not ours to start or stop. Believed only when this user's
    # endpoints file records the same endpoint for this project (see stale_reason).
    external: bool = False
    provisioning: bool = False  # `up` began applying the stack and has not finished


# What each field of the state file must hold (bool is no int here: JSON tells them apart).
_TYPES: dict[str, tuple[type, ...]] = {
    "endpoint": (str,),
    "region": (str,),
    "path": (str,),
    "pid": (int,),
    "pid_started": (int,),
    "applied": (dict, list),
    "platform": (dict,),
    "model_package_arn": (str,),
    "serving": (dict,),
    "external": (bool,),
    "provisioning": (bool,),
}


def state_file(project: Path) -> Path:
    """Where a project's local state is kept."""
    return project / STATE


def load_state(project: Path) -> LocalState | None:
    """The project's local state as written (not yet verified), if there is one.

    Raises:
        LocalStateError: the file is unreadable, not JSON, or not local mode's state.
    """
    path = state_file(project)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalStateError(path, f"cannot be read ({exc})") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LocalStateError(
            path, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(values, dict):
        raise LocalStateError(path, f"must hold a JSON object, found {type(values).__name__}")
    missing = [name for name in ("endpoint", "region", "path") if name not in values]
    if missing:
        raise LocalStateError(path, f"has no {', '.join(missing)}")
    for name, types in _TYPES.items():
        value = values.get(name)
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if name in values and wrong:
            expected = " or ".join(t.__name__ for t in types)
            raise LocalStateError(path, f"{name} must be a {expected}, found {value!r:.40}")
    known = {f.name for f in fields(LocalState)}
    state = LocalState(**{k: v for k, v in values.items() if k in known})
    if isinstance(state.applied, list):
        state.applied = {str(name): {} for name in state.applied}
    return state


def endpoints_file() -> Path:
    """This user's record of the endpoints given with ``--aws-endpoint``, by project.

    ``$XDG_STATE_HOME/mlops/local-endpoints.json`` (``~/.local/state/mlops/...`` when it is unset
    or not an absolute path, as the XDG spec says): outside every project, so neither a cloned
    project nor an edited state file can name an endpoint as given on purpose.
    """
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / ENDPOINTS_FILE


def _read_endpoints(path: Path) -> dict[str, str]:
    """The record as ``{resolved project path: endpoint}``; empty unless it is trustworthy.

    It must be a regular file (no link followed) of this user that nobody else may write:
    anything else is not this user's record, and every external endpoint is then stale.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return {}
        try:
            values = json.loads(handle.read(1 << 20))
        except (OSError, ValueError):
            return {}
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}


def _update_endpoints(project: Path, endpoint: str | None) -> None:
    """Record ``endpoint`` for ``project`` (None: forget it); atomic, mode 0600, under a lock."""
    path = endpoints_file()
    key = _project_arg(project)
    if endpoint is None and key not in _read_endpoints(path):
        return  # nothing to forget: no file is created for it
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    busy = "another `mlops local` command is updating this user's record of endpoints"
    with file_lock(path.with_name(f"{path.name}.lock"), 30.0, busy):
        values = _read_endpoints(path)
        if endpoint is None:
            values.pop(key, None)
        else:
            values[key] = endpoint
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle, indent=1, sort_keys=True)
        tmp.replace(path)


def record_external(project: Path, endpoint: str) -> None:
    """Note in this user's :func:`endpoints_file` that ``endpoint`` was given for ``project``."""
    _update_endpoints(project, endpoint)


def forget_external(project: Path) -> None:
    """Remove ``project``'s entry from this user's :func:`endpoints_file`, if it has one."""
    _update_endpoints(project, None)


def recorded_external(project: Path) -> str:
    """The endpoint this user gave for ``project`` with ``--aws-endpoint``; empty if none."""
    return _read_endpoints(endpoints_file()).get(_project_arg(project), "")


def stale_reason(project: Path, state: LocalState) -> str:
    """Why the state's endpoint must not be used; empty when it may.

    Nothing is sent to the endpoint to find out: it must be on loopback, and either be the one
    this user gave for this project with ``--aws-endpoint`` (``external`` in the state is
    believed only when this user's :func:`endpoints_file`, which no project's file can forge,
    records the same endpoint for the project's resolved path) or be the embedded endpoint this
    project started, which is verified as a process of this user by pid, start time, executable
    and command line (:func:`endpoint_verified`), and must hold the recorded port.
    """
    if not is_loopback(state.endpoint):
        return f"its endpoint {state.endpoint} is not on this machine"
    if state.external and not state.pid and not state.pid_started:
        if recorded_external(project) == state.endpoint:
            return ""
        return (
            f"its endpoint {state.endpoint} is marked as given with --aws-endpoint, but"
            f" `mlops local up --aws-endpoint` did not record it for this project in"
            f" {endpoints_file()}"
        )
    pid = state.pid
    if pid <= 0 or state.pid_started <= 0 or state.external:
        return (
            f"its endpoint {state.endpoint} is neither the embedded endpoint this project started"
            " nor one given with --aws-endpoint"
        )
    port = urllib.parse.urlparse(state.endpoint).port
    if (
        not endpoint_verified(project, pid, state.pid_started)
        or port is None
        or listens_on(pid, port) is not True
    ):
        return (
            f"{state.endpoint} is not from the embedded endpoint this project started (pid {pid}"
            " is gone, is another program, or does not listen there)"
        )
    return ""


def require_state(project: Path) -> LocalState:
    """The project's local state, verified: its endpoint may be used.

    Raises:
        LocalStateError: the state file is corrupt.
        UserError: local mode is not up, its state is stale (nothing was sent to the recorded
            endpoint), or an earlier `mlops local up` did not finish.
    """
    state = load_state(project)
    if state is None:
        raise UserError(f"local mode is not up for {project}: run `mlops local up` first")
    reason = stale_reason(project, state)
    if reason:
        raise UserError(
            f"local mode's state is stale ({state_file(project)}): {reason}; nothing was sent"
            " there: run `mlops local up` to start afresh, or `mlops local down --force` to reset"
        )
    if state.provisioning:
        raise UserError(
            f"an earlier `mlops local up` did not finish for {project}: run `mlops local up`"
            " again (or `mlops local down`)"
        )
    return state


def save_state(project: Path, state: LocalState) -> None:
    """Write the state atomically."""
    path = state_file(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.replace(path)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # a redirect is an answer; it is never followed elsewhere


# Loopback probes go straight there: no proxy from the environment, no redirect followed.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def reachable(endpoint: str, timeout: float = 2.0) -> bool:
    """Whether something answers HTTP at ``endpoint`` (only ever asked of loopback)."""
    if not is_loopback(endpoint):
        return False
    try:
        _OPENER.open(endpoint, timeout=timeout)
    except urllib.error.HTTPError:
        return True  # it answered, if not with 200
    except (OSError, ValueError):
        return False
    return True


def _project_arg(project: Path) -> str:
    return str(project.resolve())


def start_embedded(project: Path, timeout: float = 30.0) -> tuple[str, int]:
    """Start moto in a new session on a free loopback port; return its URL and pid.

    Its command line carries the project's path and it records itself in the project's pid
    file before anything else, so it can be found and verified even if this call is killed.
    """
    mlops = project / ".mlops"
    command = [sys.executable, "-m", ENDPOINT_MODULE, "--ready-file", str(mlops / "local-endpoint")]
    command += ["--pid-file", str(project / PID_FILE), "--project", _project_arg(project)]
    return start_detached(
        command,
        mlops / "local-endpoint",
        mlops / "local-endpoint.log",
        "the embedded endpoint (moto)",
        timeout,
    )


def endpoint_verified(project: Path, pid: int, started: int) -> bool:
    """Whether ``pid`` (started at ``started``) is the embedded endpoint of ``project``.

    A process of this user, started at ``started``, running ``<python> -m
    mlops.infra.moto_process ... --project <this project's resolved path>`` (see
    :func:`mlops.core.process.verified` for what each check stops).
    """
    return started > 0 and verified(
        pid, started, exact=("--project", _project_arg(project)), module=ENDPOINT_MODULE
    )


def orphan(project: Path) -> tuple[int, int] | None:
    """The embedded endpoint the project's pid file names, if it runs and is verified as ours.

    The pid file is read as untrusted: only a process whose start time and command line (the
    endpoint module and this project's path) check out is returned.
    """
    try:
        values = json.loads((project / PID_FILE).read_text())
        pid, started = int(values["pid"]), int(values["started"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return (pid, started) if endpoint_verified(project, pid, started) else None


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
    files = project / "Pulumi.yaml", project / "Pulumi.local.yaml"
    for path in files:
        if not path.is_file():
            raise UserError(f"{project} is not an mlops project: {path} is missing")
    pulumi_yaml = yamlfile.load_mapping(files[0], empty_ok=False, what="the Pulumi project")
    stack = yamlfile.load_mapping(files[1], empty_ok=False, what="the local stack's config")
    name, main = pulumi_yaml.get("name"), pulumi_yaml.get("main", ".")
    if not isinstance(name, str) or not name:
        raise yamlfile.YamlFileError(files[0], "has no project `name`", "restore `name: ...`")
    program_dir = project / main if isinstance(main, str) else project / "?"
    if not isinstance(main, str) or not program_dir.resolve().is_relative_to(project.resolve()):
        raise yamlfile.YamlFileError(
            files[0], f"`main` must be a directory inside the project, found {main!r:.60}"
        )
    config = stack.get("config") or {}
    if not isinstance(config, dict):
        raise yamlfile.YamlFileError(
            files[1],
            f"`config` must be a mapping, found {type(config).__name__}",
            "restore its `config:` section of `key: value` lines",
        )
    return LocalProject(name, program_dir, dict(config))


def hyperparameters(project: Path) -> dict[str, Any]:
    """The ``local`` stack's ``hyperparameters`` config (the same key SageMaker training reads)."""
    name, _, config = project_config(project)
    value = config.get(f"{name}:hyperparameters", {})
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        parsed = exc
    if not isinstance(parsed, dict):
        raise UserError(
            f"{project / 'Pulumi.local.yaml'}: {name}:hyperparameters must be a mapping (or a"
            " JSON object)"
        )
    return dict(parsed)


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
    busy = f"another `mlops local` command is running for {project}; wait for it to finish"
    with file_lock(project / ".mlops" / "local.lock", timeout, busy):
        yield


# Set by SIGTERM within terminate_interrupts. The KeyboardInterrupt the handler raises is lost
# when the signal lands while Python runs a weakref callback or __del__ ("Exception ignored"),
# so long work checks this too, where an interruption must still clean up.
_TERMINATED = threading.Event()


def _raise_if_terminated() -> None:
    """Raise the KeyboardInterrupt a SIGTERM meant, if its own was swallowed on the way."""
    if _TERMINATED.is_set():
        raise KeyboardInterrupt


@contextmanager
def terminate_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM interrupts as Ctrl-C does, so cleanup runs for both.

    Only the main thread can set handlers; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(*_: object) -> None:
        _TERMINATED.set()
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:
        # Python prints "Exception ignored ... Traceback" for an interrupt it swallowed; this
        # one is not lost (_raise_if_terminated takes it up), so it is not shown either.
        if not (_TERMINATED.is_set() and issubclass(info.exc_type, KeyboardInterrupt)):
            hook(info)

    _TERMINATED.clear()
    hook = sys.unraisablehook
    sys.unraisablehook = unraisable
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook


def up(
    project: Path,
    aws_endpoint: str | None = None,
    say: Say = print,
    model_package_arn: str = "",
    lock_timeout: float = 120.0,
    progress: Progress = no_progress,
) -> LocalState:
    """Bring the local stack up (again): idempotent, resumes from the recorded state.

    SIGTERM is taken as Ctrl-C: an endpoint this call started is stopped again.
    """
    with terminate_interrupts(), exclusive(project, lock_timeout):
        return _up(project, aws_endpoint, say, model_package_arn, progress)


def _usable_state(project: Path, state: LocalState | None, say: Say) -> LocalState | None:
    """The recorded state if its endpoint may be used and answers; None to start afresh."""
    if state is None:
        return None
    reason = stale_reason(project, state)
    if reason:
        say(f"local mode's state is stale: {reason}; nothing is sent there, starting afresh")
    elif not reachable(state.endpoint):
        say(f"the recorded endpoint {state.endpoint} is gone; starting afresh")
    else:
        return state
    if not state.external and endpoint_verified(project, state.pid, state.pid_started):
        stop_endpoint(project, state.pid, state.pid_started, say)  # never two at once
    return None


def _up(
    project: Path,
    aws_endpoint: str | None,
    say: Say,
    model_package_arn: str,
    progress: Progress = no_progress,
) -> LocalState:
    local = project_config(project)
    region = str(local.config.get("aws:region", "us-east-1"))
    if aws_endpoint:
        require_loopback(aws_endpoint)
    state = _usable_state(project, load_state(project), say)
    left = orphan(project)
    if left is not None and (state is None or left[0] != state.pid):
        # An `up` killed before it recorded anything left this endpoint: replace it.
        say(f"the embedded endpoint (pid {left[0]}) an interrupted `mlops local up` left running")
        stop_endpoint(project, *left, say)
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
        state = LocalState(
            endpoint, region, path, pid, start_time(pid) if pid else 0, external=not pid
        )
        started = state.pid, state.pid_started
        # Where the project's files cannot forge it: only this makes `external` believed.
        if state.external:
            record_external(project, endpoint)
        else:
            forget_external(project)
    state.model_package_arn = model_package_arn
    state.provisioning = True
    try:
        # Recorded before provisioning: whatever happens next, `down` can find the endpoint.
        save_state(project, state)
        _provision(project, state, captured, extra, say, progress)
        _raise_if_terminated()
    except BaseException:
        if started[0] and stop_endpoint(project, *started, say):
            # Nothing of this call is left running: neither is a record of it.
            state_file(project).unlink(missing_ok=True)
            (project / PID_FILE).unlink(missing_ok=True)
        raise
    state.provisioning = False
    save_state(project, state)
    return state


def _provision(
    project: Path,
    state: LocalState,
    captured: Any,
    extra: dict[str, Any],
    say: Say,
    progress: Progress = no_progress,
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
        applied = apply(
            captured, state.endpoint, state.region, done=state.applied, progress=progress
        )
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

    from mlops.infra.local_endpoint import client

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
        env=_pulumi_env(project),
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
    subprocess.run(
        ["pulumi", "stack", "select", "--create", "local", "--non-interactive"],
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


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    """Wait until ``pid`` has exited (or is a zombie awaiting its parent); whether it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return True
        if "\nState:\tZ" in status:
            return True
        time.sleep(0.05)
    return False


def stop_server(state: LocalState, say: Say = print) -> None:
    """Stop the model server `mlops serve` left running, if it is still ours."""
    pid, started = _int(state.serving.get("pid")), _int(state.serving.get("started"))
    if started > 0 and verified(pid, started, "mlops", "serve"):
        os.kill(pid, signal.SIGTERM)
        _wait_gone(pid)
        say(f"stopped the model server at {state.serving.get('url')} (pid {pid})")
    state.serving = {}


def down(project: Path, say: Say = print, lock_timeout: float = 120.0, force: bool = False) -> None:
    """Tear the local stack down and stop the embedded endpoint.

    With ``force`` an unreadable state is reset as well; either way only processes verified as
    this project's are signalled.
    """
    with terminate_interrupts(), exclusive(project, lock_timeout):
        _down(project, say, force)


def _down(project: Path, say: Say, force: bool) -> None:
    path = state_file(project)
    try:
        state = load_state(project)
    except LocalStateError:
        if not force:
            raise
        say(f"{path} is unreadable: resetting it")
        state = None
    left = orphan(project)
    if state is None:
        if left is not None:
            stop_endpoint(project, *left, say)
        elif not force or not path.exists():
            say("local mode is not up")
    else:
        _tear_down(project, state, left, say, force)
    path.unlink(missing_ok=True)
    (project / PID_FILE).unlink(missing_ok=True)
    forget_external(project)


def _tear_down(
    project: Path, state: LocalState, left: tuple[int, int] | None, say: Say, force: bool
) -> None:
    """Stop what the state names (the model server, the stack, the endpoint), if verified."""
    if state.serving:
        stop_server(state, say)
    usable = not stale_reason(project, state)
    if state.path == "pulumi" and usable and reachable(state.endpoint):
        try:
            _pulumi(project, "destroy", "--stack", "local", "--yes", "--skip-preview")
            say("pulumi destroy --stack local: done")
        except ExternalToolError:
            if not force:
                raise
            say("pulumi destroy --stack local failed; resetting the state anyway (--force)")
    if state.pid and not state.external:
        stop_endpoint(project, state.pid, state.pid_started, say)
    elif state.path == "bootstrap" and usable:
        say(f"the resources stay on the external endpoint {state.endpoint}; delete them there")
    if left is not None and left[0] != state.pid:
        stop_endpoint(project, *left, say)


def stop_endpoint(project: Path, pid: int, started: int, say: Say) -> bool:
    """Stop the embedded endpoint ``pid`` if it is verified as this project's; whether it is."""
    if not endpoint_verified(project, pid, started):
        say(f"pid {pid} is no longer the embedded endpoint; nothing signalled")
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
        if not _wait_gone(pid):
            # Verified as ours above; a server stuck in its shutdown must not outlive `down`.
            os.killpg(pid, signal.SIGKILL)
            _wait_gone(pid, 5.0)
        say(f"stopped the embedded AWS endpoint (pid {pid}); its resources are gone with it")
    except ProcessLookupError:
        say(f"the embedded endpoint (pid {pid}) had already stopped")
    return True


def status(project: Path) -> dict[str, Any]:
    """The endpoint, whether it answers, how the stack was provisioned, and what it holds.

    Nothing is sent to a recorded endpoint that is stale (see :func:`stale_reason`).

    Raises:
        LocalStateError: the state file is corrupt.
    """
    state = load_state(project)
    left = orphan(project)
    if state is None:
        return {"up": False, "orphan": left[0] if left else 0}
    reason = stale_reason(project, state)
    return {
        "up": True,
        "endpoint": state.endpoint,
        "region": state.region,
        "stale": reason,
        "provisioning": state.provisioning,
        "reachable": not reason and reachable(state.endpoint),
        "ours": endpoint_is_ours(project, state),
        "embedded_pid": state.pid,
        "external": state.external,
        "orphan": left[0] if left and left[0] != state.pid else 0,
        "path": state.path,
        "resources": len(state.applied),
        "model_package_arn": state.model_package_arn,
        "platform": state.platform,
        "serving": _serving_status(state.serving),
    }


def endpoint_is_ours(project: Path, state: LocalState) -> bool | None:
    """Whether the embedded endpoint we started still runs and holds the recorded port.

    None for an external endpoint (LocalStack, a moto of your own): not ours to vouch for.
    """
    if state.external and not state.pid:
        return None
    return not stale_reason(project, state)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _serving_status(serving: dict[str, Any]) -> dict[str, Any]:
    if not serving:
        return {}
    pid, started = _int(serving.get("pid")), _int(serving.get("started"))
    url = str(serving.get("url", ""))
    if not is_loopback(url):  # never probed: a state naming another machine is not believed
        return {**serving, "url": url, "answering": False, "ours": False}
    port = urllib.parse.urlparse(url).port
    # The server records its own pid and start time: together they name it (it may run in
    # a notebook's process, so its command line is not checked here; down checks it).
    ours = (
        started > 0
        and verified(pid, started)
        and (port is None or listens_on(pid, port) is not False)
    )
    return {**serving, "answering": reachable(f"{url}/ping"), "ours": ours}
