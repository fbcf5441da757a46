"""Before ``pulumi up``, whether the account can run what the stack declares.

``mlops doctor --stack S`` runs these checks.

With the account's credentials, and read-only calls:

- **quotas**: SageMaker's per-instance-type quotas (Service Quotas) against what the stack asks
  for: training (on-demand or spot) and processing instances, and the endpoint's instances at
  their autoscaling ceiling. A quota of 0 is the usual state of GPU types in a new account.
- **offered**: SageMaker lists a quota for each instance type a region offers for a usage; no
  quota means the type is not offered there.
- **roles**: the identity the calls run as, and the service-linked role Application Auto
  Scaling needs to scale an endpoint (it is created on first use only when the deployer may
  create it).

Each finding says how to fix it. Nothing here writes to the account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

AUTOSCALING_ROLE = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
AUTOSCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"


@dataclass(frozen=True)
class Finding:
    """One preflight result."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Need:
    """Instances of one type the stack will run at once, for one SageMaker usage."""

    instance_type: str
    usage: str  # as SageMaker names its quotas: "training job usage", "endpoint usage", ...
    count: int


def needs(config: Any) -> list[Need]:
    """What a :class:`mlops.infra.config.StackConfig` asks SageMaker for."""
    training = "spot training job usage" if config.training.spot else "training job usage"
    found = [
        Need(config.training.instance_type, training, config.training.instance_count),
        Need(config.training.processing_instance_type, "processing job usage", 1),
    ]
    if config.serving.model_package_arn and config.serving.realtime:
        found.append(
            Need(config.serving.instance_type, "endpoint usage", config.serving.scaling_max)
        )
    return found


def sagemaker_quotas(client: Any) -> dict[str, tuple[float, str]]:
    """SageMaker's quotas in the client's region: name -> (value, quota code)."""
    quotas: dict[str, tuple[float, str]] = {}
    for page in client.get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker"):
        for quota in page.get("Quotas", []):
            quotas[quota["QuotaName"]] = (float(quota["Value"]), quota["QuotaCode"])
    return quotas


def quota_findings(
    quotas: Mapping[str, tuple[float, str]], wanted: Iterable[Need], region: str
) -> list[Finding]:
    """One finding per need: offered in the region, and enough quota for it."""
    findings = []
    for need in wanted:
        name = f"{need.instance_type} for {need.usage}"
        if name not in quotas:
            findings.append(
                Finding(
                    f"offered: {need.instance_type}",
                    False,
                    f"SageMaker has no {need.usage} quota for it in {region}: not offered there",
                    "choose a type the region offers (see the Service Quotas console), or another"
                    " region",
                )
            )
            continue
        value, code = quotas[name]
        if value >= need.count:
            findings.append(
                Finding(f"quota: {name}", True, f"{value:g} available, {need.count} needed")
            )
            continue
        findings.append(
            Finding(
                f"quota: {name}",
                False,
                f"{value:g} available, {need.count} needed",
                "aws service-quotas request-service-quota-increase --service-code sagemaker"
                f" --quota-code {code} --desired-value {need.count} --region {region}",
            )
        )
    return findings


def role_findings(sts: Any, iam: Any, autoscaling: bool) -> list[Finding]:
    """Who the calls run as, and the endpoint autoscaling's service-linked role."""
    identity = sts.get_caller_identity()
    findings = [Finding("identity", True, f"{identity['Arn']} (account {identity['Account']})")]
    if not autoscaling:
        return findings
    try:
        iam.get_role(RoleName=AUTOSCALING_ROLE)
        findings.append(Finding(f"role: {AUTOSCALING_ROLE}", True, "exists"))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        findings.append(
            Finding(
                f"role: {AUTOSCALING_ROLE}",
                False,
                "missing: the endpoint's autoscaling needs it, and the deployer must be allowed"
                " iam:CreateServiceLinkedRole to have it made on first use",
                f"aws iam create-service-linked-role --aws-service-name {AUTOSCALING_SERVICE}",
            )
        )
    return findings


def preflight(session: Any, config: Any) -> list[Finding]:
    """Every check for one stack, with a boto3 session of the target account.

    Calls that fail (no permission, no network) become findings, never exceptions.
    """
    region = config.region
    findings: list[Finding] = []
    try:
        findings += role_findings(
            session.client("sts", region_name=region),
            session.client("iam", region_name=region),
            config.serving.model_package_arn != ""
            and config.serving.realtime
            and config.serving.scaling_max > config.serving.instance_count,
        )
    except (ClientError, BotoCoreError) as exc:
        findings.append(
            Finding("identity", False, f"cannot reach AWS: {exc}", "check credentials and region")
        )
        return findings
    try:
        quotas = sagemaker_quotas(session.client("service-quotas", region_name=region))
    except (ClientError, BotoCoreError) as exc:
        return [
            *findings,
            Finding(
                "quotas",
                False,
                f"cannot list SageMaker quotas: {exc}",
                "allow servicequotas:ListServiceQuotas to the identity running preflight",
            ),
        ]
    return findings + quota_findings(quotas, needs(config), region)
