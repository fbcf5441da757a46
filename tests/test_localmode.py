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
from mlops.infra.testing import MockedProgram, MockedResource
from mlops.templates.answers import validate_answers
from mlops.templates.engine import Scaffold

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
    from mlops.infra.testing import CALLER_IDENTITY, run_program

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
        applied = apply(captured, moto_endpoint, "us-east-1")
        created[stack], collided[stack] = sum(applied.created.values()), applied.skipped
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
        dest, localmode.LocalState(f"http://127.0.0.1:{port}", "us-east-1", "bootstrap")
    )
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
