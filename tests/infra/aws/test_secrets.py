"""Credentials in a stack file may be Pulumi secrets (``secure: v1:...``), as Pulumi writes them.

Offline nothing is decrypted: ``mlops preview`` treats a secure credential as present and
redacted; the program gets a placeholder, marked secret in the runtime, and what it sends on
stays secret. A secure value for a setting that is not a credential is refused by name.

The attack: ``deployWebhookToken`` could not be a secret (preview rejected the ``secure:``
value), so the bearer token had to sit in plain text in ``Pulumi.<stack>.yaml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops.core.errors import ConfigError
from mlops.infra.config import SECRET_PLACEHOLDER, StackConfig
from mlops.infra.k8s.config import K8sConfig
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

CIPHERTEXT = "v1:3qbzG7zGk1Qa2mUu:m0VVGzO9Qp8pV9x5ZJ7XQw=="
WEBHOOK = "https://api.github.com/repos/acme/churn/dispatches"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
BASE = {"aws:region": "us-east-1"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), root, git=False).run()
    return root


@pytest.fixture
def project(generated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "churn"
    shutil.copytree(generated, copy)
    return copy


def set_config(project: Path, stack: str, **values: Any) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update({f"churn:{k}": v for k, v in values.items()})
    path.write_text(yaml.safe_dump(document))


def test_a_secure_webhook_token_previews_as_a_redacted_secret(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    set_config(project, "dev", deployWebhookUrl=WEBHOOK, deployWebhookToken={"secure": CIPHERTEXT})
    text = (project / "Pulumi.dev.yaml").read_text()
    assert f"secure: {CIPHERTEXT}" in text  # as Pulumi writes it
    result = invoke("preview", "--stack", "dev", "--no-tree", "--project", str(project))
    assert result.exit_code == 0, result.output
    assert CIPHERTEXT not in result.output


def test_the_program_gets_a_placeholder_marked_secret(project: Path) -> None:
    from mlops.infra.program import capture

    set_config(project, "dev", deployWebhookUrl=WEBHOOK, deployWebhookToken={"secure": CIPHERTEXT})
    main = project / "infra" / "__main__.py"
    seen = project / "seen.yaml"
    main.write_text(
        main.read_text()
        + "\nimport yaml as _y\n"
        + "from pulumi.runtime import is_config_secret as _s\n"
        + f"Path({str(seen)!r}).write_text(_y.safe_dump({{"
        + "'secret': _s('churn:deployWebhookToken'),"
        + " 'value': config.notifications.deploy_webhook_token,"
        + " 'email': _s('churn:notificationEmail')}))\n"
    )
    program = capture(project, "dev")
    assert yaml.safe_load(seen.read_text()) == {
        "secret": True,
        "value": SECRET_PLACEHOLDER,
        "email": False,
    }
    (connection,) = program.of_type("aws:cloudwatch/eventConnection:EventConnection")
    auth = connection.inputs["authParameters"]
    assert SECRET_SIG in auth, auth  # sent on as a secret
    assert auth["value"]["apiKey"]["value"] == f"Bearer {SECRET_PLACEHOLDER}"
    assert CIPHERTEXT not in str(program.resources)


def test_a_secure_value_for_a_setting_that_is_no_credential_is_refused(
    project: Path, invoke
) -> None:  # type: ignore[no-untyped-def]
    set_config(project, "dev", notificationEmail={"secure": CIPHERTEXT})
    result = invoke("preview", "--stack", "dev", "--no-tree", "--project", str(project))
    assert result.exit_code == 2, result.output
    assert "notificationEmail" in result.output and "not a credential" in result.output
    assert "Traceback" not in result.output and CIPHERTEXT not in result.output


def test_the_config_model_takes_secure_credentials_only() -> None:
    cfg = StackConfig.from_values(
        "churn", "dev", {**BASE, "churn:deployWebhookToken": {"secure": CIPHERTEXT}}
    )
    assert cfg.notifications.deploy_webhook_token == SECRET_PLACEHOLDER
    # Under `pulumi up` the value is decrypted and the key is marked secret: fine for a credential.
    real = StackConfig.from_values(
        "churn",
        "dev",
        {**BASE, "churn:deployWebhookToken": "t0k"},
        secret_keys={"churn:deployWebhookToken"},
    )
    assert real.notifications.deploy_webhook_token == "t0k"
    for values, secret in [
        ({"churn:owner": {"secure": CIPHERTEXT}}, set()),
        ({"churn:owner": "me"}, {"churn:owner"}),
    ]:
        with pytest.raises(ConfigError, match="owner: .*not a credential"):
            StackConfig.from_values("churn", "dev", {**BASE, **values}, secret_keys=secret)


def test_a_malformed_secure_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="deployWebhookToken: .*secure"):
        StackConfig.from_values("churn", "dev", {**BASE, "churn:deployWebhookToken": {"secure": 1}})


def test_the_k8s_flavour_has_no_credential_settings() -> None:
    image = "registry.example.com/churn@sha256:" + "a" * 64
    with pytest.raises(ConfigError, match="irsaRoleArn: .*not a credential"):
        K8sConfig.from_values(
            "churn", "dev", {"churn:image": image, "churn:irsaRoleArn": {"secure": CIPHERTEXT}}
        )


TOKEN = "ghp_" + "x1Y2z3" * 6  # a GitHub token's shape; never real


def test_a_plaintext_credential_in_a_stack_file_is_warned_about(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    """A token in plain text in a committed stack file: a warning naming file, key and fix."""
    set_config(project, "dev", deployWebhookUrl=WEBHOOK, deployWebhookToken=TOKEN)
    path = project / "Pulumi.dev.yaml"
    result = invoke("preview", "--stack", "dev", "--no-tree", "--project", str(project))
    assert result.exit_code == 0, result.output  # a warning, not a failure
    (line,) = [x for x in result.output.splitlines() if x.startswith("warning:")]
    assert str(path) in line and "churn:deployWebhookToken" in line and "plain text" in line
    assert "pulumi config set --secret deployWebhookToken" in line
    assert TOKEN not in result.output  # the warning never repeats the secret
    # With --json the warning stays off stdout (the JSON still parses) and is in the document.
    as_json = invoke("preview", "--stack", "dev", "--json", "--project", str(project))
    import json

    document = json.loads(as_json.stdout)
    assert len(document["stacks"][0]["warnings"]) == 1
    assert "warning:" in as_json.stderr and "warning:" not in as_json.stdout
    # --all (stacks in forked workers) warns once, for the stack that holds it.
    every = invoke("preview", "--all", "--no-tree", "--project", str(project))
    assert [x for x in every.output.splitlines() if x.startswith("warning:")] == [line]


def test_a_secure_or_unset_credential_is_not_warned_about(project: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    for token in ({"secure": CIPHERTEXT}, ""):
        set_config(project, "dev", deployWebhookUrl=WEBHOOK, deployWebhookToken=token)
        result = invoke("preview", "--stack", "dev", "--no-tree", "--project", str(project))
        assert result.exit_code == 0, result.output
        assert "warning:" not in result.output
