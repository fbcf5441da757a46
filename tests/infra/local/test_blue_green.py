"""``UpdateEndpoint`` on local mode is blue/green: a broken canary rolls back, a good one replaces.

A real project on the embedded endpoint: trained, approved and deployed; then updated with the
stack's own canary rollout while a client keeps calling ``invoke_endpoint`` through boto3.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

BROKEN = """

def predict_proba(model, frame):  # deliberately broken by the test: every request fails
    raise RuntimeError("broken model version")
"""


def runtime(url: str) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="any",
        aws_secret_access_key="any",
        config=Config(retries={"max_attempts": 1}),
    )


def pids(project: Path, endpoint: str) -> set[int]:
    registry = json.loads((project / ".mlops/deployments.json").read_text())
    entry = registry["endpoints"][endpoint]
    assert "canary" not in entry  # no update left half done
    return {s["pid"] for v in entry["variants"] for s in v["servers"]}


def running(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.integration
def test_a_broken_canary_rolls_back_and_the_old_model_answers_throughout(
    tmp_path: Path, invoke: Any
) -> None:
    from mlops.composition import deploy as deploying
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.core.errors import RolledBack
    from mlops.infra import localmode
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    name = f"churn-{uuid.uuid4().hex[:8]}"
    project = tmp_path / name
    Scaffold(
        validate_answers({"name": name, "environments": "dev", "ci": "none"}), project, git=False
    ).run()
    assert invoke("local", "up", "--project", str(project)).exit_code == 0
    green: set[int] = set()
    try:
        # Train, approve and deploy in one command.
        first = invoke("pipeline", "run", "--project", str(project), "--approve", "--deploy")
        assert first.exit_code == 0, first.output
        assert "InService" in first.output and "deployed to 1 variant(s)" in first.output
        endpoint = lifecycle_for(project).platform.serving_endpoint
        blue = pids(project, endpoint)
        url = localmode.require_state(project).endpoint
        rows = [
            line.rsplit(",", 1)[0]
            for line in (project / "data/sample.csv").read_text().splitlines()
        ][1:6]
        body = "\n".join(rows).encode()
        rt = runtime(url)
        expected = json.loads(
            rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)[
                "Body"
            ].read()
        )
        # The stack's own rollout: a 30% canary on two server processes per variant, rolled
        # back on more than one 5XX error (the default errors5xxThreshold).
        with (project / "Pulumi.local.yaml").open("a") as stack:
            stack.write(f"  {name}:endpointType: realtime\n")
            stack.write(f"  {name}:rollout: canary\n")
            stack.write(f"  {name}:rolloutStepPercent: 30\n")
            stack.write(f"  {name}:endpointInstanceCount: 2\n")
            stack.write(f"  {name}:autoscalingMax: 3\n")
        train = next(project.glob("*/pipelines/train.py"))
        good = train.read_text()
        train.write_text(good + BROKEN)  # servers started from now on load the broken code

        said: list[str] = []
        outcome: list[BaseException] = []

        def update() -> None:
            try:
                deploying.deploy(project, say=said.append, bake_s=60.0)
            except BaseException as exc:
                outcome.append(exc)

        updating = threading.Thread(target=update)
        updating.start()
        answered, failed = 0, 0
        while updating.is_alive():
            try:
                answer = rt.invoke_endpoint(
                    EndpointName=endpoint, ContentType="text/csv", Body=body
                )
            except rt.exceptions.ModelError:
                failed += 1
                continue
            assert json.loads(answer["Body"].read()) == expected  # the old model's answer
            answered += 1
        updating.join()
        assert len(outcome) == 1 and isinstance(outcome[0], RolledBack), (outcome, said)
        # The stack's alarm: over errors5xxThreshold in both of the last 2 periods (a minute
        # each for the stack's bake; 6 s for this 60 s one).
        assert "5XX errors from the new model in the last 2 periods of 6 s" in str(outcome[0])
        assert any("take 30%" in line for line in said), said
        figures = deploying.fleet_metrics(url, endpoint)
        assert figures is not None
        canary = [f for fleet, f in figures.items() if fleet != "live"]
        # Every failure was a request the canary share sent to the broken version; the old
        # servers answered every other one.
        assert failed > 1 and answered > 0
        assert len(canary) == 1 and canary[0]["errors_5xx"] == failed
        assert canary[0]["invocations"] == failed
        assert figures["live"]["errors_5xx"] == 0
        assert pids(project, endpoint) == blue and all(running(p) for p in blue)
        for _ in range(30):  # after the rollback everything answers, from the old model
            answer = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
            assert json.loads(answer["Body"].read()) == expected

        train.write_text(good)  # a good version replaces the old servers
        sm = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
        fixed = invoke(
            "deploy",
            "--project",
            str(project),
            "--bake-seconds",
            "0.5",
            "--termination-wait-seconds",
            "2",
        )
        assert fixed.exit_code == 0, fixed.output
        assert "take 30%" in fixed.output and "take 100%" in fixed.output
        green = pids(project, endpoint)
        assert len(green) == 2 and not green & blue  # two processes for the variant
        # The old servers wait out the termination wait (the supervisor stops them), the
        # endpoint Updating until they are gone, as SageMaker's blue/green update does.
        assert "Updating until the 1 old one(s) stop" in fixed.output, fixed.output
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Updating"
        assert all(running(p) for p in blue)
        deadline = time.monotonic() + 30
        while any(running(p) for p in blue) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(running(p) for p in blue)
        while time.monotonic() < deadline and (
            sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] != "InService"
        ):
            time.sleep(0.1)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
        sm.close()
        answer = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
        assert json.loads(answer["Body"].read()) == expected
        rt.close()
        status = invoke("local", "status", "--project", str(project))
        assert "2 server process(es) per variant, autoscaling limit 3" in status.output
        assert all(f"pid {pid}" in status.output for pid in green)
    finally:
        down = invoke("local", "down", "--project", str(project))
    assert not any(running(p) for p in green), down.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--deploy deploys the model this run approves: add --approve"),
        (("--approve", "--executor", "sagemaker"), "--deploy deploys to the local stack"),
    ],
)
def test_pipeline_run_deploy_needs_an_approval_on_the_local_stack(
    tmp_path: Path, invoke: Any, args: tuple[str, ...], message: str
) -> None:
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    project = tmp_path / "churn"
    Scaffold(
        validate_answers({"name": "churn", "environments": "dev", "ci": "none"}), project, git=False
    ).run()
    refused = invoke("pipeline", "run", "--project", str(project), "--deploy", *args)
    assert refused.exit_code == 2 and message in refused.output, refused.output
