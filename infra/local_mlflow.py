"""A real ``mlflow server`` on loopback for local mode: ``mlops local up --mlflow``.

SQLite in the project's ``.mlops/mlflow/`` as the backend store, the lake's artifacts bucket as
the artifact store (served through the server's proxy, so clients need no S3 access; the
server reaches the embedded endpoint through ``MLFLOW_S3_ENDPOINT_URL``). It runs in a session
of its own, so it outlives the command; its pid and start time are recorded in
``.mlops/mlflow.json`` and ``mlops local down`` stops it only once verified: a process of this
user, started then, whose command line is ``mlflow server`` with this project's database.

MLflow is not a dependency of mlops-stack (it is large and pins its own stack): the server
comes from ``MLOPS_MLFLOW`` (the path of an ``mlflow`` executable) or ``mlflow`` on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from mlops.core.contracts import Env
from mlops.core.errors import ExternalToolError, UserError
from mlops.core.process import private_append, start_time, verified

PINNED = "3.17.2"  # the MLflow release tested here (3.18.0 does not install from the index)
RECORD = Path(".mlops") / "mlflow.json"
START_S = 90.0  # a cold start imports MLflow's whole server: ~10 s here, more on a busy machine
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Servers outlive this command on purpose; holding their Popen objects keeps Python from
# warning that a child still runs when the object goes away.
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class MlflowServer:
    """A running server: its URL, its process (pid and start time) and its database."""

    url: str
    pid: int
    started: int
    database: str


def find_mlflow(environ: dict[str, str] | None = None) -> str:
    """The ``mlflow`` executable: the one ``Env.MLFLOW_EXECUTABLE`` names, else on PATH.

    Raises:
        UserError: neither is there.
    """
    env = os.environ if environ is None else environ
    named = env.get(Env.MLFLOW_EXECUTABLE, "")
    if named:
        if not Path(named).is_file():
            raise UserError(
                f"{Env.MLFLOW_EXECUTABLE}={named!r} is not a file: give an mlflow executable"
            )
        return named
    found = shutil.which("mlflow")
    if found is None:
        raise UserError(
            f"--mlflow needs MLflow: `pip install mlflow=={PINNED}` (in any virtual environment;"
            f" then point {Env.MLFLOW_EXECUTABLE} at its bin/mlflow, or put it on PATH)"
        )
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at ``url`` answers ``/health``."""
    try:
        with _OPENER.open(f"{url}/health", timeout=timeout) as response:
            return int(response.status) == 200
    except (OSError, ValueError):
        return False


def start_server(
    mlflow: str,
    workdir: Path,
    artifacts: str,
    env: dict[str, str],
    timeout: float = START_S,
) -> MlflowServer:
    """Start ``mlflow server`` on a free loopback port; return once ``/health`` answers.

    Its database is ``workdir/mlflow.db`` (SQLite), its log ``workdir/server.log``;
    ``artifacts`` is the proxied artifact store (``s3://bucket/prefix``). MLflow's background
    job runner (a pool of consumers for GenAI jobs) is switched off: the lifecycle has none.

    Raises:
        ExternalToolError: it exited, or did not answer within ``timeout`` (it is stopped).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    database = f"sqlite:///{(workdir / 'mlflow.db').resolve()}"
    port = free_port()
    command = [mlflow, "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", database, "--artifacts-destination", artifacts]
    command += ["--workers", "1"]
    child_env = {**os.environ, **env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with private_append(workdir / "server.log") as log:
        proc = subprocess.Popen(  # an executable the user named, fixed arguments
            command, stdout=log, stderr=log, start_new_session=True, env=child_env
        )
    _STARTED.append(proc)
    server = MlflowServer(f"http://127.0.0.1:{port}", proc.pid, start_time(proc.pid), database)
    deadline = time.monotonic() + timeout
    try:
        while not healthy(server.url, 1.0):
            if proc.poll() is not None:
                raise ExternalToolError(
                    "mlflow server", f"exited with {proc.returncode}; see {workdir / 'server.log'}"
                )
            if time.monotonic() > deadline:
                raise ExternalToolError(
                    "mlflow server",
                    f"did not answer within {timeout:.0f} s; see {workdir / 'server.log'}",
                )
            time.sleep(0.1)
    except BaseException:
        _kill_group(proc.pid)
        proc.wait(10)
        raise
    return server


def is_ours(server: MlflowServer) -> bool:
    """Whether ``server``'s pid is still the ``mlflow server`` started on its database."""
    return server.started > 0 and verified(
        server.pid, server.started, "server", exact=("--backend-store-uri", server.database)
    )


def stop_server(server: MlflowServer, timeout: float = 15.0) -> bool:
    """Stop a verified server and its workers (its whole session); whether it was ours."""
    if not is_ours(server):
        return False
    _kill_group(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(server.pid):
        time.sleep(0.05)
    if _alive(server.pid):
        _kill_group(server.pid)
    for proc in [p for p in _STARTED if p.pid == server.pid]:  # started by this process: reap it
        proc.wait(10)
        _STARTED.remove(proc)
    return True


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)  # the server leads its own session: it and its uvicorn workers
    except ProcessLookupError:
        pass


# -- local mode's record -----------------------------------------------------------------------


def up(project: Path, artifacts: str, s3_endpoint: str, region: str) -> MlflowServer:
    """Start the project's server (or keep the one running); record it.

    Raises:
        UserError: MLflow is not installed.
        ExternalToolError: it did not start.
    """
    running = recorded(project)
    if running is not None and is_ours(running) and healthy(running.url):
        return running
    mlflow = find_mlflow()
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_DEFAULT_REGION": region,
        # The embedded endpoint takes any keys; keys already set are the user's own endpoint's.
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    }
    server = start_server(mlflow, project / ".mlops" / "mlflow", artifacts, env)
    path = project / RECORD
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(server)))
    tmp.replace(path)
    return server


def recorded(project: Path) -> MlflowServer | None:
    """The server local mode recorded, if the record is readable (it is not trusted further)."""
    try:
        values = json.loads((project / RECORD).read_text())
        return MlflowServer(
            str(values["url"]), int(values["pid"]), int(values["started"]), str(values["database"])
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None


def tracking_uri(project: Path) -> str:
    """The URL of the project's running server, or "" when none is recorded and verified."""
    server = recorded(project)
    return server.url if server is not None and is_ours(server) else ""


def down(project: Path) -> str:
    """Stop the recorded server if verified as this project's; say what happened ("": none)."""
    server = recorded(project)
    if server is None:
        return ""
    (project / RECORD).unlink(missing_ok=True)
    if stop_server(server):
        return f"stopped the MLflow server at {server.url} (pid {server.pid})"
    return f"pid {server.pid} is no longer this project's MLflow server; nothing signalled"
