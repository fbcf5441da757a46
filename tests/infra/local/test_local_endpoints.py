"""Local-endpoint wiring: loopback only, every platform service redirected."""

from __future__ import annotations

import pytest
from platform_runs import platform

from mlops.core.errors import UserError
from mlops.infra.local_endpoint import PLATFORM_SERVICES, provider_config


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:5000", "http://127.8.9.1:1"],
)
def test_loopback_endpoints_are_accepted(url: str) -> None:
    config = provider_config(url)
    assert config["aws:endpoints"] == [{s: url for s in PLATFORM_SERVICES}]
    assert config["aws:skipCredentialsValidation"] is True


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:4566",
        "https://s3.amazonaws.com",
        "http://192.168.1.2:5000",
        "http://example.com",
    ],
)
def test_other_endpoints_are_refused(url: str) -> None:
    with pytest.raises(UserError, match="only talks to loopback endpoints"):
        provider_config(url)


def test_every_service_the_platform_uses_is_redirected() -> None:
    services = {r.type.split(":")[1].split("/")[0] for r in platform("prod").resources if r.custom}
    provider_key = {
        "appautoscaling": "appautoscaling",
        "cloudwatch": "cloudwatch",
        "ecr": "ecr",
        "glue": "glue",
        "iam": "iam",
        "kms": "kms",
        "s3": "s3",
        "sagemaker": "sagemaker",
        "scheduler": "scheduler",
        "sns": "sns",
    }
    assert {provider_key[s] for s in services} <= set(PLATFORM_SERVICES)
    # cloudwatch/* resources span three APIs: metrics, logs and events.
    assert {"logs", "events", "sts"} <= set(PLATFORM_SERVICES)
