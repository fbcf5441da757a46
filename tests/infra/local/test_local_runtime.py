"""The SageMaker runtime API on the embedded endpoint, called the way applications call it.

Every call here goes through boto3's ``sagemaker-runtime`` client (SigV4 signed, botocore's
own parsing of answers and errors) to the embedded endpoint: moto behind the runtime gateway.
Routing and errors are checked against small recording model servers; the end-to-end test
deploys a trained model with ``mlops deploy`` and compares with the artifact's own predictions.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops.infra.local_runtime import (
    MAX_BODY,
    EmbeddedServer,
    RegistryError,
    aws_described_endpoint,
    parse_registry,
    read_registry,
    server_address,
    write_registry,
)


class Recorder:
    """A stand-in model server: answers with its name, records each request it gets."""

    def __init__(self, name: str, status: int = 200, delay: float = 0.0) -> None:
        self.name, self.status, self.delay = name, status, delay
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # headers and body go out in two writes: no Nagle stall
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with recorder.lock:
                    recorder.requests.append({"body": body, "headers": dict(self.headers)})
                time.sleep(recorder.delay)
                if recorder.status >= 400:
                    answer = json.dumps({"error": f"{recorder.name} failed"}).encode()
                else:
                    answer = json.dumps({"variant": recorder.name}).encode()
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                attributes = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
                if attributes:
                    self.send_header("X-Amzn-SageMaker-Custom-Attributes", f"seen={attributes}")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Recorder]]:
    made = {
        "blue": Recorder("blue"),
        "green": Recorder("green"),
        "shadow": Recorder("shadow"),
        "broken": Recorder("broken", status=500),
        "picky": Recorder("picky", status=400),
        "slow": Recorder("slow", delay=1.5),
    }
    yield made
    for recorder in made.values():
        recorder.server.shutdown()
        recorder.server.server_close()


def variant(name: str, url: str, weight: float = 1.0, shadow: bool = False) -> dict[str, Any]:
    return {"name": name, "weight": weight, "urls": [url], "shadow": shadow}


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, servers: dict[str, Recorder]
) -> Iterator[tuple[str, Path]]:
    """The embedded endpoint (moto behind the gateway) with a registry of stand-in servers."""
    registry = tmp_path_factory.mktemp("project") / "deployments.json"
    s = servers
    write_registry(
        registry,
        {
            "endpoints": {
                "ab": {
                    "variants": [
                        variant("blue", s["blue"].url, 0.7),
                        variant("green", s["green"].url, 0.3),
                        variant("shadow", s["shadow"].url, shadow=True),
                    ]
                },
                "broken": {"variants": [variant("primary", s["broken"].url)]},
                "picky": {"variants": [variant("primary", s["picky"].url)]},
                "slow": {"variants": [variant("primary", s["slow"].url)]},
                "elsewhere": {"variants": [variant("primary", "http://10.0.0.1:8080")]},
                "slowshadow": {
                    "variants": [
                        variant("primary", s["blue"].url),
                        variant("shadow", s["slow"].url, shadow=True),
                    ]
                },
                # A blue/green update in flight: the green fleet takes a quarter of requests.
                "bg": {
                    "variants": [variant("primary", s["blue"].url)],
                    "canary": {
                        "id": "update-1",
                        "share": 0.25,
                        "variants": [
                            variant("primary", s["green"].url, 0.5),
                            variant("challenger", s["broken"].url, 0.5),
                        ],
                    },
                },
            }
        },
    )
    server = EmbeddedServer("127.0.0.1", 0, registry, timeout=1.0).start()
    yield server.url, registry
    server.stop()


@pytest.fixture(scope="module")
def client(gateway: tuple[str, Path]) -> Iterator[Any]:
    """One boto3 ``sagemaker-runtime`` client for the module, closed at its end."""
    made = runtime(gateway[0])
    yield made
    made.close()


def runtime(url: str) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="any",  # local mode takes any keys, as moto does
        aws_secret_access_key="any",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=8),
    )


def error(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return exc.value.response


def test_invocations_are_split_by_weight_and_copied_to_the_shadow(
    client: Any, servers: dict[str, Recorder], gateway: tuple[str, Path]
) -> None:
    before = {name: r.count() for name, r in servers.items()}
    invoked: Counter[str] = Counter()
    # 5,000 calls: 3% is over 4.5 standard deviations of a 70/30 split, so chance never fails it.
    total = 5000
    for i in range(total):
        answer = client.invoke_endpoint(
            EndpointName="ab", ContentType="text/csv", Body=f"{i},1,2,3"
        )
        name = json.loads(answer["Body"].read())["variant"]
        assert answer["InvokedProductionVariant"] == name  # the answer names its variant
        invoked[name] += 1
    assert invoked["shadow"] == 0  # the shadow's answer is never returned
    assert abs(invoked["blue"] / total - 0.7) < 0.03, invoked
    assert abs(invoked["green"] / total - 0.3) < 0.03, invoked
    got = {name: servers[name].count() - before[name] for name in ("blue", "green")}
    assert got == dict(invoked)
    deadline = time.monotonic() + 10
    while servers["shadow"].count() - before["shadow"] < total and time.monotonic() < deadline:
        time.sleep(0.05)
    assert servers["shadow"].count() - before["shadow"] == total  # a copy of every request
    # The gateway's figures for the shadow count every copy too (none lost, none refused).
    from mlops.composition.deploy import fleet_metrics

    shadow = (fleet_metrics(gateway[0], "ab") or {}).get("shadow-shadow", {})
    assert shadow.get("invocations", 0) >= total and shadow.get("errors_5xx") == 0
    bodies = {r["body"] for r in servers["shadow"].requests[-total:]}
    assert b"0,1,2,3" in bodies and f"{total - 1},1,2,3".encode() in bodies


def test_target_variant_is_always_honoured(client: Any) -> None:
    for target in ("green", "blue") * 50:
        answer = client.invoke_endpoint(EndpointName="ab", Body=b"1", TargetVariant=target)
        assert json.loads(answer["Body"].read())["variant"] == target
        assert answer["InvokedProductionVariant"] == target


def test_a_blue_green_update_sends_the_canary_share_and_counts_each_fleet_apart(
    client: Any, gateway: tuple[str, Path]
) -> None:
    from mlops.composition.deploy import fleet_metrics

    before = fleet_metrics(gateway[0], "bg") or {}
    answered: Counter[str] = Counter()
    failed = 0
    total = 2000
    for _ in range(total):
        try:
            answer = client.invoke_endpoint(EndpointName="bg", Body=b"1")
        except client.exceptions.ModelError:
            failed += 1  # only the green fleet's broken challenger fails
            continue
        answered[json.loads(answer["Body"].read())["variant"]] += 1
    # A quarter goes to the green fleet, split there by its own weights.
    assert abs((answered["green"] + failed) / total - 0.25) < 0.04, (answered, failed)
    assert abs(failed / (answered["green"] + failed) - 0.5) < 0.1
    figures = fleet_metrics(gateway[0], "bg")
    assert figures is not None
    live = figures["live"]["invocations"] - before.get("live", {}).get("invocations", 0)
    green = figures["update-1"]["invocations"] - before.get("update-1", {}).get("invocations", 0)
    assert live == answered["blue"] and green == answered["green"] + failed
    assert figures["live"]["errors_5xx"] == 0
    assert (
        figures["update-1"]["errors_5xx"] - before.get("update-1", {}).get("errors_5xx", 0)
        == failed
    )
    assert figures["live"]["p99_ms"] is not None
    # A variant only the green fleet has is always reached when targeted.
    for _ in range(20):
        with pytest.raises(client.exceptions.ModelError):
            client.invoke_endpoint(EndpointName="bg", Body=b"1", TargetVariant="challenger")


def test_the_metrics_of_an_endpoint_without_traffic_are_empty(gateway: tuple[str, Path]) -> None:
    from mlops.composition.deploy import fleet_metrics

    assert fleet_metrics(gateway[0], "never-called") == {}
    assert fleet_metrics("http://10.0.0.1:5000", "bg") is None  # never off loopback


def test_inference_id_and_custom_attributes_reach_the_model(
    client: Any, servers: dict[str, Recorder]
) -> None:
    answer = client.invoke_endpoint(
        EndpointName="ab",
        ContentType="text/csv",
        Accept="application/json",
        Body=b"1,2",
        TargetVariant="blue",
        InferenceId="req-42",
        CustomAttributes="trace=abc",
    )
    assert answer["ContentType"] == "application/json"
    assert json.loads(answer["Body"].read()) == {"variant": "blue"}
    assert answer["CustomAttributes"] == "seen=trace=abc"  # the model's own, passed back
    headers = servers["blue"].requests[-1]["headers"]
    assert headers["X-Amzn-SageMaker-Inference-Id"] == "req-42"
    assert headers["X-Amzn-SageMaker-Custom-Attributes"] == "trace=abc"
    assert headers["Content-Type"] == "text/csv" and headers["Accept"] == "application/json"
    assert "Authorization" not in headers  # SageMaker strips what the API does not name


def test_an_unknown_endpoint_or_variant_is_a_validation_error(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationError) as unknown:
        client.invoke_endpoint(EndpointName="nope", Body=b"1")
    assert error(unknown)["Error"]["Code"] == "ValidationError"
    assert error(unknown)["Error"]["Message"] == (
        "Endpoint nope of account 123456789012 not found."
    )
    assert error(unknown)["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(client.exceptions.ValidationError) as bad_variant:
        client.invoke_endpoint(EndpointName="ab", Body=b"1", TargetVariant="purple")
    assert "purple" in error(bad_variant)["Error"]["Message"]
    # A shadow takes no traffic of its own: it cannot be targeted either.
    with pytest.raises(client.exceptions.ValidationError):
        client.invoke_endpoint(EndpointName="ab", Body=b"1", TargetVariant="shadow")


@pytest.mark.parametrize(
    ("endpoint", "status", "kind"), [("broken", 500, "server"), ("picky", 400, "client")]
)
def test_a_model_error_carries_the_original_status_and_message(
    client: Any, endpoint: str, status: int, kind: str
) -> None:
    with pytest.raises(client.exceptions.ModelError) as failed:
        client.invoke_endpoint(EndpointName=endpoint, Body=b"1")
    answer = error(failed)
    assert answer["Error"]["Code"] == "ModelError"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert answer["OriginalStatusCode"] == status
    assert answer["OriginalMessage"] == json.dumps({"error": f"{endpoint} failed"})
    assert answer["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{endpoint}")
    assert answer["Error"]["Message"].startswith(f"Received {kind} error ({status}) from primary")


def test_a_model_that_does_not_answer_in_time_is_a_model_error(client: Any) -> None:
    # The gateway under test waits 1 s (SageMaker: 60 s).
    started = time.monotonic()
    with pytest.raises(client.exceptions.ModelError) as failed:
        client.invoke_endpoint(EndpointName="slow", Body=b"1")
    assert time.monotonic() - started < 1.4
    assert "timed out" in error(failed)["Error"]["Message"]
    assert "OriginalStatusCode" not in error(failed)


def test_a_payload_over_6_mb_is_refused_as_aws_refuses_it(client: Any) -> None:
    with pytest.raises(ClientError) as refused:
        client.invoke_endpoint(EndpointName="ab", Body=b"x" * (MAX_BODY + 1))
    # AWS answers 413 with only a message: botocore raises ClientError with code "413".
    assert error(refused)["Error"]["Code"] == "413"
    assert error(refused)["Error"]["Message"] == "HTTP content length exceeded 6291456 bytes."
    answer = client.invoke_endpoint(EndpointName="ab", Body=b"x" * MAX_BODY, TargetVariant="blue")
    assert answer["InvokedProductionVariant"] == "blue"  # exactly 6 MB passes
    assert json.loads(answer["Body"].read()) == {"variant": "blue"}


def test_servers_off_this_machine_are_never_called(client: Any) -> None:
    with pytest.raises(client.exceptions.ServiceUnavailable):
        client.invoke_endpoint(EndpointName="elsewhere", Body=b"1")


def test_every_other_call_still_reaches_moto(gateway: tuple[str, Path]) -> None:
    url = gateway[0]
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket="still-moto")
    assert "still-moto" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    sagemaker = boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1")
    assert isinstance(sagemaker.list_endpoints()["Endpoints"], list)  # moto's own answer
    s3.close()
    sagemaker.close()


def test_describe_endpoint_answers_in_aws_shape(gateway: tuple[str, Path]) -> None:
    """moto echoes DataCaptureConfig as created ({} without one); AWS answers a summary or none.

    sagemaker-core's ``Endpoint.get`` validates the answer against the API's model and refused
    moto's ``{}`` (``test_runtime_clients.py`` runs it)."""
    sagemaker = boto3.client(
        "sagemaker",
        endpoint_url=gateway[0],
        region_name="us-east-1",
        aws_access_key_id="any",
        aws_secret_access_key="any",
    )
    sagemaker.create_model(
        ModelName="described",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"},
    )
    variants = [
        {
            "VariantName": "primary",
            "ModelName": "described",
            "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large",
        }
    ]
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://capture/endpoint",
        "KmsKeyId": "alias/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    sagemaker.create_endpoint_config(EndpointConfigName="plain", ProductionVariants=variants)
    sagemaker.create_endpoint_config(
        EndpointConfigName="capturing", ProductionVariants=variants, DataCaptureConfig=capture
    )
    sagemaker.create_endpoint(EndpointName="plain", EndpointConfigName="plain")
    sagemaker.create_endpoint(EndpointName="capturing", EndpointConfigName="capturing")
    plain = sagemaker.describe_endpoint(EndpointName="plain")
    assert plain["EndpointStatus"] == "InService" and "DataCaptureConfig" not in plain
    assert sagemaker.describe_endpoint(EndpointName="capturing")["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://capture/endpoint",
        "KmsKeyId": "alias/capture",
    }
    with pytest.raises(ClientError) as unknown:  # moto's error, passed on as it is
        sagemaker.describe_endpoint(EndpointName="no-such-endpoint")
    assert error(unknown)["Error"]["Code"] == "ValidationException"
    sagemaker.close()


