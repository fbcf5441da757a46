"""What every pack's CI files share: pinned actions, the Pulumi image, gated deploy order.

Deploys run only in the pipeline that tested and built the same commit: on GitHub, ``deploy.yml``
calls ``ci.yml`` (tests and the image) as its first job and every deploy job ``needs`` it; on
GitLab, the first deploy ``needs`` the test and image jobs. The image job is the only one that
can write to the registry; it hands the pushed image's digest to the first deploy as a job
output, and each deploy hands it on to the next, so every environment runs the same bytes.
Each environment after the first deploys only after the previous one; on GitLab it also waits
for someone to start it, on GitHub for the environment's required reviewers (prod's deploy
job refuses to run when its environment has none).
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
    "setup_uv": "astral-sh/setup-uv@e92bafb6253dcd438e0484186d7669ea7a8ca1cc # v6.4.3",
    "setup_buildx": "docker/setup-buildx-action@e468171a9de216ec08956ac3ada2f0791b6bd435 # v3.11.1",
    "build_push": "docker/build-push-action@263435318d21b8e681c14492fe198d362a7d2c83 # v6.18.0",
    "docker_login": "docker/login-action@74a5d142397b4f367a81961eba4e8cd7edddf772 # v3.4.0",
    "ecr_login": "aws-actions/amazon-ecr-login@062b18b96a7aff071d4dc91bc00c4c1a7945b076 # v2.0.1",
}
GITLAB_PULUMI_IMAGE = "pulumi/pulumi-python:3.150.0"
# GitLab's image job: the Docker CLI (with buildx) beside a Docker daemon of the same release.
GITLAB_DOCKER_IMAGE = "docker:28.3.3"
# Environments whose GitHub deploy job checks, before `pulumi up`, that the environment has
# required reviewers: a workflow file cannot create that protection, so it refuses without it.
PROTECTED = frozenset({"prod"})
# The pinned dependencies CI installs from (`make lock` writes it, `make lock-check` guards it).
LOCK_FILE = "requirements.lock"
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
                # GitHub: the first deploy needs the called CI workflow (tests, image); each
                # later one needs the one before, which hands on the digest it deployed.
                "needs": f"deploy-{cloud[i - 1]}" if i else "ci",
                "digest_from": f"deploy-{cloud[i - 1]}" if i else "ci",
                # GitLab: dotenv variables reach only jobs that list their producer in `needs`.
                "gitlab_needs": f"image, deploy-{cloud[i - 1]}" if i else "test, image",
                "gitlab_when": "manual" if i else "on_success",
                "tier": GITLAB_TIERS[env],
                "check_reviewers": env in PROTECTED,
            }
            for i, env in enumerate(cloud)
        ],
        "actions": ACTIONS,
        "gitlab_pulumi_image": GITLAB_PULUMI_IMAGE,
        "gitlab_docker_image": GITLAB_DOCKER_IMAGE,
        "lock_file": LOCK_FILE,
        "gh": github_expression,
    }
