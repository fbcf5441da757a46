"""What a generated project's README tells its reader is true.

Every `mlops ...` command it names exists (with the options it shows), every `make` target it
names is in the rendered Makefile, the names of logs, dashboards and alarms are the ones the
components create, and the k8s pack's README speaks of its own platform only.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
import typer
from typer.testing import CliRunner

from mlops.cli.main import app

PACKS = ("aws", "k8s")
CIS = ("none", "github", "gitlab")
NAME = "churn"


@pytest.fixture(scope="module", params=list(itertools.product(PACKS, CIS)), ids="-".join)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pack, ci = request.param
    dest = tmp_path_factory.mktemp(f"{pack}-{ci}") / NAME
    args = ["init", NAME, "--template", pack, "--ci", ci, "--no-input", "--no-git"]
    result = CliRunner().invoke(app, [*args, "--dest", str(dest)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return dest


def code_of(markdown: str) -> list[str]:
    """The README's code: fenced blocks line by line, and inline spans (joined over lines)."""
    fenced = re.findall(r"^```[a-z]*\n(.*?)^```", markdown, flags=re.S | re.M)
    prose = re.sub(r"^```[a-z]*\n.*?^```", "", markdown, flags=re.S | re.M)
    lines = [line.split("  #")[0] for block in fenced for line in block.splitlines()]
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    return [text for text in lines + spans if text.strip()]


def mlops_commands(markdown: str) -> list[list[str]]:
    """Each `mlops ...` invocation the README shows, as its words up to a shell separator."""
    found = []
    for text in code_of(markdown):
        for match in re.finditer(r"(?:^|[\s(])mlops ((?:[^\s#&;|)]+ ?)+)", text):
            found.append(match.group(1).split())
    return found


def resolve(words: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """The command path the words name, its command, and the options given to it."""
    command: click.Command = typer.main.get_command(app)
    path: list[str] = []
    rest = list(words)
    while isinstance(command, click.Group) and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    options = [w.split("=")[0] for w in rest if w.startswith("--")]
    return path, command, options


def test_every_mlops_command_the_readme_names_exists(rendered: Path) -> None:
    commands = mlops_commands((rendered / "README.md").read_text())
    assert len(commands) >= 8, commands  # the local loop, approving, updates...
    runner = CliRunner()
    for words in commands:
        path, command, options = resolve(words)
        assert path and not isinstance(command, click.Group), f"mlops {' '.join(words)}"
        helped = runner.invoke(app, [*path, "--help"], catch_exceptions=False)
        assert helped.exit_code == 0, f"mlops {' '.join(path)} --help: {helped.output}"
        known = {name for param in command.params for name in param.opts}
        if command.context_settings.get("allow_extra_args"):  # `init`: the pack's answers
            known |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", helped.output))
        for option in options:
            assert option in known, f"mlops {' '.join(words)}: no option {option}"


def test_every_make_target_the_readme_names_is_in_the_makefile(rendered: Path) -> None:
    makefile = (rendered / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    named = {
        target
        for text in code_of((rendered / "README.md").read_text())
        for target in re.findall(r"(?:^|[\s(/])make ([a-z][a-z0-9-]*)", text)
    }
    assert {"train", "serve", "up"} <= named, named
    assert named <= targets, f"not in the Makefile: {sorted(named - targets)}"


@pytest.fixture(scope="module")
def aws_readme(tmp_path_factory: pytest.TempPathFactory) -> str:
    dest = tmp_path_factory.mktemp("aws") / NAME
    args = ["init", NAME, "--no-input", "--no-git", "--dest", str(dest)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return (dest / "README.md").read_text()


def test_the_aws_readme_names_the_logs_dashboard_and_alarms_the_stack_creates(
    aws_readme: str,
) -> None:
    from mlops.infra.aws.endpoint import rollback_alarm_specs
    from mlops.infra.aws.monitoring import MonitoringArgs, alarm_specs
    from mlops.infra.aws.resource_names import (
        PROCESSING_LOG_GROUP,
        TRAINING_LOG_GROUP,
        PlatformNames,
    )
    from mlops.infra.aws.settings import AlarmSettings, MonitoringSettings

    names = PlatformNames(f"{NAME}-<stack>")
    args: Any = MonitoringArgs(
        names=names,
        tags={},
        account_id="123456789012",
        region="us-east-1",
        partition="aws",
        key_arn="k",
        pipeline_arn="p",
        start_role_arn="r",
        endpoint=True,
        alarms=AlarmSettings(invocation_drop_alarm=True),
        monitoring=MonitoringSettings(drift_threshold=0.3),
    )
    alarms = [f"{names.prefix}-{spec.key}" for spec in alarm_specs(args)]
    endpoint_args: Any = SimpleNamespace(names=names, alarms=AlarmSettings())
    alarms += [f"{names.endpoint}-{spec.key}" for spec in rollback_alarm_specs(endpoint_args)]
    assert len(alarms) == 8
    for name in [
        *alarms,
        names.endpoint_log_group,
        TRAINING_LOG_GROUP,
        PROCESSING_LOG_GROUP,
        names.model_package_group,
    ]:
        assert f"`{name}`" in aws_readme or f"{name} " in aws_readme, name
    assert f"CloudWatch dashboard `{names.prefix}`" in aws_readme
    # The gate's documented behaviour is the one the code has: a failed gate registers nothing.
    assert "if it beats the approved" not in aws_readme
    assert "A candidate that fails registers\nnothing" in aws_readme
    assert "In the cloud there is no deploy or rollback command" in aws_readme
    # The local loop deploys and invokes its endpoint the way the tool does.
    assert "mlops deploy " in aws_readme and "invoke_endpoint(EndpointName=" in aws_readme
    assert f'EndpointName="{NAME}-local-endpoint"' in aws_readme


@pytest.fixture(scope="module")
def k8s_readme(tmp_path_factory: pytest.TempPathFactory) -> str:
    dest = tmp_path_factory.mktemp("k8s") / NAME
    args = ["init", NAME, "--template", "k8s", "--no-input", "--no-git", "--dest", str(dest)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return (dest / "README.md").read_text()


def test_the_k8s_readme_is_its_own_and_names_its_monitoring(k8s_readme: str) -> None:
    from mlops.infra.k8s.monitoring import MonitoringArgs, alert_rules

    for word in ("SageMaker", "CloudWatch", "aws ", "modelPackageArn"):
        assert word not in k8s_readme, word
    service = f"{NAME}-server"
    rules = [rule["alert"] for rule in alert_rules(MonitoringArgs(namespace="ns", service=service))]
    for name in [*rules, f"{service}-alerts", f"{service}-dashboard", f"{service}-drift"]:
        assert f"`{name}`" in k8s_readme or f"{name} " in k8s_readme, name
    assert f"kubectl logs -n <namespace> deployment/{service}-stable" in k8s_readme
    # The registry is MLflow's: approval moves @champion; the port-forward reaches its Service.
    assert "no model registry" not in k8s_readme and "@champion" in k8s_readme
    assert "svc/<namespace>-mlflow 5000:5000" in k8s_readme