def test_a_describe_answer_already_in_aws_shape_is_kept() -> None:
    summary = {
        "EnableCapture": False,
        "CaptureStatus": "Stopped",
        "CurrentSamplingPercentage": 5,
        "DestinationS3Uri": "s3://capture/x",
    }
    described = {"EndpointName": "e", "DataCaptureConfig": summary}
    assert aws_described_endpoint(described, {"InitialSamplingPercentage": 50}) == described


def test_a_registry_edit_is_picked_up_and_a_bad_one_routes_nothing(
    client: Any, gateway: tuple[str, Path], servers: dict[str, Recorder]
) -> None:
    url, registry = gateway
    original = registry.read_text()
    try:
        document = json.loads(original)
        document["endpoints"]["fresh"] = {"variants": [variant("only", servers["green"].url)]}
        write_registry(registry, document)
        answer = client.invoke_endpoint(EndpointName="fresh", Body=b"1")
        assert answer["InvokedProductionVariant"] == "only"
        assert json.loads(answer["Body"].read()) == {"variant": "green"}
        registry.write_text("{not json")
        with pytest.raises(client.exceptions.ValidationError):
            client.invoke_endpoint(EndpointName="ab", Body=b"1")
        # Small, but nested deeper than the JSON parser goes: still a bad registry, not a 500.
        registry.write_text('{"endpoints":' + "[" * 200_000 + "]" * 200_000 + "}")
        with pytest.raises(RegistryError, match="nests too deeply"):
            read_registry(registry)
        with pytest.raises(client.exceptions.ValidationError):
            client.invoke_endpoint(EndpointName="ab", Body=b"1")
    finally:
        registry.write_text(original)
    assert client.invoke_endpoint(EndpointName="ab", Body=b"1")["Body"].read()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1:80",
        "https://127.0.0.1:80",
        "http://127.0.0.1",
        "http://127.0.0.1:80/x",
        "http://u@127.0.0.1:80",
        "file:///etc/passwd",
        42,
    ],
)
def test_only_loopback_http_servers_are_taken_from_the_registry(url: object) -> None:
    assert server_address(url) is None
    document = {"endpoints": {"e": {"variants": [{"name": "v", "urls": [url], "weight": 1}]}}}
    assert parse_registry(document)["e"].variants[0].servers == ()


