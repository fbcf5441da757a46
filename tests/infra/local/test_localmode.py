"""Local mode: the embedded endpoint's life cycle, the bootstrap path, and its guard rails."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest

from mlops.core.errors import UserError
from mlops.infra import localmode
from mlops.infra.bootstrap import UnsupportedResourceError, apply
from mlops.infra.mock_runtime import MockedProgram, MockedResource
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "churn-local"
    Scaffold(
        validate_answers({"name": "churn-local", "environments": "dev", "ci": "none"}),
        dest,
        git=False,
    ).run()
    return dest


def test_up_status_down_with_the_embedded_endpoint(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("local", "up", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert "started the embedded AWS endpoint (moto) at http://127.0.0.1:" in result.output
    assert "no Pulumi CLI on PATH" in result.output or "pulumi up" in result.output
    state = localmode.load_state(project)
    assert state is not None and state.pid > 0 and localmode.reachable(state.endpoint)
    s3 = boto3.client(
        "s3",
        endpoint_url=state.endpoint,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    assert set(state.platform["buckets"].values()) <= {
        b["Name"] for b in s3.list_buckets()["Buckets"]
    }

    status = invoke("local", "status", "--project", str(project), "--json")
    info = json.loads(status.output)
    assert (
        info["up"] and info["reachable"] and info["path"] == "bootstrap" and info["resources"] > 50
    )

    again = invoke("local", "up", "--project", str(project))  # idempotent: nothing new
    assert again.exit_code == 0 and "0 resources created" in again.output
    assert localmode.load_state(project).endpoint == state.endpoint  # type: ignore[union-attr]

    down = invoke("local", "down", "--project", str(project))
    assert down.exit_code == 0 and "stopped the embedded AWS endpoint" in down.output
    # Here the endpoint is this test's child, so reap it (the CLI's parent does that in use).
    assert os.waitpid(state.pid, 0)[0] == state.pid
    assert not localmode.reachable(state.endpoint)
    assert invoke("local", "status", "--project", str(project)).exit_code == 3


def test_a_stack_outside_us_east_1_comes_up_in_its_region(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    # S3 refuses a bucket outside us-east-1 without its location constraint, and the topics,
    # alarms and pipelines are called by ARNs that must name the region they were made in.
    stack = project / "Pulumi.local.yaml"
    stack.write_text(
        stack.read_text().replace('aws:region: "us-east-1"', 'aws:region: "eu-west-1"')
    )
    result = invoke("local", "up", "--project", str(project))
    assert result.exit_code == 0, result.output
    state = localmode.load_state(project)
    assert state is not None and state.region == "eu-west-1"
    try:
        keys = {"aws_access_key_id": "t", "aws_secret_access_key": "t"}
        s3 = boto3.client("s3", endpoint_url=state.endpoint, region_name="eu-west-1", **keys)
        for bucket in state.platform["buckets"].values():
            assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
        sns = boto3.client("sns", endpoint_url=state.endpoint, region_name="eu-west-1", **keys)
        topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
        assert topics and all(":eu-west-1:" in arn for arn in topics)
    finally:
        assert invoke("local", "down", "--project", str(project)).exit_code == 0
        os.waitpid(state.pid, 0)


def test_a_failed_up_stops_the_endpoint_it_started(
    project: Path, invoke, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    started: list[int] = []
    real_start = localmode.start_embedded

    def start(project: Path, timeout: float = 30.0) -> tuple[str, int]:
        endpoint, pid = real_start(project, timeout)
        started.append(pid)
        return endpoint, pid

    def broken(*_: object, **__: object) -> None:
        raise UserError("the bootstrap broke half way")

    monkeypatch.setattr(localmode, "start_embedded", start)
    monkeypatch.setattr("mlops.infra.bootstrap.apply", broken)
    result = invoke("local", "up", "--project", str(project))
    assert result.exit_code == 2 and "the bootstrap broke half way" in result.output
    # Nothing was recorded, so nothing could ever stop an endpoint left running: it is stopped.
    assert "stopped the embedded AWS endpoint" in result.output
    (pid,) = started
    import time

    deadline = time.monotonic() + 10  # it exited (reaped here: it is this test's child)
    while os.waitpid(pid, os.WNOHANG)[0] != pid:
        if time.monotonic() > deadline:
            os.killpg(pid, 9)
            pytest.fail(f"the endpoint {pid} started by the failed up still runs")
        time.sleep(0.05)
    assert localmode.load_state(project) is None


def test_a_kubernetes_project_is_sent_to_kind_before_anything_starts(
    tmp_path: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    dest = tmp_path / "churn-k8s"
    Scaffold(
        validate_answers({"name": "churn-k8s", "environments": "dev", "ci": "none"}, "k8s"),
        dest,
        template="k8s",
        git=False,
    ).run()
    result = invoke("local", "up", "--project", str(dest))
    assert (
        result.exit_code == 2 and "is a Kubernetes project: `mlops local up --k8s`" in result.output
    )
    assert "started the embedded" not in result.output
    assert localmode.load_state(dest) is None


def test_an_existing_loopback_endpoint_is_used_as_is(
    project: Path, moto_endpoint: str, invoke
) -> None:  # type: ignore[no-untyped-def]
    result = invoke("local", "up", "--project", str(project), "--aws-endpoint", moto_endpoint)
    assert result.exit_code == 0, result.output
    state = localmode.load_state(project)
    assert state is not None and state.endpoint == moto_endpoint and state.pid == 0
    down = invoke("local", "down", "--project", str(project))
    assert "stay on the external endpoint" in down.output
    assert localmode.reachable(moto_endpoint)  # not ours to stop


@pytest.mark.parametrize(
    "endpoint", ["http://10.1.2.3:4566", "https://sagemaker.us-east-1.amazonaws.com"]
)
def test_non_loopback_endpoints_are_refused(project: Path, endpoint: str, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("local", "up", "--project", str(project), "--aws-endpoint", endpoint)
    assert result.exit_code == 2 and "only talks to loopback endpoints" in result.output
    assert localmode.load_state(project) is None


def test_not_a_project(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("local", "up", "--project", str(tmp_path))
    assert result.exit_code == 2 and "is not inside an mlops project" in result.output


def test_unsupported_types_fail_before_any_call(moto_endpoint: str) -> None:
    program = MockedProgram(
        resources=[
            MockedResource(
                "aws:s3/bucket:Bucket", "fine", {"bucket": "fine-bucket"}, "", False, False, True
            ),
            MockedResource("aws:rds/instance:Instance", "db", {}, "", False, False, True),
        ]
    )
    with pytest.raises(
        UnsupportedResourceError, match="does not support aws:rds/instance:Instance"
    ):
        apply(program, moto_endpoint, "us-east-1")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert "fine-bucket" not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    with pytest.raises(UserError, match="loopback"):
        apply(program, "http://192.168.0.10:5000", "us-east-1")


def test_pulumi_config_for_the_cli_path_points_every_service_at_the_endpoint() -> None:
    commands = localmode.pulumi_config_commands(
        "http://127.0.0.1:5000", {"modelPackageArn": "arn:x"}
    )
    flat = [" ".join(c) for c in commands]
    assert (
        "config set --stack local --path aws:endpoints[0].sagemaker http://127.0.0.1:5000" in flat
    )
    assert "config set --stack local aws:skipCredentialsValidation true" in flat
    assert flat[-1] == "config set --stack local modelPackageArn arn:x"


def test_an_endpoint_that_does_not_answer_is_named_with_a_fix(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import socket

    dest = tmp_path / "quiet"
    Scaffold(validate_answers({"name": "quiet", "ci": "none"}), dest, git=False).run()
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = invoke(
        "local", "up", "--project", str(dest), "--aws-endpoint", f"http://127.0.0.1:{port}"
    )
    assert result.exit_code == 2
    assert f"nothing answers at http://127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output and localmode.load_state(dest) is None


def test_two_stacks_of_one_project_apply_to_one_account(moto_endpoint: str) -> None:
    from mlops.infra.aws import MLPlatform
    from mlops.infra.bootstrap import apply
    from mlops.infra.config import StackConfig
    from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program

    def program() -> dict:  # type: ignore[type-arg]
        cfg = StackConfig.load()
        return {"platform": MLPlatform(cfg.name_prefix, cfg).platform}

    created, collided = {}, {}
    for stack in ("dev", "staging"):
        captured = run_program(
            program,
            project="twostacks",
            stack=stack,
            config={"aws:region": "us-east-1"},
            invokes=CALLER_IDENTITY,
        )
        # One account (one endpoint): nothing of one stack may collide with the other's, the
        # account-wide SageMaker log groups included (no stack creates those any more).
        # (The bootstrap takes "already exists" as done, for re-runs; `pulumi up` would fail on
        # it, so any such answer here is a collision.)
        reported: list[tuple[int, int]] = []

        def note(done: int, total: int, _what: str, seen: list[tuple[int, int]] = reported) -> None:
            seen.append((done, total))

        applied = apply(captured, moto_endpoint, "us-east-1", progress=note)
        created[stack], collided[stack] = sum(applied.created.values()), applied.skipped
        # Progress counts every resource of the graph, in order, and ends at the total.
        total = len(captured.resources)
        assert reported == [(i, total) for i in range(total + 1)]
    assert collided == {"dev": 0, "staging": 0}
    assert created["dev"] == created["staging"] > 50


def test_one_local_mode_command_at_a_time(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import threading

    from mlops.core.errors import UserError

    dest = tmp_path / "locked"
    Scaffold(validate_answers({"name": "locked", "ci": "none"}), dest, git=False).run()
    holding, release = threading.Event(), threading.Event()

    def first() -> None:
        with localmode.exclusive(dest):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert holding.wait(10)
        with pytest.raises(UserError, match="another `mlops local` command is running"):
            localmode.up(dest, lock_timeout=0.3)
        assert localmode.load_state(dest) is None  # the second caller changed nothing
    finally:
        release.set()
        thread.join()
    with localmode.exclusive(dest, timeout=1):  # released: the next caller proceeds
        pass


def test_status_fails_when_the_recorded_endpoint_does_not_answer(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import socket

    dest = tmp_path / "gone"
    Scaffold(validate_answers({"name": "gone", "ci": "none"}), dest, git=False).run()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    localmode.save_state(
        dest,
        localmode.LocalState(f"http://127.0.0.1:{port}", "us-east-1", "bootstrap", external=True),
    )
    localmode.record_external(dest, f"http://127.0.0.1:{port}")
    result = invoke("local", "status", "--project", str(dest))
    assert result.exit_code == 4
    assert "nothing answers there" in result.output and "mlops local up" in result.output


def test_up_notices_an_endpoint_that_lost_the_stack_and_rebuilds_it(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    dest = tmp_path / "restarted"
    Scaffold(validate_answers({"name": "restarted", "ci": "none"}), dest, git=False).run()
    try:
        assert (
            invoke("local", "up", "--project", str(dest), "--aws-endpoint", endpoint).exit_code == 0
        )
        # moto restarted on the same port: it answers, but holds nothing any more.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        again = invoke("local", "up", "--project", str(dest))
        assert again.exit_code == 0, again.output
        assert "no longer holds this stack's lake" in again.output
        assert "0 resources created" not in again.output
        run = invoke("pipeline", "run", "--project", str(dest))
        assert run.exit_code == 0, run.output  # no NoSuchBucket: the lake is there again
    finally:
        invoke("local", "down", "--project", str(dest))
        server.stop()


def sleeper(word: str):  # type: ignore[no-untyped-def]
    """A process with ``word`` on its command line, returned once it has exec'd."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", word])
    deadline = time.monotonic() + 10
    while word.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


