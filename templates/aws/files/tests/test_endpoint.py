"""The stack's endpoint, invoked the way the application calls it: boto3's sagemaker-runtime.

Skipped unless an endpoint is configured:

- ``make test-local`` runs it against local mode, after ``mlops local up`` and ``mlops deploy``
  (or ``mlops pipeline run --approve --deploy``): local mode answers ``InvokeEndpoint`` with the
  deployed model, on 127.0.0.1;
- CI's deploy workflow runs it after each ``pulumi up``, against the endpoint just deployed
  (staging before prod), with the deploy role's credentials (``PLATFORM_OUTPUTS`` is the stack's
  ``platform`` output); ``ENDPOINT_NAME`` names one by hand.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from mlops.pipelines.data import DataContract

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.endpoint


def endpoint() -> tuple[str, dict[str, Any]]:
    """The endpoint's name and the client's settings; skips when none is configured."""
    local = os.environ.get("MLOPS_LOCAL_STATUS")
    if local is not None:  # `make test-local`: `mlops local status --json`
        status = json.loads(local or "{}")
        names = list(status.get("deployed") or {})
        if not status.get("up") or not names:
            pytest.skip("local mode has no deployed endpoint: `mlops local up`, `mlops deploy`")
        settings = {
            "endpoint_url": status["endpoint"],
            "region_name": status.get("region") or "us-east-1",
            "aws_access_key_id": "local",  # local mode takes any keys
            "aws_secret_access_key": "local",
        }
        return names[0], settings
    platform = json.loads(os.environ.get("PLATFORM_OUTPUTS") or "{}")
    name = os.environ.get("ENDPOINT_NAME") or platform.get("endpoint_name") or ""
    if not name:
        pytest.skip("no endpoint configured (ENDPOINT_NAME, or the deploy's PLATFORM_OUTPUTS)")
    return name, {}


def sample_rows(count: int = 5) -> list[str]:
    """A few rows of the sample data, features only, in the contract's order (CSV)."""
    contract = DataContract.load(ROOT / "data" / "contract.yaml")
    with (ROOT / "data" / "sample.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    return [",".join(row[name] for name in contract.features) for row in rows]


def test_the_endpoint_answers_invoke_endpoint() -> None:
    name, settings = endpoint()
    runtime = boto3.client(
        "sagemaker-runtime", config=Config(retries={"max_attempts": 3}), **settings
    )
    rows = sample_rows()
    answer = runtime.invoke_endpoint(
        EndpointName=name,
        ContentType="text/csv",
        Accept="application/json",
        Body="\n".join(rows).encode(),
    )
    assert answer["InvokedProductionVariant"]  # the variant that answered
    predictions = json.loads(answer["Body"].read())["predictions"]
    assert len(predictions) == len(rows)  # one prediction per row
    with pytest.raises(runtime.exceptions.ModelError):  # a row the model refuses: its error
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=b"not,a,row")
