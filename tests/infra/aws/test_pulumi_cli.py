"""The reference platform through the real Pulumi CLI, against moto on loopback.

Needs the Pulumi CLI (and its AWS plugin, which it downloads): marked `pulumi_cli` and skipped
when `pulumi` is not on PATH. Generated projects run the same tests in their CI workflow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml
from conftest import REPO

from mlops.infra.local_endpoint import provider_config

ROOT = REPO
pytestmark = [
    pytest.mark.pulumi_cli,
    pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not on PATH"),
]


@pytest.fixture
def project(tmp_path: Path, moto_endpoint: str) -> Path:
    """A copy of the reference project whose `local` stack talks to moto."""
    dest = tmp_path / "project"
    dest.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", dest / "Pulumi.yaml")
    shutil.copytree(ROOT / "infra" / "reference", dest / "infra" / "reference")
    config = {
        "aws:region": "us-east-1",
        "mlops-stack:owner": "ci",
        **provider_config(moto_endpoint),
    }
    (dest / "Pulumi.local.yaml").write_text(yaml.safe_dump({"config": config}))
    return dest


def pulumi(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PULUMI_BACKEND_URL": f"file://{project.parent}",
        "PULUMI_CONFIG_PASSPHRASE": "local-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_preview_and_up_against_moto(project: Path, moto_endpoint: str) -> None:
    assert pulumi(project, "stack", "init", "local").returncode == 0
    preview = pulumi(project, "preview", "--stack", "local")
    assert preview.returncode == 0, preview.stdout + preview.stderr
    up = pulumi(project, "up", "--stack", "local", "--yes", "--skip-preview")
    assert up.returncode == 0, up.stdout + up.stderr
    out = pulumi(project, "stack", "output", "platform", "--json", "--stack", "local")
    platform = json.loads(out.stdout)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(platform["buckets"].values()) <= names
    sm = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert sm.describe_pipeline(PipelineName=platform["pipeline_name"])["PipelineName"]
    destroy = pulumi(project, "destroy", "--stack", "local", "--yes", "--skip-preview")
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
