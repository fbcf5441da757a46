"""Local mode's state is verified, never trusted: tampered, stale, half-written and corrupt state.

Each test reproduces an attack on the state file, the stack files or an interrupted ``up``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops.infra import localmode
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

pytestmark = pytest.mark.integration

EXTERNAL = "http://203.0.113.7:4566"  # TEST-NET-3: never routed, never to be dialled


@pytest.fixture(autouse=True)
def user_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This user's state directory (the record of --aws-endpoint), never the real home's."""
    path = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(path))
    return path


def scaffold(tmp_path: Path, name: str, git: bool = False) -> Path:
    dest = tmp_path / name
    Scaffold(
        validate_answers({"name": name, "environments": "dev", "ci": "none"}), dest, git=git
    ).run()
    return dest


def endpoints(project: Path) -> list[int]:
    """Running embedded endpoints started for ``project`` (found by their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in args]
        if (
            state != "Z"
            and "mlops.infra.moto_process" in text
            and any(str(project) in a for a in text)
        ):
            found.append(int(entry.name))
    return found


def kill_endpoints(project: Path) -> None:
    for pid in endpoints(project):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class Sink:
    """A TCP canary on 127.0.0.1: counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@contextlib.contextmanager
def outbound(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every connection attempt this process makes to an address off this machine."""
    attempts: list[object] = []
    real = socket.socket.connect

    def connect(self: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if host and not (str(host).startswith("127.") or host in ("::1", "localhost")):
            attempts.append(address)
            raise OSError("blocked by the test: not loopback")
        real(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts


def edit_state(project: Path, **changes: object) -> None:
    path = localmode.state_file(project)
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_a_tampered_endpoint_gets_nothing(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = scaffold(tmp_path, "tampered")
    up = invoke("local", "up", "--project", str(project))
    assert up.exit_code == 0, up.output
    state = localmode.load_state(project)
    assert state is not None and state.pid and not state.external
    original = localmode.state_file(project).read_text()
    sink = Sink()
    try:
        with outbound(monkeypatch) as attempts:
            for endpoint, external in [
                (f"http://127.0.0.1:{sink.port}", False),  # another loopback port: not ours
                (f"http://127.0.0.1:{sink.port}", True),  # "external", yet with our pid
                (EXTERNAL, False),
                (EXTERNAL, True),  # marked external on purpose: still not loopback
                (f"http://user@127.0.0.1:{sink.port}", False),
            ]:
                localmode.state_file(project).write_text(original)
                edit_state(project, endpoint=endpoint, external=external)
                for command in (
                    ("pipeline", "run", "--project", str(project)),
                    ("runs", "list", "--project", str(project)),
                    ("serve", "--project", str(project)),
                ):
                    result = invoke(*command)
                    assert result.exit_code == 2, (command, result.output)
                    assert "local mode's state is stale" in result.output, result.output
                    assert "mlops local down --force" in result.output
                    assert len(result.output.strip().splitlines()) == 1, result.output
                    assert "Traceback" not in result.output
                status = invoke("local", "status", "--project", str(project))
                assert status.exit_code == 4 and "stale" in status.output, status.output
            assert sink.connections == 0
            assert attempts == []
            # `up` fixes it: it starts afresh (replacing our endpoint, never a second one),
            # again without a word to the tampered address.
            again = invoke("local", "up", "--project", str(project))
            assert again.exit_code == 0, again.output
            assert "stale" in again.output
            assert sink.connections == 0 and attempts == []
        reap(state.pid)
        fresh = localmode.load_state(project)
        assert fresh is not None and fresh.pid != state.pid
        assert endpoints(project) == [fresh.pid]
    finally:
        sink.close()
        last = localmode.load_state(project)
        down = invoke("local", "down", "--project", str(project))
        for pid in {state.pid, last.pid if last else 0} - {0}:
            reap(pid)
        kill_endpoints(project)
        assert "Traceback" not in down.output


def test_an_external_endpoint_is_recorded_and_checked_on_read(  # type: ignore[no-untyped-def]
    tmp_path: Path, moto_endpoint: str, invoke, user_state: Path
) -> None:
    project = scaffold(tmp_path, "external")
    assert (
        invoke("local", "up", "--project", str(project), "--aws-endpoint", moto_endpoint).exit_code
        == 0
    )
    state = localmode.load_state(project)
    assert state is not None and state.external and state.pid == 0
    assert localmode.require_state(project).endpoint == moto_endpoint
    edit_state(project, endpoint=EXTERNAL)
    with pytest.raises(localmode.UserError, match="not on this machine"):
        localmode.require_state(project)
    edit_state(project, endpoint=moto_endpoint, external=False)  # pid 0, not given on purpose
    with pytest.raises(localmode.UserError, match="nor one given with --aws-endpoint"):
        localmode.require_state(project)
    edit_state(project, external=True)
    # Recorded for this user, outside the project: 0600, keyed by the project's resolved path.
    record = localmode.endpoints_file()
    assert record.is_relative_to(user_state) and not record.is_relative_to(project)
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert json.loads(record.read_text()) == {str(project.resolve()): moto_endpoint}
    # A record anyone else may write, or that is a link, is not this user's: stale, fail closed.
    original = record.read_text()
    record.chmod(0o620)
    with pytest.raises(localmode.UserError, match="did not record it for this project"):
        localmode.require_state(project)
    record.chmod(0o600)
    record.unlink()
    (record.parent / "elsewhere.json").write_text(original)
    record.symlink_to(record.parent / "elsewhere.json")
    with pytest.raises(localmode.UserError, match="did not record it for this project"):
        localmode.require_state(project)
    record.unlink()
    record.write_text(original)
    record.chmod(0o600)
    assert localmode.require_state(project).endpoint == moto_endpoint
    assert invoke("local", "down", "--project", str(project)).exit_code == 0
    assert json.loads(record.read_text()) == {}  # down forgets it


def test_a_forged_external_endpoint_gets_nothing(  # type: ignore[no-untyped-def]
    tmp_path: Path, moto_endpoint: str, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`external: true, pid: 0` in a cloned or edited state names no endpoint of this user's."""
    project = scaffold(tmp_path, "forged")
    sink = Sink()
    forged = {
        "endpoint": f"http://127.0.0.1:{sink.port}",
        "region": "us-east-1",
        "path": "bootstrap",
        "external": True,
        "pid": 0,
    }
    try:
        with outbound(monkeypatch) as attempts:
            # Cloned with the project: this user never gave an endpoint for it.
            localmode.state_file(project).parent.mkdir(exist_ok=True)
            localmode.state_file(project).write_text(json.dumps(forged))
            assert_stale(project, invoke, "did not record it for this project")
            # Edited after a genuine `up --aws-endpoint`: the record names another endpoint.
            localmode.state_file(project).unlink()
            up = invoke("local", "up", "--project", str(project), "--aws-endpoint", moto_endpoint)
            assert up.exit_code == 0, up.output
            edit_state(project, **forged)
            assert_stale(project, invoke, "did not record it for this project")
            assert sink.connections == 0 and attempts == []
            # `up` starts afresh (the embedded endpoint), again without a word to the sink.
            again = invoke("local", "up", "--project", str(project))
            assert again.exit_code == 0 and "stale" in again.output, again.output
            assert sink.connections == 0 and attempts == []
            assert localmode.recorded_external(project) == ""  # no longer external
    finally:
        sink.close()
        last = localmode.load_state(project)
        invoke("local", "down", "--project", str(project))
        if last is not None and last.pid:
            reap(last.pid)
        kill_endpoints(project)


def assert_stale(project: Path, invoke, reason: str) -> None:  # type: ignore[no-untyped-def]
    """Every command that talks to local mode's endpoint refuses, in one line."""
    for command in (
        ("pipeline", "run", "--project", str(project)),
        ("runs", "list", "--project", str(project)),
        ("serve", "--project", str(project)),
        ("monitor", "run", "--project", str(project)),
    ):
        result = invoke(*command)
        assert result.exit_code == 2, (command, result.output)
        assert "local mode's state is stale" in result.output and reason in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    status = invoke("local", "status", "--project", str(project))
    assert status.exit_code == 4 and "stale" in status.output and reason in status.output
    assert len(status.output.strip().splitlines()) == 1, status.output


# Poses as the embedded endpoint: `-m mlops.infra.moto_process ... --project P` on its command
# line, listening on loopback; every connection it accepts is counted in <ready>.hits.
FAKE_ENDPOINT = """
import socket, sys, time
from pathlib import Path
ready = Path(sys.argv[sys.argv.index("--ready-file") + 1])
hits = ready.with_suffix(".hits")
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(16)
tmp = ready.with_suffix(".tmp")
tmp.write_text(str(sock.getsockname()[1]))
tmp.replace(ready)
count = 0
while True:
    conn, _ = sock.accept()
    count += 1
    hits.write_text(str(count))
    conn.close()
"""


@contextlib.contextmanager
def fake_endpoint(
    project: Path, python: str, user: int | None = None, as_module: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """Run FAKE_ENDPOINT as ``python -m mlops.infra.moto_process`` for ``project``.

    Not ``as_module``: as ``python -c FAKE_ENDPOINT`` with the same words after it.

    It lives in a directory of its own under /tmp that ``user`` can read; yields the process,
    its port and the file counting connections.
    """
    root = Path(tempfile.mkdtemp(prefix="mlops-fake-", dir="/tmp"))
    try:
        root.chmod(0o755)
        module = root / "mlops" / "infra" / "moto_process.py"
        module.parent.mkdir(parents=True)
        for package in (root / "mlops", module.parent):
            package.chmod(0o755)
            (package / "__init__.py").write_text("")
        module.write_text(FAKE_ENDPOINT)
        run = root / "run"
        run.mkdir()
        run.chmod(0o777)
        ready = run / "ready"
        proc = subprocess.Popen(
            [python, *(["-m"] if as_module else ["-c", FAKE_ENDPOINT])]
            + [localmode.ENDPOINT_MODULE, "--ready-file", str(ready)]
            + ["--project", str(project.resolve())],
            cwd=root,
            env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"},
            user=user,
        )
        try:
            deadline = time.monotonic() + 20
            while not ready.exists():
                assert proc.poll() is None and time.monotonic() < deadline, "no fake endpoint"
                time.sleep(0.02)
            yield proc, int(ready.read_text()), ready.with_suffix(".hits")
        finally:
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def pose_as_endpoint(project: Path, pid: int, port: int) -> None:
    from mlops.core.process import start_time

    localmode.save_state(
        project,
        localmode.LocalState(
            f"http://127.0.0.1:{port}", "us-east-1", "bootstrap", pid, start_time(pid)
        ),
    )


def assert_refused(project: Path, invoke, proc: subprocess.Popen[bytes], hits: Path) -> None:  # type: ignore[no-untyped-def]
    state = localmode.load_state(project)
    assert state is not None
    assert not localmode.endpoint_verified(project, state.pid, state.pid_started)
    assert "is not from the embedded endpoint" in localmode.stale_reason(project, state)
    assert_stale(project, invoke, "is not from the embedded endpoint")
    down = invoke("local", "down", "--project", str(project))
    assert down.exit_code == 0 and "nothing signalled" in down.output, down.output
    assert proc.poll() is None  # never signalled
    assert not hits.exists()  # nothing was sent to it


def runs_as(python: str, user: int) -> bool:
    try:
        probe = subprocess.run([python, "-c", "pass"], user=user, cwd="/tmp", capture_output=True)
    except OSError:  # not executable for that user (a Python under /root, say)
        return False
    return probe.returncode == 0


@pytest.mark.skipif(os.getuid() != 0, reason="starting a process as another user needs root")
def test_another_users_process_is_not_taken_for_the_endpoint(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    nobody = 65534
    pythons = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    usable = [p for p in pythons if Path(p).exists() and runs_as(p, nobody)]
    if not usable:
        pytest.skip("no Python that another user may run")
    project = scaffold(tmp_path, "otheruser")
    # The control: the same fake, run by this user, passes every check (the pid, start time,
    # `python -m` command line, executable and port are all right): only the uid tells.
    with fake_endpoint(project, usable[0]) as (proc, port, _):
        pose_as_endpoint(project, proc.pid, port)
        state = localmode.load_state(project)
        assert state is not None and localmode.stale_reason(project, state) == ""
    with fake_endpoint(project, usable[0], user=nobody) as (proc, port, hits):
        pose_as_endpoint(project, proc.pid, port)
        assert_refused(project, invoke, proc, hits)


def test_a_process_that_is_not_python_is_not_taken_for_the_endpoint(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke
) -> None:
    """Right command line, this user, right port, but another executable (a copy named so)."""
    project = scaffold(tmp_path, "notpython")
    binary = Path(tempfile.mkdtemp(prefix="mlops-exe-", dir="/tmp")) / "endpointd"
    try:
        shutil.copy2(os.path.realpath(sys.executable), binary)
        if subprocess.run([binary, "-c", "pass"], capture_output=True).returncode != 0:
            pytest.skip("a copy of this Python does not run")
        with fake_endpoint(project, str(binary)) as (proc, port, hits):
            pose_as_endpoint(project, proc.pid, port)
            assert_refused(project, invoke, proc, hits)
    finally:
        shutil.rmtree(binary.parent, ignore_errors=True)


def spawn_up(project: Path) -> subprocess.Popen[bytes]:
    (project / ".mlops" / "local-endpoint").unlink(missing_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "mlops.cli.main", "local", "up", "--project", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_apply(project: Path, proc: subprocess.Popen[bytes]) -> None:
    """Return once the endpoint answers and the apply has begun (the command still runs)."""
    ready = project / ".mlops" / "local-endpoint"
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.4)
    assert proc.poll() is None, "the apply finished before the signal: nothing was interrupted"


def test_up_killed_mid_apply_leaves_nothing_down_cannot_find(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke
) -> None:
    project = scaffold(tmp_path, "killed")
    try:
        proc = spawn_up(project)
        wait_for_apply(project, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        (left,) = endpoints(project)  # the endpoint outlives the killed command
        status = invoke("local", "status", "--project", str(project))
        assert status.exit_code == 4, status.output
        assert f"{left}" in status.output or "did not finish" in status.output
        # The next `up` reuses or replaces it: never a second endpoint.
        again = invoke("local", "up", "--project", str(project))
        assert again.exit_code == 0, again.output
        state = localmode.load_state(project)
        assert state is not None and not state.provisioning
        assert endpoints(project) == [state.pid]
        # Killed again, this time before any state was written: down still finds it.
        down = invoke("local", "down", "--project", str(project))
        assert "stopped the embedded AWS endpoint" in down.output
        reap(state.pid)
        proc = spawn_up(project)
        wait_for_apply(project, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        localmode.state_file(project).unlink(missing_ok=True)  # as if killed before the write
        (left,) = endpoints(project)
        status = invoke("local", "status", "--project", str(project))
        assert status.exit_code == 4 and f"pid {left}" in status.output, status.output
        down = invoke("local", "down", "--project", str(project))
        assert (
            down.exit_code == 0 and f"stopped the embedded AWS endpoint (pid {left})" in down.output
        )
        deadline = time.monotonic() + 10
        while endpoints(project):
            assert time.monotonic() < deadline, "down did not stop the orphaned endpoint"
            time.sleep(0.05)
    finally:
        kill_endpoints(project)


def test_up_terminated_mid_apply_stops_its_endpoint(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    project = scaffold(tmp_path, "terminated")
    try:
        proc = spawn_up(project)
        wait_for_apply(project, proc)
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
        assert proc.returncode == 130, output
        assert "stopped the embedded AWS endpoint" in output and "Traceback" not in output
        deadline = time.monotonic() + 10
        while endpoints(project):
            assert time.monotonic() < deadline, "SIGTERM left the endpoint running"
            time.sleep(0.05)
        assert localmode.load_state(project) is None
        assert invoke("local", "status", "--project", str(project)).exit_code == 3
    finally:
        kill_endpoints(project)


def test_a_pid_file_naming_another_process_is_never_signalled(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    from mlops.core.process import start_time

    project = scaffold(tmp_path, "pidfile")
    # Looks like an endpoint, started right now, but not for this project.
    impostor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(60)",
            "mlops.infra.moto_process",
            "--project",
            "/elsewhere",
        ]
    )
    try:
        time.sleep(0.3)
        (project / localmode.PID_FILE).write_text(
            json.dumps({"pid": impostor.pid, "started": start_time(impostor.pid)})
        )
        assert invoke("local", "status", "--project", str(project)).exit_code == 3
        down = invoke("local", "down", "--project", str(project))
        assert down.exit_code == 0 and "not up" in down.output
        assert impostor.poll() is None
    finally:
        impostor.kill()
        impostor.wait()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"endpoint": "http://127.0.0.1:1", "reg', "is not valid JSON (line 1, column"),
        ("", "is not valid JSON (line 1, column 1"),
        ("[1, 2]", "must hold a JSON object, found list"),
        ('{"endpoint": 5, "region": "r", "path": "bootstrap"}', "endpoint must be a str"),
        ('{"endpoint": "x", "region": "r", "path": "b", "pid": true}', "pid must be a int"),
        ('{"region": "r"}', "has no endpoint, path"),
    ],
    ids=["truncated", "empty", "list", "endpoint-type", "pid-bool", "missing"],
)
def test_a_corrupt_state_file_is_named_with_the_reset(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke, content: str, reason: str
) -> None:
    project = scaffold(tmp_path, "corrupt")
    path = localmode.state_file(project)
    path.write_text(content)
    for command in ("status", "up", "down"):
        result = invoke("local", command, "--project", str(project))
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0], result.output
        assert "mlops local down --force" in lines[0] and "unexpected" not in lines[0]
        assert path.read_text() == content  # nothing written, nothing lost
        assert not (project / localmode.PID_FILE).exists()  # nothing started
    pipeline = invoke("pipeline", "run", "--project", str(project))
    assert pipeline.exit_code == 2 and "mlops local down --force" in pipeline.output
    forced = invoke("local", "down", "--force", "--project", str(project))
    assert forced.exit_code == 0 and "resetting" in forced.output, forced.output
    assert not path.exists()
    assert invoke("local", "status", "--project", str(project)).exit_code == 3


@pytest.mark.parametrize(
    ("file", "content", "reason"),
    [
        ("Pulumi.local.yaml", "", "must hold a mapping of keys to values"),
        ("Pulumi.local.yaml", "- a\n- b\n", "found a list"),
        ("Pulumi.local.yaml", "config:\n  a: [1,\n", "line 3"),
        ("Pulumi.local.yaml", "config:\n  - a\n", "`config` must be a mapping"),
        ("Pulumi.yaml", "", "must hold a mapping"),
        ("Pulumi.yaml", "name: x\nmain: ../..\n", "`main` must be a directory inside"),
        ("Pulumi.yaml", "runtime: python\n", "has no project `name`"),
    ],
)
def test_a_broken_stack_file_is_named(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke, file: str, content: str, reason: str
) -> None:
    project = scaffold(tmp_path, "broken")
    (project / file).write_text(content)
    result = invoke("local", "up", "--project", str(project))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(project / file) in lines[0] and reason in lines[0], lines
    assert "unexpected" not in result.output and "started the embedded" not in result.output
    assert localmode.load_state(project) is None


def test_the_project_stays_clean_after_up_and_a_run(  # type: ignore[no-untyped-def]
    tmp_path: Path, moto_endpoint: str, invoke
) -> None:
    from mlops.composition.lifecycle import local_lake
    from mlops.pipelines.registry import list_runs

    project = scaffold(tmp_path, "clean", git=True)
    assert (project / ".git").exists()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(project), *args], capture_output=True, text=True, check=True
        ).stdout

    assert git("status", "--porcelain") == ""
    try:
        up = invoke("local", "up", "--project", str(project), "--aws-endpoint", moto_endpoint)
        assert up.exit_code == 0, up.output
        run = invoke("pipeline", "run", "--approve", "--project", str(project))
        assert run.exit_code == 0, run.output
        assert git("status", "--porcelain", "--untracked-files=all") == ""
        (record,) = list_runs(local_lake(project))
        assert not record.code_version.endswith("+dirty"), record.code_version
        # What mlops writes at run time is ignored; the records the project keeps are not.
        ignored = ["local.json", "local.lock", "local-endpoint.pid", "serve.log", "pulumi-state/x"]
        for name in ignored:
            assert git("check-ignore", "-q", f".mlops/{name}") == ""
        assert git("check-ignore", "-q", ".ml/models/model.tar.gz") == ""
        for kept in ("answers.yml", "aliases.yml"):
            check = subprocess.run(
                ["git", "-C", str(project), "check-ignore", "-q", f".mlops/{kept}"]
            )
            assert check.returncode == 1, kept
        assert ".mlops/answers.yml" in git("ls-files")
    finally:
        invoke("local", "down", "--project", str(project))


def test_a_python_running_other_code_is_not_taken_for_the_endpoint(  # type: ignore[no-untyped-def]
    tmp_path: Path, invoke
) -> None:
    """`python -c CODE mlops.infra.moto_process --project P`: the words, but not our module."""
    project = scaffold(tmp_path, "othercode")
    with fake_endpoint(project, os.path.realpath(sys.executable), as_module=False) as (
        proc,
        port,
        hits,
    ):
        pose_as_endpoint(project, proc.pid, port)
        assert_refused(project, invoke, proc, hits)


def test_a_sigterm_swallowed_in_a_weakref_callback_still_interrupts_quietly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import weakref

    class Thing:
        pass

    def callback(_: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # the handler runs in here, where Python swallows its interrupt
            pass

    with pytest.raises(KeyboardInterrupt), localmode.terminate_interrupts():
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing  # the callback runs now; its KeyboardInterrupt is "ignored" by Python
        assert ref() is None and localmode._TERMINATED.is_set()
        localmode._raise_if_terminated()  # what `up` calls after the apply
    assert "Traceback" not in capsys.readouterr().err
