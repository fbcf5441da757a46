"""The CLI shell: fast help, version, doctor, and one exit-code policy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlops.cli.commands import doctor as doctor_cmd

# pydantic is not listed: Typer itself imports it (typer/_adapters.py) when an app runs.
HEAVY = ("pulumi", "pulumi_aws", "boto3", "botocore", "sagemaker", "jinja2", "yaml")


@pytest.mark.parametrize("argv", [["--help"], ["version"], ["init", "--help"]])
def test_help_and_version_do_not_import_heavy_modules(argv: list[str]) -> None:
    code = (
        "import sys, json\n"
        "from mlops.cli.main import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_version(invoke) -> None:  # type: ignore[no-untyped-def]
    result = invoke("version")
    assert result.exit_code == 0
    assert result.output.startswith("mlops-stack 0.1.0")


def test_init_help_explains_every_option(invoke) -> None:  # type: ignore[no-untyped-def]
    text = invoke("init", "--help").output
    for option in (
        "--dest",
        "--template",
        "--answers",
        "--no-input",
        "--force",
        "--dry-run",
        "--no-git",
        "--region",
        "--framework",
        "--training-instance-type",
        "--spot",
        "--endpoint",
        "--environments",
        "--ci",
        "--owner",
        "--cost-center",
    ):
        assert option in text, option


def test_doctor_reports_each_item_with_a_fix(invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(doctor_cmd, "_run", lambda *cmd: None)  # no pulumi, docker or kind
    result = invoke("doctor")
    assert result.exit_code == 0, result.output  # none of those is required by default
    for item in (
        "python",
        "pulumi-aws",
        "pulumi CLI",
        "aws credentials",
        "docker",
        "kind",
        "kubectl",
    ):
        assert item in result.output
    assert "https://www.pulumi.com/docs/install/" in result.output


def test_doctor_deploy_requires_pulumi_and_fails_without_it(invoke, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(doctor_cmd, "_run", lambda *cmd: None)
    result = invoke("doctor", "--deploy")
    assert result.exit_code == 1
    assert "required and missing: pulumi CLI" in result.output


def test_doctor_finds_a_present_pulumi(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(doctor_cmd, "_run", lambda *cmd: "v3.150.0" if cmd[0] == "pulumi" else None)
    check = doctor_cmd.check_pulumi(required=True)
    assert check.ok and check.detail == "v3.150.0"


def test_doctor_without_credentials_says_how_to_fix(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    check = doctor_cmd.check_aws(required=True)
    assert not check.ok and "aws configure" in check.fix


def test_an_unexpected_error_is_one_line_unless_debug(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from mlops.cli.commands import version as version_cmd
    from mlops.cli.main import app
    from mlops.cli.output import DEBUG

    def broken() -> str:
        raise KeyError("surprise")

    monkeypatch.setattr(version_cmd, "package_version", broken)
    monkeypatch.setitem(DEBUG, "on", False)
    plain = CliRunner().invoke(app, ["version"])
    assert plain.exit_code == 1
    assert "error: unexpected KeyError: 'surprise'" in plain.output
    assert "mlops --debug" in plain.output and "Traceback" not in plain.output
    debug = CliRunner().invoke(app, ["--debug", "version"])
    assert isinstance(debug.exception, KeyError)  # --debug lets it through, traceback and all


def test_a_closed_pipe_ends_the_command_quietly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # `mlops ... | head -1`: the reader goes away; no traceback, the conventional status 141.
    import subprocess
    import sys
    from pathlib import Path

    mlops = Path(sys.executable).parent / "mlops"
    proc = subprocess.Popen(
        [str(mlops), "templates", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes anything
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr and stderr == ""
