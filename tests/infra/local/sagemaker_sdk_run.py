"""Run by test_runtime_clients.py with a sagemaker SDK tool venv's python: the SDK as a client.

Usage: python sagemaker_sdk_run.py v3|v2 ENDPOINT ROWS_FILE  (prints one JSON line, last)

Written as an application written for AWS is: nothing here names local mode. Where the calls go
comes from botocore's own configuration (``AWS_ENDPOINT_URL``, set by the test), as the region
and keys do. v3 is sagemaker-core's ``Endpoint.get(...).invoke(...)``, the replacement of the
Predictor that sagemaker 3.x removed; v2 is ``sagemaker.predictor.Predictor.predict``. Both use
the SDK's CSV serializer and JSON deserializer. Every connection and name lookup the process
makes off this machine is recorded (an audit hook) and reported as ``remote``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOOPBACK = {"127.0.0.1", "::1", "localhost", b"127.0.0.1", b"::1", b"localhost"}
remote: list[str] = []


def _guard(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.getaddrinfo" and args[0] is not None and args[0] not in LOOPBACK:
        remote.append(f"lookup {args[0]!r}")
    elif event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOOPBACK:
        remote.append(f"connect {args[1]!r}")


def _error(call: Callable[[], Any]) -> dict[str, Any]:
    """The exception a call raises, as the application catching it sees it."""
    try:
        call()
    except Exception as exc:  # the class the SDK raises is what is reported
        from botocore.exceptions import ClientError

        response = getattr(exc, "response", {}) or {}
        return {
            "class": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "client_error": isinstance(exc, ClientError),
            "code": response.get("Error", {}).get("Code"),
            "message": str(exc),
        }
    return {"class": None}


def v3(endpoint: str, rows: str) -> dict[str, Any]:
    from sagemaker.core.deserializers import JSONDeserializer
    from sagemaker.core.resources import Endpoint
    from sagemaker.core.serializers import CSVSerializer

    found = Endpoint.get(endpoint)
    found.serializer, found.deserializer = CSVSerializer(), JSONDeserializer()
    answer = found.invoke(body=rows, content_type="text/csv", accept="application/json")
    targeted = found.invoke(body=rows, content_type="text/csv", target_variant="primary")
    unknown = Endpoint(endpoint_name="no-such-endpoint")
    return {
        "status": found.endpoint_status,
        "variants": [v.variant_name for v in found.production_variants],
        "predictions": answer.body["predictions"],
        "variant": answer.invoked_production_variant,
        "targeted": [targeted.invoked_production_variant, targeted.body["predictions"]],
        "unknown_variant": _error(
            lambda: found.invoke(body=rows, content_type="text/csv", target_variant="nope")
        ),
        "unknown_endpoint": _error(lambda: unknown.invoke(body=rows, content_type="text/csv")),
        "unknown_get": _error(lambda: Endpoint.get("no-such-endpoint")),
    }


def v2(endpoint: str, rows: str) -> dict[str, Any]:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import CSVSerializer

    def predictor(name: str) -> Any:
        return Predictor(name, serializer=CSVSerializer(), deserializer=JSONDeserializer())

    found = predictor(endpoint)
    # The v2 Predictor returns the deserialized body only: no InvokedProductionVariant.
    return {
        "predictions": found.predict(rows)["predictions"],
        "targeted": [None, found.predict(rows, target_variant="primary")["predictions"]],
        "unknown_variant": _error(lambda: found.predict(rows, target_variant="nope")),
        "unknown_endpoint": _error(lambda: predictor("no-such-endpoint").predict(rows)),
    }


def main() -> None:
    sdk, endpoint, rows = sys.argv[1], sys.argv[2], Path(sys.argv[3]).read_text()
    sys.addaudithook(_guard)
    result = {"v3": v3, "v2": v2}[sdk](endpoint, rows)
    print(json.dumps({**result, "remote": remote}))


if __name__ == "__main__":
    main()
