"""Shared helpers: inline file trees, byte-exact snapshots, the CLI runner, fake AWS creds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from offline_aws import isolate
from typer.testing import CliRunner

from mlops.cli.main import app

Snapshot = dict[str, tuple[str, bytes | str, int]]


def build_file_tree(root: Path, spec: dict[str, str | bytes]) -> Path:
    """Write ``{relative path: content}`` under ``root`` (as copier's tests do)."""
    for rel, content in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root``: kind, bytes (or link target) and mode; links not followed."""
    result: Snapshot = {}
    if not os.path.lexists(root):
        return result
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                result[rel] = ("link", str(path.readlink()), info.st_mode)
            elif stat.S_ISDIR(info.st_mode):
                result[rel] = ("dir", b"", info.st_mode)
            else:
                result[rel] = ("file", path.read_bytes(), info.st_mode)
    return result


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(cli: CliRunner):  # type: ignore[no-untyped-def]
    def run(*args: str):  # type: ignore[no-untyped-def]
        return cli.invoke(app, list(args), catch_exceptions=False)

    return run


@pytest.fixture(autouse=True)
def aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test may reach a real AWS account, nor write this user's state (~/.local/state/mlops)."""
    isolate(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="session")
def moto_endpoint():  # type: ignore[no-untyped-def]
    """A real AWS-compatible HTTP endpoint (moto) on loopback, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def lake(moto_endpoint: str):  # type: ignore[no-untyped-def]
    """A fresh lake (one bucket per zone) on the session's moto server."""
    import uuid

    import boto3

    from mlops.pipelines.lake import Lake

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    buckets = {zone: f"{zone}-{suffix}" for zone in ("raw", "curated", "features", "artifacts")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    return Lake(s3, buckets)


@pytest.fixture
def sagemaker(moto_endpoint: str):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")


# The repository's root: tests live in folders by part (tests/templates, tests/infra/aws, ...).
REPO = Path(__file__).resolve().parent.parent
SAMPLE_PROJECT_FILES = REPO / "templates" / "common" / "files"
SAMPLE_CSV = SAMPLE_PROJECT_FILES / "data" / "sample.csv"
CONTRACT_YAML = SAMPLE_PROJECT_FILES / "data" / "contract.yaml"


@pytest.fixture
def local_project(tmp_path: Path, moto_endpoint: str, invoke):  # type: ignore[no-untyped-def]
    """A fresh project (dev stack, no CI) with local mode up on the session's moto endpoint.

    Each gets a unique name: the endpoint, and so every lake, is shared by the whole session.
    """
    import uuid

    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    name = f"churn-{uuid.uuid4().hex[:8]}"
    dest = tmp_path / name
    Scaffold(
        validate_answers({"name": name, "environments": "dev", "ci": "none"}), dest, git=False
    ).run()
    up = invoke("local", "up", "--project", str(dest), "--aws-endpoint", moto_endpoint)
    assert up.exit_code == 0, up.output
    yield dest
    invoke("local", "down", "--project", str(dest))


# MLflow from its own tool venv (scripts/test.sh installs it): tests that need a real server
# take this fixture and skip, saying why, where the venv is absent.
MLFLOW = REPO / ".ci" / "mlflow" / "bin" / "mlflow"


@pytest.fixture(scope="session")
def mlflow_server(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real ``mlflow server`` on 127.0.0.1 for the session: SQLite in a temp dir, artifacts
    in a bucket of the session's moto endpoint; stopped (and verified stopped) at the end."""
    import time
    import uuid

    import boto3

    from mlops.infra.local_mlflow import is_ours, start_server, stop_server

    if not MLFLOW.exists():
        pytest.skip("mlflow server: scripts/test.sh installs MLflow 3.17.2 in .ci/mlflow")
    bucket = f"mlflow-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    env = {
        "MLFLOW_S3_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    began = time.perf_counter()
    server = start_server(str(MLFLOW), tmp_path_factory.mktemp("mlflow"), f"s3://{bucket}", env)
    MLFLOW_FIGURES["server_start_s"] = time.perf_counter() - began
    yield server
    assert stop_server(server) and not is_ours(server)


MLFLOW_FIGURES: dict[str, float] = {}
