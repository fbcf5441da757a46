"""Point the AWS provider at a local endpoint (moto or LocalStack), as pulumilocal does."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any
from urllib.parse import urlparse

from mlops.core.errors import UserError

# Every AWS service the platform's resources call, by the provider's `endpoints` key.
PLATFORM_SERVICES = (
    "appautoscaling",
    "cloudwatch",
    "ecr",
    "events",
    "glue",
    "iam",
    "kms",
    "logs",
    "s3",
    "sagemaker",
    "scheduler",
    "sns",
    "sts",
)


def is_loopback(url: str) -> bool:
    """Whether ``url`` is an http(s) URL whose host is on this machine.

    127.0.0.0/8, ::1 or ``localhost``; no user info (``http://127.0.0.1@evil``) and a valid port.
    """
    try:
        parts = urlparse(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return False
    host = parts.hostname or ""
    try:
        return host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(url: str) -> None:
    """Refuse any endpoint that is not on this machine.

    Raises:
        UserError: the URL's host is not a loopback address (or ``localhost``).
    """
    if not is_loopback(url):
        raise UserError(f"local mode only talks to loopback endpoints; refusing {url}")


def client(endpoint: str, region: str, service: str) -> Any:
    """A boto3 client for a local endpoint, with the fake credentials local endpoints accept."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def provider_config(url: str) -> dict[str, Any]:
    """``aws:*`` config for a stack whose AWS calls all go to ``url`` with fake credentials."""
    require_loopback(url)
    return {
        "aws:accessKey": "test",
        "aws:secretKey": "test",
        "aws:skipCredentialsValidation": True,
        "aws:skipRequestingAccountId": True,
        "aws:skipMetadataApiCheck": True,
        "aws:s3UsePathStyle": True,
        "aws:endpoints": [{service: url for service in PLATFORM_SERVICES}],
    }
