"""What every pack's CI files share: pinned actions, the Pulumi image, gated deploy order.

Each environment after the first deploys only after the previous one; on GitLab it also waits
for someone to start it, on GitHub for the environment's required reviewers.
"""

from __future__ import annotations

import json
from typing import Any

# Third-party actions pinned to full commit SHAs (the comment names the release), so a moved tag
# cannot change what runs with deploy credentials.
ACTIONS = {
    "checkout": "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
    "setup_python": "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0",
    "aws_credentials": (
        "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2"
    ),
    "pulumi": "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0",
}
GITLAB_PULUMI_IMAGE = "pulumi/pulumi-python:3.150.0"
# GitLab's deployment tiers, by environment.
GITLAB_TIERS = {"dev": "development", "staging": "staging", "prod": "production"}


def github_expression(expression: str) -> str:
    """Write a GitHub Actions expression from a template without escaping it by hand."""
    return "${{ " + expression + " }}"


def ci_context(cloud: list[str]) -> dict[str, Any]:
    """The CI templates' values for the cloud environments ``cloud``, in deploy order."""
    return {
        "cloud_stacks": cloud,
        "cloud_stacks_json": json.dumps(cloud),
        "deploy_jobs": [
            {
                "env": env,
                "needs": f"deploy-{cloud[i - 1]}" if i else "",
                "gitlab_when": "manual" if i else "on_success",
                "tier": GITLAB_TIERS[env],
            }
            for i, env in enumerate(cloud)
        ],
        "actions": ACTIONS,
        "gitlab_pulumi_image": GITLAB_PULUMI_IMAGE,
        "gh": github_expression,
    }
