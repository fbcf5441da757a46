"""Local mode's endpoint scales and heals as SageMaker's does: a supervisor per endpoint.

The pure parts (target tracking, the rate window, the 5XX alarm's periods) are checked as
functions; the gateway's part (per-variant counts, a refused server skipped, ``Updating``) on
stand-in servers; and the whole on a real project deployed with ``mlops deploy``, loaded
through boto3's ``invoke_endpoint`` with tiny cooldowns: it scales out (never past its
ceiling), back in to its floor, replaces a killed server, ignores an edited registry, and
``mlops local down`` leaves nothing running. Every wait polls with a deadline.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from offline_aws import isolate
from typer.testing import CliRunner

from mlops.cli.main import app
from mlops.infra.local_runtime import EmbeddedServer, free_port, write_registry
from tests.infra.local.test_local_runtime import Recorder, runtime, variant

FLOOR, CEILING = 2, 4


# -- pure parts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_minute", "current", "want"),
    [
        (0.0, 2, 2),  # idle at the floor: stays
        (150.0, 2, 2),  # 75 per process: under the target of 100
        (250.0, 2, 3),  # 125 per process: out to ceil(250 / 100)
        (10_000.0, 2, 4),  # out at once, capped at the ceiling
        (0.0, 4, 3),  # in: one process at a time
        (350.0, 4, 4),  # 3 would take 117 each: stays
        (0.0, 2, 2),  # never under the floor
    ],
)
def test_target_tracking_scales_out_at_once_and_in_one_at_a_time(
    per_minute: float, current: int, want: int
) -> None:
    from mlops.infra.local_supervisor import desired

    assert desired(per_minute, current, 100.0, FLOOR, CEILING) == want


def test_the_rate_is_taken_over_the_sliding_window() -> None:
    from mlops.infra.local_supervisor import Rate

    rate = Rate(window_s=10.0)
    assert rate.per_minute() is None
    rate.add(0.0, 0)
    rate.add(5.0, 50)  # 10 a second
    assert rate.per_minute() == pytest.approx(600.0)
    rate.add(20.0, 50)  # nothing for 15 s: the busy samples left the window
    assert rate.per_minute() == pytest.approx(0.0)
    rate.add(21.0, 10)  # the gateway restarted (its count went down): a new window
    assert rate.per_minute() is None


@pytest.mark.parametrize(
    ("per_period", "fires"),
    [
        ([], False),
        ([5], False),  # one breaching period: the stack's alarm needs 2 of 2
        ([5, 1], False),  # at the threshold (1) is not over it
        ([0, 5, 5], True),
        ([5, 0, 5], False),  # not in the last two running
        ([2, 2], True),
    ],
)
def test_the_5xx_rollback_alarm_is_evaluated_per_period(per_period: list[int], fires: bool) -> None:
    from mlops.composition.deploy import Rollout, errors_alarm

    assert (errors_alarm(per_period, Rollout(errors_5xx=1)) is not None) is fires


def test_the_alarm_period_and_scaling_follow_the_stack() -> None:
    from mlops.composition.deploy import Rollout
    from mlops.infra.config import StackConfig

    values = {
        "aws:region": "us-east-1",
        "p:endpointType": "realtime",
        "p:bakingMinutes": 10,
        "p:terminationWaitMinutes": 3,
        "p:invocationsPerInstance": 40,
    }
    config = StackConfig.from_values("p", "local", values)
    rollout = Rollout.of(config)
    assert rollout.alarm_period_s == 60.0  # the real alarm's minute over the real bake
    assert Rollout.of(config, bake_s=60.0).alarm_period_s == 6.0  # scaled with the bake
    assert rollout.termination_wait_s == 180.0
    assert Rollout.of(config, termination_wait_s=0.0).termination_wait_s == 0.0
    assert rollout.scaling.target == 40.0
    assert (rollout.scaling.out_cooldown_s, rollout.scaling.in_cooldown_s) == (30.0, 120.0)
    quick = Rollout.of(config, scale_out_cooldown_s=1, scale_in_cooldown_s=2, scale_window_s=3)
    assert (quick.scaling.out_cooldown_s, quick.scaling.in_cooldown_s) == (1, 2)
    assert quick.scaling.window_s == 3
    # A local stack stops the old servers at once unless it says otherwise.
    local = StackConfig.from_values("p", "local", {"aws:region": "us-east-1"})
    assert Rollout.of(local).termination_wait_s == 0.0


@pytest.mark.parametrize(
    "change",
    [
        {"aws_endpoint": "http://10.0.0.1:4566"},  # off this machine
        {"variants": [{"name": "primary", "root": "/x", "env": {}, "min": 3, "max": 2}]},
        {"variants": [{"name": "../x", "root": "/x", "env": {}, "min": 1, "max": 2}]},
        {"scaling": {"target": 0, "window_s": 1, "out_cooldown_s": 0, "in_cooldown_s": 0}},
        {"deployment": ""},
    ],
)
def test_a_malformed_supervisor_spec_is_refused(change: dict[str, Any]) -> None:
    from mlops.infra.local_supervisor import Spec

    spec = {
        "deployment": "d1",
        "aws_endpoint": "http://127.0.0.1:4566",
        "scaling": {"target": 1, "window_s": 1, "out_cooldown_s": 0, "in_cooldown_s": 0},
        "variants": [{"name": "primary", "root": "/x", "env": {}, "min": 1, "max": 2}],
    }
    assert Spec.parse(spec, Path("/p"), "e").variants[0].ceiling == 2
    with pytest.raises(ValueError):
        Spec.parse({**spec, **change}, Path("/p"), "e")


# -- the gateway ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[dict[str, Recorder]]:
    made = {"a": Recorder("a"), "b": Recorder("b")}
    yield made
    for recorder in made.values():
        recorder.server.shutdown()
        recorder.server.server_close()


@pytest.fixture
def embedded(tmp_path: Path, stand_ins: dict[str, Recorder]) -> Iterator[tuple[str, Path]]:
    registry = tmp_path / "deployments.json"
    dead = f"http://127.0.0.1:{free_port()}"  # a server that exited: nothing listens
    write_registry(
        registry,
        {
            "endpoints": {
                "two": {
                    "variants": [
                        {
                            **variant("primary", stand_ins["a"].url, 0.5),
                            "urls": [dead, stand_ins["a"].url],
                        },
                        variant("challenger", stand_ins["b"].url, 0.5),
                    ]
                },
            }
        },
    )
    server = EmbeddedServer("127.0.0.1", 0, registry, timeout=5.0).start()
    yield server.url, registry
    server.stop()


def test_the_gateway_counts_invocations_per_variant_and_skips_a_refused_server(
    embedded: tuple[str, Path],
) -> None:
    from mlops.composition.deploy import fleet_metrics

    client = runtime(embedded[0])
    try:
        for _ in range(40):  # the dead server is tried first about half the time
            client.invoke_endpoint(EndpointName="two", Body=b"1", TargetVariant="primary")
        for _ in range(3):
            client.invoke_endpoint(EndpointName="two", Body=b"1", TargetVariant="challenger")
    finally:
        client.close()
    live = (fleet_metrics(embedded[0], "two") or {})["live"]
    assert live["variants"] == {"primary": 40, "challenger": 3}
    assert live["errors_5xx"] == 0  # the refused connection reached no model


def test_describe_endpoint_says_updating_while_an_update_runs(
    embedded: tuple[str, Path], stand_ins: dict[str, Recorder]
) -> None:
    url, registry = embedded
    sm = boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    sm.create_model(
        ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer={}
    )
    production = [
        {
            "VariantName": "primary",
            "ModelName": "m",
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
        }
    ]
    sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=production)
    sm.create_endpoint(EndpointName="two", EndpointConfigName="c")

    def status() -> str:
        described = str(sm.describe_endpoint(EndpointName="two")["EndpointStatus"])
        listed = [e["EndpointStatus"] for e in sm.list_endpoints()["Endpoints"]]
        assert listed == [described]  # ListEndpoints says what DescribeEndpoint says
        return described

    def entry(**extra: Any) -> None:
        values = {"variants": [variant("primary", stand_ins["a"].url)], **extra}
        write_registry(registry, {"endpoints": {"two": values}})

    assert status() == "InService"
    entry(canary={"id": "u1", "share": 0.1, "variants": [variant("primary", stand_ins["b"].url)]})
    assert status() == "Updating"
    entry(retiring=[{"url": stand_ins["b"].url, "pid": 1, "started": 1, "until": 0}])
    assert status() == "Updating"  # until the old fleet is terminated
    entry()
    assert status() == "InService"
    sm.close()


# -- the whole: a deployed project ---------------------------------------------------------


@dataclass
class Local:
    project: Path
    endpoint: str
    url: str
    body: bytes
    invoke: Callable[..., Any]
    seen: set[int]  # every server pid the registry named, to check none outlives `down`

    def entry(self) -> dict[str, Any]:
        registry = json.loads((self.project / ".mlops/deployments.json").read_text())
        entry: dict[str, Any] = registry["endpoints"][self.endpoint]
        return entry

    def primary(self) -> dict[str, Any]:
        found: dict[str, Any] = next(v for v in self.entry()["variants"] if v["name"] == "primary")
        self.seen |= {s["pid"] for s in found["servers"]}
        return found


def running(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def poll(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


class Load:
    """Clients calling ``invoke_endpoint`` in a loop; every answer and error counted."""

    def __init__(self, local: Local, clients: int = 3) -> None:
        self.local, self.stop = local, threading.Event()
        self.answered, self.errors = 0, []  # type: ignore[var-annotated]
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]

    def run(self) -> None:
        client = runtime(self.local.url)
        try:
            while not self.stop.is_set():
                try:
                    answer = client.invoke_endpoint(
                        EndpointName=self.local.endpoint,
                        ContentType="text/csv",
                        Body=self.local.body,
                    )
                    answer["Body"].read()
                    with self.lock:
                        self.answered += 1
                except Exception as exc:  # every failure is a finding
                    with self.lock:
                        self.errors.append(repr(exc))
        finally:
            client.close()

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.infra import localmode
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    with pytest.MonkeyPatch.context() as env:  # as the autouse fixture does, for the module
        isolate(env, tmp_path_factory)
        name = f"churn-{uuid.uuid4().hex[:8]}"
        project = tmp_path_factory.mktemp("scaling") / name
        answers = validate_answers({"name": name, "environments": "dev", "ci": "none"})
        Scaffold(answers, project, git=False).run()
        with (project / "Pulumi.local.yaml").open("a") as stack:
            stack.write(f"  {name}:endpointType: realtime\n")
            stack.write(f"  {name}:endpointInstanceCount: {FLOOR}\n")
            stack.write(f"  {name}:autoscalingMax: {CEILING}\n")
            stack.write(f"  {name}:invocationsPerInstance: 60\n")  # 1 a second per process
        assert invoke("local", "up", "--project", str(project)).exit_code == 0
        try:
            done = invoke("pipeline", "run", "--project", str(project), "--approve")
            assert done.exit_code == 0, done.output
            deployed = invoke(
                "deploy",
                "--project",
                str(project),
                "--scale-out-cooldown-seconds",
                "0.5",
                "--scale-in-cooldown-seconds",
                "1",
                "--scale-window-seconds",
                "2",
            )
            assert deployed.exit_code == 0, deployed.output
            assert "supervisor pid" in deployed.output, deployed.output
            rows = [
                line.rsplit(",", 1)[0]
                for line in (project / "data/sample.csv").read_text().splitlines()
            ][1:3]
            yield Local(
                project,
                lifecycle_for(project).platform.serving_endpoint,
                localmode.require_state(project).endpoint,
                "\n".join(rows).encode(),
                invoke,
                set(),
            )
        finally:
            invoke("local", "down", "--project", str(project))


@pytest.mark.integration
def test_under_load_a_variant_scales_out_to_its_ceiling_and_back_to_its_floor(
    local: Local,
) -> None:
    assert len(local.primary()["servers"]) == FLOOR
    counts: list[int] = []
    began = time.monotonic()
    with Load(local) as load:

        def scaled_out() -> bool:
            counts.append(len(local.primary()["servers"]))
            return counts[-1] > FLOOR

        assert poll(scaled_out), local.primary()
        out_s = time.monotonic() - began
        assert poll(lambda: len(local.primary()["servers"]) == CEILING or load.errors != [])
        counts.append(len(local.primary()["servers"]))
    print(f"scaled out {FLOOR} -> {counts[-1]} in {out_s:.1f} s under {load.answered} invocations")
    assert "scaled out" in local.primary()["last_action"]
    idle = time.monotonic()

    def at_floor() -> bool:
        counts.append(len(local.primary()["servers"]))
        return counts[-1] == FLOOR

    assert poll(at_floor), local.primary()
    print(f"scaled back in to {FLOOR} in {time.monotonic() - idle:.1f} s once idle")
    assert "scaled in" in local.primary()["last_action"]
    assert max(counts) <= CEILING
    assert load.errors == [] and load.answered > 0


@pytest.mark.integration
def test_a_killed_server_is_replaced_and_invocations_keep_succeeding(local: Local) -> None:
    import os
    import signal

    from mlops.infra.local_supervisor import server_ours

    victim = local.primary()["servers"][0]
    assert server_ours(local.project, victim)  # one we started: verified before the signal
    with Load(local, clients=2) as load:
        time.sleep(0.3)
        os.killpg(victim["pid"], signal.SIGKILL)

        def replaced() -> bool:  # (the load may scale it out meanwhile too)
            servers = local.primary()["servers"]
            return len(servers) >= FLOOR and victim["pid"] not in {s["pid"] for s in servers}

        assert poll(replaced), local.primary()
        time.sleep(0.5)  # and it answers
    assert load.errors == [] and load.answered > 0
    assert "replaced" in local.primary()["last_action"]
    assert all(server_ours(local.project, s) for s in local.primary()["servers"])


@pytest.mark.integration
def test_status_shows_processes_limits_pids_and_the_supervisor(local: Local) -> None:
    from mlops.infra.local_supervisor import find_supervisors

    (supervisor,) = find_supervisors(local.project)
    assert local.entry()["supervisor"]["pid"] == supervisor[0]
    # Idle: back at the floor, as the supervisor published it (alone on an xdist worker, this
    # test can come before the supervisor's first publication, which adds `last_action`).
    assert poll(
        lambda: len(local.primary()["servers"]) == FLOOR and "last_action" in local.primary()
    )
    primary = local.primary()
    status = local.invoke("local", "status", "--project", str(local.project))
    assert status.exit_code == 0, status.output
    assert f"supervisor: pid {supervisor[0]} (running)" in status.output, status.output
    pids = ", ".join(str(s["pid"]) for s in primary["servers"])
    assert (
        f"{FLOOR} process(es) (min {FLOOR}, max {CEILING}), pids {pids}; last scaling action:"
        in status.output
    ), status.output
    action = primary["last_action"] or "none yet"  # scaled in, after the kill test's load
    assert f"last scaling action: {action}" in status.output


@pytest.mark.integration
def test_an_edited_registry_is_ignored_and_local_down_stops_all_but_what_it_names(
    local: Local,
) -> None:
    import os
    import signal

    from mlops.core.process import start_time
    from mlops.infra.local_supervisor import find_supervisors

    # Not ours to signal: a process of this user that is no model server nor supervisor.
    foreign = subprocess.Popen(["sleep", "120"])
    try:
        path = local.project / ".mlops/deployments.json"
        registry = json.loads(path.read_text())
        entry = registry["endpoints"][local.endpoint]
        stranger = {
            "url": "http://10.0.0.1:8080",
            "pid": foreign.pid,
            "started": start_time(foreign.pid),
            "log": "/x",
        }
        entry["variants"][0]["urls"].append(stranger["url"])
        entry["variants"][0]["servers"].append(stranger)
        entry["retiring"] = [{**stranger, "until": 0}]
        entry["supervisor"] = {"pid": foreign.pid, "started": start_time(foreign.pid)}
        write_registry(path, registry)
        # The supervisor publishes what it runs at its next change: kill one of its servers.
        victim = next(s for s in local.primary()["servers"] if s["pid"] != foreign.pid)
        os.killpg(victim["pid"], signal.SIGKILL)

        def republished() -> bool:
            primary = local.primary()
            return stranger["url"] not in primary["urls"] and len(primary["servers"]) >= FLOOR

        assert poll(republished), local.entry()
        assert "retiring" not in local.entry()  # its own list (empty), not the edit's
        assert foreign.poll() is None and running(foreign.pid)
        assert len(find_supervisors(local.project)) == 1  # still supervising

        # `local status` shows the recorded supervisor as NOT running; `local down` stops the
        # real one (found, verified) and every server, never the stranger the registry names.
        # The supervisor may still republish (a change it was making when the edit landed):
        # the edit is written again until status reads it.
        shown: list[str] = []

        def status_reads_the_edit() -> bool:
            write_registry(path, registry)
            status = local.invoke("local", "status", "--project", str(local.project))
            shown[:] = [status.output]
            return f"{stranger['url']}, pid {foreign.pid}" in status.output

        assert poll(status_reads_the_edit), shown
        assert f"supervisor: pid {foreign.pid} (NOT running)" in shown[0], shown[0]
        assert f"{stranger['url']}, pid {foreign.pid} (NOT running)" in shown[0]
        local.seen.discard(foreign.pid)
        supervisors = [pid for pid, _ in find_supervisors(local.project)]
        down = local.invoke("local", "down", "--project", str(local.project))
        assert down.exit_code == 0, down.output
        assert foreign.poll() is None and running(foreign.pid), down.output
        assert find_supervisors(local.project) == []
        assert supervisors and local.seen
        assert not any(running(pid) for pid in [*supervisors, *local.seen]), down.output
    finally:
        foreign.kill()
        foreign.wait()
