"""What every test runs under: fake AWS credentials, no profile, a state folder of its own.

No test may reach a real AWS account, nor write this user's state (~/.local/state/mlops). The
autouse fixture in conftest.py applies it per test; a module-scoped fixture that brings local
mode up once for its module applies it for the module.
"""

from __future__ import annotations

import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def isolate(env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Set the fake credentials and a fresh state folder in ``env``; unset the AWS profile."""
    for key, value in CREDENTIALS.items():
        env.setenv(key, value)
    env.delenv("AWS_PROFILE", raising=False)
    env.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