def test_a_pid_names_one_process_only_with_its_start_time(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]

    from mlops.core.process import start_time, verified

    # A process whose command line looks like the endpoint's: only its start time tells.
    impostor = sleeper("mlops.infra.moto_process")
    try:
        started = start_time(impostor.pid)
        assert started > 0
        assert verified(impostor.pid, started, "mlops.infra.moto_process")
        assert not verified(impostor.pid, started + 1, "mlops.infra.moto_process")
        assert not verified(impostor.pid, started, "mlops", "serve")
        dest = tmp_path / "reused"
        Scaffold(validate_answers({"name": "reused", "ci": "none"}), dest, git=False).run()
        state = localmode.LocalState(
            "http://127.0.0.1:9", "us-east-1", "bootstrap", impostor.pid, started + 1
        )
        localmode.save_state(dest, state)
        result = invoke("local", "down", "--project", str(dest))
        assert result.exit_code == 0 and "nothing signalled" in result.output
        assert impostor.poll() is None  # still running: never signalled
    finally:
        impostor.kill()
        impostor.wait()


def test_a_reused_port_is_not_taken_for_our_endpoint(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mlops.core.process import listens_on, start_time

    class Foreign(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    foreign = ThreadingHTTPServer(("127.0.0.1", 0), Foreign)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    port = foreign.server_address[1]
    assert listens_on(os.getpid(), port) is True
    assert listens_on(os.getpid(), port + 1 if port < 65535 else port - 1) is False
    dest = tmp_path / "foreign"
    Scaffold(validate_answers({"name": "foreign", "ci": "none"}), dest, git=False).run()
    # The recorded endpoint process lives on (its command line and start time check out), but
    # another program (this test) holds and answers on the recorded port.
    stray = sleeper("mlops.infra.moto_process")
    localmode.save_state(
        dest,
        localmode.LocalState(
            f"http://127.0.0.1:{port}", "us-east-1", "bootstrap", stray.pid, start_time(stray.pid)
        ),
    )
    try:
        status = invoke("local", "status", "--project", str(dest))
        assert status.exit_code == 4
        assert "not from the embedded endpoint this project started" in status.output
        up = invoke("local", "up", "--project", str(dest))
        assert up.exit_code == 0, up.output
        assert "not from the embedded endpoint this project started" in up.output
        state = localmode.load_state(dest)
        assert state is not None and state.endpoint != f"http://127.0.0.1:{port}"
        assert invoke("local", "status", "--project", str(dest)).exit_code == 0
    finally:
        down = invoke("local", "down", "--project", str(dest))
        assert "stopped the embedded AWS endpoint" in down.output
        state_pid = [int(w) for w in down.output.replace(")", " ").split() if w.isdigit()]
        for pid in state_pid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        foreign.shutdown()
        foreign.server_close()
        stray.kill()
        stray.wait()


def test_the_bootstrap_reconciles_created_changed_and_removed_resources(
    moto_endpoint: str,
) -> None:
    import copy
    import dataclasses

    from mlops.infra.aws import MLPlatform
    from mlops.infra.config import StackConfig
    from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program

    def program() -> dict:  # type: ignore[type-arg]
        cfg = StackConfig.load()
        return {"platform": MLPlatform(cfg.name_prefix, cfg).platform}

    import uuid

    first = run_program(
        program,
        project=f"reconciled{uuid.uuid4().hex[:6]}",
        stack="dev",
        config={"aws:region": "us-east-1"},
        invokes=CALLER_IDENTITY,
    )
    before = apply(first, moto_endpoint, "us-east-1")
    assert not before.updated and not before.deleted

    def client(service: str):  # type: ignore[no-untyped-def]
        from mlops.infra.local_endpoint import client as local_client

        return local_client(moto_endpoint, "us-east-1", service)

    alarms = first.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    changed_alarm, removed_alarm = alarms[0], alarms[1]
    groups = first.of_type("aws:cloudwatch/logGroup:LogGroup")
    removed_group = groups[0]
    buckets = {b.name.rsplit("-", 1)[1]: b for b in first.of_type("aws:s3/bucket:Bucket")}
    # (moto writes access logs into the logs bucket, so that one is never empty)
    empty_bucket, full_bucket = buckets["features"], buckets["curated"]
    # (moto enforces the TLS-only policy on this plain-HTTP endpoint: lift it to write)
    client("s3").delete_bucket_policy(Bucket=full_bucket.name)
    client("s3").put_object(Bucket=full_bucket.name, Key="keep.csv", Body=b"data")
    role = first.of_type("aws:iam/role:Role")[0]
    role_name = role.inputs.get("name", role.name)

    # The next version of the program: one alarm's threshold and a role's trust changed, an
    # alarm, a log group and two buckets (with what hangs off them) gone, one log group new.
    gone = {removed_alarm.name, removed_group.name}
    for bucket in (empty_bucket, full_bucket):
        gone |= {
            r.name
            for r in first.resources
            if r.name == bucket.name or r.inputs.get("bucket") == bucket.name
        }
    trust = json.loads(role.inputs["assumeRolePolicy"])
    trust["Statement"][0]["Sid"] = "TrustChanged"
    resources = []
    for r in first.resources:
        if r.name in gone:
            continue
        if r.name == changed_alarm.name:
            r = dataclasses.replace(r, inputs={**r.inputs, "threshold": 99.0})
        if r.name == role.name:
            r = dataclasses.replace(r, inputs={**r.inputs, "assumeRolePolicy": json.dumps(trust)})
        resources.append(r)
    added = dataclasses.replace(
        copy.deepcopy(removed_group), name="new-logs", inputs={"name": f"/mlops/{uuid.uuid4()}"}
    )
    second = MockedProgram([*resources, added], first.result)

    after = apply(second, moto_endpoint, "us-east-1", done=before.done)
    assert after.created == {"aws:cloudwatch/logGroup:LogGroup": 1}
    assert after.updated == {
        "aws:cloudwatch/metricAlarm:MetricAlarm": 1,
        "aws:iam/role:Role": 1,
    }
    assert after.deleted["aws:cloudwatch/metricAlarm:MetricAlarm"] == 1
    assert after.deleted["aws:cloudwatch/logGroup:LogGroup"] == 1
    assert after.deleted["aws:s3/bucket:Bucket"] == 1  # the empty one
    assert after.kept == [full_bucket.name]  # holds data: left in place, named
    assert set(after.done) == {r.name for r in second.resources}

    cw = client("cloudwatch")
    thresholds = {a["AlarmName"]: a["Threshold"] for a in cw.describe_alarms()["MetricAlarms"]}
    assert thresholds[changed_alarm.inputs["name"]] == 99.0
    assert removed_alarm.inputs["name"] not in thresholds
    logs = {g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]}
    assert added.inputs["name"] in logs and removed_group.inputs["name"] not in logs
    names = {b["Name"] for b in client("s3").list_buckets()["Buckets"]}
    assert empty_bucket.name not in names and full_bucket.name in names
    document = client("iam").get_role(RoleName=role_name)["Role"]
    assert "TrustChanged" in json.dumps(document["AssumeRolePolicyDocument"])

    again = apply(second, moto_endpoint, "us-east-1", done=after.done)
    assert not again.created and not again.updated and not again.deleted  # settled


def test_a_failing_program_is_named_by_its_line_before_anything_starts(
    project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    main = project / "infra" / "__main__.py"
    line = main.read_text().count("\n") + 1
    main.write_text(main.read_text() + "raise RuntimeError('half-written change')\n")
    result = invoke("local", "up", "--project", str(project))
    assert result.exit_code == 2
    assert f"the program of stack 'local' failed at infra/__main__.py:{line}:" in result.output
    assert "unexpected" not in result.output and "started the embedded" not in result.output
    assert localmode.load_state(project) is None


def test_up_again_applies_changed_hyperparameters_to_the_pipeline_and_the_state(
    local_project: Path, moto_endpoint: str, invoke
) -> None:  # type: ignore[no-untyped-def]
    # The cloud bakes hyperparameters into the pipeline definition at `pulumi up`; local mode's
    # `up` must do the same each time it runs, or an edited Pulumi.local.yaml would never count.
    import yaml

    path = local_project / "Pulumi.local.yaml"
    stack = yaml.safe_load(path.read_text())
    name = yaml.safe_load((local_project / "Pulumi.yaml").read_text())["name"]
    state = localmode.load_state(local_project)
    assert state is not None and state.platform["hyperparameters"] == {}
    assert localmode.hyperparameters(local_project) == {}

    stack["config"][f"{name}:hyperparameters"] = {"C": 0.25, "max_iter": 50}
    path.write_text(yaml.safe_dump(stack, sort_keys=False))
    assert localmode.hyperparameters(local_project) == {"C": 0.25, "max_iter": 50}
    result = invoke("local", "up", "--project", str(local_project), "--aws-endpoint", moto_endpoint)
    assert result.exit_code == 0, result.output
    assert "1 updated" in result.output, result.output  # the pipeline, changed in place
    state = localmode.load_state(local_project)
    assert state is not None and state.platform["hyperparameters"] == {"C": 0.25, "max_iter": 50}
    sagemaker = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name=state.region)
    described = sagemaker.describe_pipeline(PipelineName=state.platform["pipeline_name"])
    definition = json.loads(described["PipelineDefinition"])
    (train,) = [s for s in definition["Steps"] if s["Type"] == "Training"]
    assert train["Arguments"]["HyperParameters"] == {"C": "0.25", "max_iter": "50"}


def test_hyperparameters_in_the_stack_file_are_a_mapping_or_a_json_object(
    project: Path,
) -> None:
    path = project / "Pulumi.local.yaml"
    text = path.read_text()
    path.write_text(text + "  churn-local:hyperparameters: '{\"C\": 2}'\n")
    assert localmode.hyperparameters(project) == {"C": 2}
    path.write_text(text + "  churn-local:hyperparameters: '[1, 2]'\n")
    with pytest.raises(UserError, match="hyperparameters must be a mapping"):
        localmode.hyperparameters(project)
