"""``mlops doctor --stack S``: the account checks of one stack (quotas, offered types, roles)."""

from __future__ import annotations

from pathlib import Path

from mlops.core import yamlfile
from mlops.core.errors import UserError
from mlops.infra.aws.preflight import Finding, preflight
from mlops.infra.program import stack_config


def stack_preflight(project: Path, stack: str) -> list[Finding]:
    """Check the account the current credentials reach against what ``stack`` declares.

    Raises:
        UserError: no such stack, its config is invalid, or the project is not on AWS.
    """
    import boto3

    from mlops.infra.config import StackConfig

    name, _, values = stack_config(project, stack)
    record = project / ".mlops" / "answers.yml"
    template = yamlfile.load_mapping(record).get("template") if record.is_file() else None
    if template == "k8s":
        raise UserError(
            "the account preflight checks AWS stacks; a Kubernetes project's capacity is its"
            " cluster's (`kubectl describe nodes`, and the namespace's ResourceQuota)"
        )
    config = StackConfig.from_values(name, stack, values)
    session = boto3.Session()
    if session.get_credentials() is None:
        return [
            Finding(
                "credentials",
                False,
                "none found: the preflight reads the target account's quotas and roles",
                "run `aws configure` or `aws sso login`, or set AWS_PROFILE",
            )
        ]
    return preflight(session, config)
