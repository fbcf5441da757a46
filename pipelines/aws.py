"""Calling AWS: retry what is transient, then fail with an error that says what to do."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError, EndpointConnectionError

from mlops.core.errors import AwsCallFailed

T = TypeVar("T")
THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
}
# IAM changes take seconds to propagate, so a fresh role can be refused briefly.
EVENTUALLY_CONSISTENT = {"AccessDenied", "AccessDeniedException"}
_ACCESS = "Check that the role or user has this permission; new IAM grants take up to a minute."
HINTS = {
    "AccessDenied": _ACCESS,
    "AccessDeniedException": _ACCESS,
    "ResourceLimitExceeded": "Request a quota increase in Service Quotas, or use a smaller type.",
    "ValidationException": "The request was rejected as invalid; check the arguments named above.",
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, EndpointConnectionError):
        return True
    if not isinstance(exc, ClientError):
        return False
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    code = _code(exc)
    return code in THROTTLING or code in EVENTUALLY_CONSISTENT or status >= 500


def call(
    operation: str,
    fn: Callable[..., T],
    *args: Any,
    attempts: int = 5,
    base_delay: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> T:
    """Call ``fn``; retry throttling, AccessDenied and 5xx with jittered exponential backoff.

    Raises:
        AwsCallFailed: a non-retryable error, or a retryable one that outlasted the attempts.
    """
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except (ClientError, EndpointConnectionError) as exc:
            if not _retryable(exc) or attempt == attempts:
                raise _failure(operation, exc, attempt) from exc
            sleep(base_delay * 2 ** (attempt - 1) * (1 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def _failure(operation: str, exc: Exception, attempts: int) -> AwsCallFailed:
    if isinstance(exc, EndpointConnectionError):
        return AwsCallFailed(
            operation,
            "EndpointConnectionError",
            str(exc),
            "Is the endpoint up? For local mode run `mlops local status`.",
        )
    assert isinstance(exc, ClientError)
    code = _code(exc)
    detail = str(exc.response.get("Error", {}).get("Message", exc))
    if _retryable(exc):
        detail += f" (gave up after {attempts} attempts)"
    hint = HINTS.get(code, "Retry later; if it persists, check the AWS service health page.")
    return AwsCallFailed(operation, code, detail, hint)
