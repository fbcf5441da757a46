"""Real clients of local mode's runtime API, each getting the artifact's own predictions.

One project is trained, approved and deployed (``mlops pipeline run --approve --deploy``) for
the module; then, besides boto3 (``test_local_runtime.py``):

- the AWS CLI v1, ``aws sagemaker-runtime invoke-endpoint --endpoint-url ...``, from its tool
  venv (``.ci/awscli``, installed by ``scripts/test.sh``; skipped without it);
- the ``sagemaker`` SDK, both majors, each from its tool venv (``.ci/sagemaker``: v3's
  sagemaker-core ``Endpoint.get(...).invoke(...)``, the replacement of the Predictor that 3.x
  removed; ``.ci/sagemaker-v2``: v2's ``Predictor.predict``), run by ``sagemaker_sdk_run.py``
  pointed at local mode only by botocore's ``AWS_ENDPOINT_URL`` (skipped without the venv);
- the generated project's own endpoint test (``tests/test_endpoint.py``), run by its
  ``make test-local`` against local mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from offline_aws import isolate
from typer.testing import CliRunner

from mlops.cli.main import app

REPO = Path(__file__).resolve().parents[3]
AWS = REPO / ".ci" / "awscli" / "bin" / "aws"
SAGEMAKER = {"v3": REPO / ".ci" / "sagemaker", "v2": REPO / ".ci" / "sagemaker-v2"}


@dataclass(frozen=True)
class Deployed:
    project: Path
    endpoint: str
    url: str
    body: bytes
    expected: list[Any]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from mlops.composition.lifecycle import lifecycle_for
    from mlops.infra import localmode
    from mlops.pipelines.model import load_trainer, unpack_with_contract
    from mlops.pipelines.payload import parse_rows
    from mlops.pipelines.registry import find_run
    from mlops.pipelines.serving import ServedModel
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    with pytest.MonkeyPatch.context() as env:  # as the autouse fixture does, for the module
        isolate(env, tmp_path_factory)
        name = f"churn-{uuid.uuid4().hex[:8]}"
        project = tmp_path_factory.mktemp("clients") / name
        answers = validate_answers({"name": name, "environments": "dev", "ci": "none"})
        Scaffold(answers, project, git=False).run()
        assert invoke("local", "up", "--project", str(project)).exit_code == 0
        try:
            done = invoke("pipeline", "run", "--project", str(project), "--approve", "--deploy")
            assert done.exit_code == 0, done.output
            life = lifecycle_for(project)
            endpoint = life.platform.serving_endpoint
            rows = [
                line.rsplit(",", 1)[0]
                for line in (project / "data/sample.csv").read_text().splitlines()
            ][1:11]
            body = "\n".join(rows).encode()
            registry = json.loads((project / ".mlops/deployments.json").read_text())
            run_id = registry["endpoints"][endpoint]["variants"][0]["run_id"]
            trainer = load_trainer(project, life.platform.package)
            artifact = life.lake.read_uri(find_run(life.lake, run_id).artifact_uri)
            model = ServedModel.of(trainer, *unpack_with_contract(trainer, artifact), life.contract)
            # The artifact's own predict_proba, as the model server rounds it.
            expected = [
                round(float(p), 6)
                for p in model.predict(parse_rows(body, "text/csv", model.schema)[0])
            ]
            url = localmode.require_state(project).endpoint
            yield Deployed(project, endpoint, url, body, expected)
        finally:
            invoke("local", "down", "--project", str(project))


@pytest.mark.integration
@pytest.mark.skipif(
    not AWS.exists(), reason="the AWS CLI: scripts/test.sh installs it in .ci/awscli"
)
def test_the_aws_cli_gets_the_artifacts_predictions(deployed: Deployed, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_bytes(deployed.body)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no configuration of this user's is read
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "local",  # local mode takes any keys
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def aws(endpoint: str, out: Path) -> subprocess.CompletedProcess[str]:
        command = [str(AWS), "sagemaker-runtime", "invoke-endpoint", "--endpoint-url"]
        command += [deployed.url, "--endpoint-name", endpoint, "--content-type", "text/csv"]
        command += ["--body", f"fileb://{rows}", str(out)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    answer = tmp_path / "answer.json"
    done = aws(deployed.endpoint, answer)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["InvokedProductionVariant"] == "primary"
    assert json.loads(answer.read_text())["predictions"] == deployed.expected
    unknown = aws("no-such-endpoint", tmp_path / "unknown.json")
    assert unknown.returncode != 0
    assert "(ValidationError)" in unknown.stderr and "no-such-endpoint" in unknown.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    "sdk",
    [
        pytest.param(
            sdk,
            marks=pytest.mark.skipif(
                not (venv / "bin" / "python").exists(),
                reason=f"the sagemaker SDK {sdk}: scripts/test.sh installs it in .ci/{venv.name}",
            ),
        )
        for sdk, venv in SAGEMAKER.items()
    ],
)
def test_the_sagemaker_sdk_gets_the_artifacts_predictions(
    deployed: Deployed, tmp_path: Path, sdk: str
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_bytes(deployed.body)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no configuration of this user's is read (nor the SDK's)
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ACCESS_KEY_ID": "local",  # local mode takes any keys
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": deployed.url,  # the only change to the application: its environment
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    python = SAGEMAKER[sdk] / "bin" / "python"
    driver = Path(__file__).with_name("sagemaker_sdk_run.py")
    done = subprocess.run(
        [str(python), str(driver), sdk, deployed.endpoint, str(rows)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    assert got["remote"] == []  # every call went to local mode, none off this machine
    assert got["predictions"] == deployed.expected
    assert got["targeted"][1] == deployed.expected
    if sdk == "v3":  # the v2 Predictor hands back the body only
        assert got["status"] == "InService" and got["variants"] == ["primary"]
        assert got["variant"] == "primary" and got["targeted"][0] == "primary"
        # Endpoint.get describes through the SageMaker API (moto), as AWS answers it: the
        # control plane's code is ValidationException ("Could not find endpoint ...").
        assert got["unknown_get"]["client_error"], got["unknown_get"]
        assert got["unknown_get"]["code"] == "ValidationException", got["unknown_get"]
        assert "no-such-endpoint" in got["unknown_get"]["message"], got["unknown_get"]
    # The runtime's modelled error, as boto3 raises it against AWS (a ClientError subclass).
    for error, name in (("unknown_endpoint", "no-such-endpoint"), ("unknown_variant", "nope")):
        assert got[error]["class"] == "botocore.errorfactory.ValidationError", got[error]
        assert got[error]["client_error"] and got[error]["code"] == "ValidationError", got[error]
        assert name in got[error]["message"], got[error]


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_generated_projects_endpoint_test_passes_against_local_mode(
    deployed: Deployed,
) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # mlops
    done = subprocess.run(
        ["make", "test-local", f"PYTHON={sys.executable}"],
        cwd=deployed.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout, done.stdout  # run, not skipped