def test_malformed_registry_entries_are_left_out() -> None:
    good = {"name": "v", "urls": ["http://127.0.0.1:9"], "weight": 1}
    document = {
        "endpoints": {
            "ok": {"variants": [good]},
            "bad name!": {"variants": [good]},
            "neg": {"variants": [{**good, "weight": -1}]},
            "flag": {"variants": [{**good, "weight": True}]},
            "none": {"variants": []},
            "junk": "x",
        }
    }
    assert list(parse_registry(document)) == ["ok"]
    assert parse_registry(["not", "a", "mapping"]) == {}


@pytest.mark.integration
def test_deploy_serves_the_artifact_through_invoke_endpoint(
    tmp_path: Path, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mlops deploy` on the embedded endpoint; boto3 gets the artifact's own predictions."""
    import uuid

    from mlops.composition.lifecycle import lifecycle_for
    from mlops.infra import localmode
    from mlops.infra.local_endpoint import client as local_client
    from mlops.pipelines.model import load_trainer, unpack_with_contract
    from mlops.pipelines.payload import parse_rows
    from mlops.pipelines.registry import find_run
    from mlops.pipelines.serving import ServedModel
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    name = f"churn-{uuid.uuid4().hex[:8]}"
    project = tmp_path / name
    answers = validate_answers({"name": name, "environments": "dev", "ci": "none"})
    Scaffold(answers, project, git=False).run()
    assert invoke("local", "up", "--project", str(project)).exit_code == 0  # embedded endpoint
    try:
        trained = invoke("pipeline", "run", "--project", str(project), "--approve")
        assert trained.exit_code == 0, trained.output
        deployed = invoke("deploy", "--project", str(project))
        assert deployed.exit_code == 0, deployed.output
        assert "deployed: primary 100%" in deployed.output
        life = lifecycle_for(project)
        endpoint = life.platform.serving_endpoint
        state = localmode.require_state(project)
        sagemaker = local_client(state.endpoint, state.region, "sagemaker")
        described = sagemaker.describe_endpoint(EndpointName=endpoint)
        assert described["EndpointStatus"] == "InService"
        rows = [
            line.rsplit(",", 1)[0]
            for line in (project / "data/sample.csv").read_text().splitlines()
        ][1:21]
        body = "\n".join(rows).encode()
        url = sagemaker.meta.endpoint_url
        rt = runtime(url)
        answer = rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
        assert answer["InvokedProductionVariant"] == "primary"
        got = json.loads(answer["Body"].read())["predictions"]
        rt.close()
        # The artifact's own predictions, from the trainer's predict_proba.
        registry = json.loads((project / ".mlops/deployments.json").read_text())
        run_id = registry["endpoints"][endpoint]["variants"][0]["run_id"]
        record = find_run(life.lake, run_id)
        trainer = load_trainer(project, life.platform.package)
        artifact = life.lake.read_uri(record.artifact_uri)
        model = ServedModel.of(trainer, *unpack_with_contract(trainer, artifact), life.contract)
        expected = model.predict(parse_rows(body, "text/csv", model.schema)[0])
        assert got == [round(float(p), 6) for p in expected]
        status = invoke("local", "status", "--project", str(project))
        assert f"endpoint {endpoint}" in status.output and "primary 100%" in status.output
        pid = registry["endpoints"][endpoint]["variants"][0]["servers"][0]["pid"]
        assert f"pid {pid}" in status.output
        # The stack's endpoint config adds a challenger (30%) and a shadow: deploy again.
        arn = registry["endpoints"][endpoint]["variants"][0]["model_package_arn"]
        with (project / "Pulumi.local.yaml").open("a") as stack:
            # As in the cloud: A/B and shadow variants need a realtime endpoint and a primary.
            stack.write(f"  {name}:endpointType: realtime\n")
            stack.write(f'  {name}:modelPackageArn: "{arn}"\n')
            stack.write(f'  {name}:challengerModelPackageArn: "{arn}"\n')
            stack.write(f"  {name}:challengerWeight: 0.3\n")
            stack.write(f'  {name}:shadowModelPackageArn: "{arn}"\n')
        again = invoke("deploy", "--project", str(project))
        assert again.exit_code == 0, again.output
        assert "deployed: primary 70%, challenger 30%, shadow (copies)" in again.output
        assert "stopped the model server at" in again.output  # the old one, once replaced
        assert (
            not Path(f"/proc/{pid}/cmdline").exists()
            or str(project) not in Path(f"/proc/{pid}/cmdline").read_text()
        )
        rt = runtime(url)
        seen = Counter(
            rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)[
                "InvokedProductionVariant"
            ]
            for _ in range(200)
        )
        assert set(seen) == {"primary", "challenger"} and 30 <= seen["challenger"] <= 90, seen
        targeted = rt.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=body, TargetVariant="challenger"
        )
        assert targeted["InvokedProductionVariant"] == "challenger"
        assert json.loads(targeted["Body"].read())["predictions"] == got
        rt.close()
        registry = json.loads((project / ".mlops/deployments.json").read_text())
        pid = registry["endpoints"][endpoint]["variants"][0]["servers"][0]["pid"]
    finally:
        down = invoke("local", "down", "--project", str(project))
    assert "stopped the model server" in down.output, down.output
    assert (
        not Path(f"/proc/{pid}").exists() or "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    )


def test_deploy_refuses_two_names_and_cloud_stacks(invoke: Any, tmp_path: Path) -> None:
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    project = tmp_path / "churn-deploy"
    Scaffold(validate_answers({"name": "churn-deploy"}), project, git=False).run()
    both = invoke("deploy", "--version", "1", "--run", "run-1", "--project", str(project))
    assert both.exit_code == 2 and "--version or --run, not both" in both.output
    cloud = invoke("deploy", "--stack", "prod", "--project", str(project))
    assert cloud.exit_code == 2 and "`pulumi up --stack prod`" in cloud.output
    typo = invoke("deploy", "--stack", "prd", "--project", str(project))
    assert typo.exit_code == 2 and "no stack 'prd'" in typo.output
    assert "did you mean 'prod'" in typo.output and "pulumi up" not in typo.output


def test_rollout_steps_follow_the_stack() -> None:
    from mlops.composition.deploy import Rollout

    assert Rollout(mode="canary", step=0.1).shares() == [0.1, 1.0]
    assert Rollout(mode="linear", step=0.25).shares() == [0.25, 0.5, 0.75, 1.0]
    assert Rollout(mode="linear", step=0.3).shares() == [0.3, 0.6, 0.9, 1.0]
    assert Rollout(mode="all_at_once").shares() == [1.0]


def test_rollout_is_read_from_the_stack_config() -> None:
    from mlops.composition.deploy import Rollout
    from mlops.infra.config import StackConfig

    values = {
        "aws:region": "us-east-1",
        "p:endpointType": "realtime",
        "p:rollout": "canary",
        "p:rolloutStepPercent": 20,
        "p:bakingMinutes": 2,
        "p:endpointInstanceCount": 2,
        "p:autoscalingMax": 3,
        "p:errors5xxThreshold": 4,
        "p:latencyP99Ms": 250,
    }
    rollout = Rollout.of(StackConfig.from_values("p", "local", values))
    assert rollout == Rollout("canary", 0.2, 120.0, 4, 250, 2, 3, stack_bake_s=120.0)
    assert Rollout.of(StackConfig.from_values("p", "local", values), bake_s=1.5).bake_s == 1.5


@pytest.mark.parametrize(
    ("figures", "fires"),
    [
        (None, False),
        # 5XX errors are the per-period alarm's (errors_alarm, test_local_autoscaling.py)
        ({"invocations": 10, "errors_5xx": 9, "p99_ms": 5.0}, False),
        ({"invocations": 12, "errors_5xx": 0, "p99_ms": 501.0}, True),  # slow
        ({"invocations": 12, "errors_5xx": 0, "p99_ms": 500.0}, False),
        ({"invocations": 9, "errors_5xx": 0, "p99_ms": 900.0}, False),  # too few answers yet
    ],
)
def test_the_canary_latency_alarm_is_the_stacks(
    figures: dict[str, Any] | None, fires: bool
) -> None:
    from mlops.composition.deploy import Rollout, canary_alarm

    rollout = Rollout(errors_5xx=1, latency_p99_ms=500)
    assert (canary_alarm(figures, rollout) is not None) is fires


def test_invocations_keep_their_connection_open(gateway: tuple[str, Path]) -> None:
    """One connection answers invocation after invocation (werkzeug alone closes each)."""
    import http.client

    host, port = gateway[0].removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        for _ in range(3):
            conn.request(
                "POST",
                "/endpoints/ab/invocations",
                b"1",
                {"Content-Type": "text/csv", "X-Amzn-SageMaker-Target-Variant": "blue"},
            )
            answer = conn.getresponse()
            assert answer.status == 200 and json.loads(answer.read()) == {"variant": "blue"}
            assert answer.getheader("Connection") is None and not answer.will_close
        first = conn.sock
        conn.request("POST", "/endpoints/ab/invocations", b"1", {"Content-Type": "text/csv"})
        conn.getresponse().read()
        assert conn.sock is first  # the same socket all along
        conn.request("GET", "/_mlops/runtime/metrics/ab")  # anything else: werkzeug's, closed
        assert conn.getresponse().will_close
    finally:
        conn.close()


def test_copies_a_slow_shadow_cannot_take_are_dropped_and_counted(
    client: Any, gateway: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.composition.deploy import fleet_metrics
    from mlops.infra import local_runtime

    # Room for two copies waiting on the slow shadow (1.5 s each); the rest are dropped.
    monkeypatch.setattr(local_runtime, "SHADOW_PENDING_BYTES", 2 * (1 + 1024))
    for _ in range(10):
        answer = client.invoke_endpoint(EndpointName="slowshadow", Body=b"1")
        assert json.loads(answer["Body"].read()) == {"variant": "blue"}  # never waits for it
    figures = (fleet_metrics(gateway[0], "slowshadow") or {})["shadow-shadow"]
    assert figures["dropped"] == 8
    deadline = time.monotonic() + 10
    while figures["invocations"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        figures = (fleet_metrics(gateway[0], "slowshadow") or {})["shadow-shadow"]
    assert figures["invocations"] == 2  # sent (and timed out: this gateway waits 1 s)


@pytest.mark.parametrize(
    "edit",
    [
        {"canary": {"id": "u1", "share": "abc", "variants": []}},
        {"retiring": [{"url": "http://127.0.0.1:9", "pid": 1, "started": 1, "until": "x"}]},
        {"retiring": [{"url": "http://127.0.0.1:9", "pid": 1, "started": 1, "until": 1e300}]},
        {"variants": [{"name": "primary", "weight": "x", "urls": [], "servers": []}]},
    ],
    ids=["share", "until-text", "until-huge", "weight"],
)
def test_status_shows_an_edited_registrys_odd_values_as_unknown(
    tmp_path: Path, edit: dict[str, Any]
) -> None:
    # The registry is untrusted input: a value of the wrong type is shown as `?`, not a crash.
    from mlops.composition.deploy import status_lines
    from mlops.infra.local_runtime import registry_file

    entry = {"endpoint_config": "c", "variants": [], **edit}
    write_registry(registry_file(tmp_path), {"endpoints": {"e": entry}})
    lines = status_lines(tmp_path)
    assert lines[0].startswith("endpoint e (c;") and any("?" in line for line in lines), lines
