"""``mlops doctor``: what this machine can do, and how to fix what it cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from mlops.cli.options import ProjectOption
from mlops.cli.output import exit_on_error, rich_console

app = typer.Typer()
MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str
    required: bool


def _run(*cmd: str) -> str | None:
    """First line of a command's output, or None if it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0] if proc.returncode == 0 and out else None


def check_python() -> Check:
    """The interpreter is new enough."""
    ok = sys.version_info >= MIN_PYTHON
    return Check(
        "python",
        ok,
        sys.version.split()[0],
        f"install Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer",
        True,
    )


def check_packages() -> list[Check]:
    """The SDKs the platform is built on are installed."""
    from importlib.metadata import PackageNotFoundError, version

    checks = []
    for dist in ("pulumi", "pulumi-aws", "boto3"):
        try:
            checks.append(Check(dist, True, version(dist), "", True))
        except PackageNotFoundError:
            checks.append(Check(dist, False, "missing", f"pip install '{dist}'", True))
    return checks


def check_pulumi(required: bool) -> Check:
    """The Pulumi CLI, needed for preview and deploy (local mode can do without it)."""
    found = _run("pulumi", "version")
    return Check(
        "pulumi CLI",
        found is not None,
        found or "not on PATH",
        "install it: https://www.pulumi.com/docs/install/ (local mode works without it)",
        required,
    )


def check_aws(required: bool) -> Check:
    """AWS credentials and the endpoint they would be used against (no network call)."""
    import boto3

    session = boto3.Session()
    creds = session.get_credentials()
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "AWS (default endpoints)")
    region = session.region_name or "no region"
    if creds is None:
        return Check(
            "aws credentials",
            False,
            f"none found; endpoint {endpoint}",
            "run `aws configure` or `aws sso login`, or set AWS_PROFILE",
            required,
        )
    return Check(
        "aws credentials", True, f"{creds.method}, {region}, endpoint {endpoint}", "", required
    )


def check_docker() -> Check:
    """Docker, to build the training and serving image."""
    engine = _run("docker", "info", "--format", "{{.ServerVersion}}")
    if shutil.which("docker") is None:
        detail = "not on PATH"
    else:
        detail = f"engine {engine}" if engine else "installed, but the engine is unreachable"
    return Check(
        "docker",
        engine is not None,
        detail,
        "install Docker and start its engine (only needed to build images)",
        False,
    )


def check_kind() -> Check:
    """kind, for local mode on Kubernetes (`mlops local up --k8s`)."""
    found = _run("kind", "version")
    return Check(
        "kind",
        found is not None,
        found or "not on PATH",
        "install kind: https://kind.sigs.k8s.io (only for `mlops local up --k8s`)",
        False,
    )


def check_kubectl() -> Check:
    """kubectl, for `mlops local up --k8s` and `pipeline run --executor k8s`."""
    found = _run("kubectl", "version", "--client")  # "Client Version: v1.32.4"
    version = found.rsplit(" ", 1)[-1] if found else ""
    return Check(
        "kubectl",
        found is not None,
        version or "not on PATH",
        "install kubectl: https://kubernetes.io/docs/tasks/tools/ (only for the k8s flavour)",
        False,
    )


def run_checks(deploy: bool) -> list[Check]:
    """Every check, in report order."""
    return [
        check_python(),
        *check_packages(),
        check_pulumi(deploy),
        check_aws(deploy),
        check_docker(),
        check_kind(),
        check_kubectl(),
    ]


@app.command("doctor")
def doctor(
    deploy: Annotated[
        bool,
        typer.Option(
            "--deploy", help="Also require what deploying to AWS needs: Pulumi CLI, credentials."
        ),
    ] = False,
    stack: Annotated[
        str | None,
        typer.Option(
            help="Also check the AWS account against this stack: SageMaker quotas for its"
            " instance types, types offered in its region, the roles it needs (read-only calls)."
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Check Python, the Pulumi CLI, AWS credentials, docker and kind.

    Exits 1 when a required item is missing; each missing item gets a one-line fix. With
    --stack, the account preflight runs too, and a short quota or a missing type fails it.
    """
    from rich.table import Table

    console = rich_console()
    checks = run_checks(deploy)
    table = Table(show_header=True, header_style="bold")
    for column in ("check", "status", "detail"):
        table.add_column(column, overflow="fold")
    for check in checks:
        status = (
            "[green]ok[/]"
            if check.ok
            else ("[red]missing[/]" if check.required else "[yellow]optional[/]")
        )
        table.add_row(check.name, status, check.detail)
    console.print(table)
    for check in checks:
        if not check.ok:
            # One unwrapped line per hint, so commands and URLs stay copyable.
            console.print(f"fix {check.name}: {check.fix}", soft_wrap=True)
    missing = [c.name for c in checks if c.required and not c.ok]
    if stack:
        missing += _preflight(stack, project)
    if missing:
        console.print(f"[red]required and missing:[/] {', '.join(missing)}")
        raise typer.Exit(1)
    console.print("[green]everything required is present[/]")


def _preflight(stack: str, project: Path | None) -> list[str]:
    """Run the stack's account checks, print them; return the names of those that failed."""
    from rich.table import Table

    with exit_on_error():
        from mlops.composition.preflight import stack_preflight
        from mlops.core.project import find_project

        findings = stack_preflight(find_project(project), stack)
    console = rich_console()
    table = Table(show_header=True, header_style="bold", title=f"stack {stack}: the AWS account")
    for column in ("check", "status", "detail"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(f.check, "[green]ok[/]" if f.ok else "[red]failed[/]", f.detail)
    console.print(table)
    for f in findings:
        if not f.ok:
            console.print(f"fix {f.check}: {f.fix}", soft_wrap=True)
    return [f.check for f in findings if not f.ok]
