"""The pack's AWS rules, one module per service, and what AWS itself would reject.

The rules live with their service (:mod:`.s3`, :mod:`.kms`, :mod:`.iam`, :mod:`.sagemaker`,
:mod:`.cloudwatch`, :mod:`.ecr`), the platform's own cross-service rules in :mod:`.house`, and
the resource types and property readers they share (with the cost estimate) in :mod:`.readers`.
:data:`RULES` is the one list of them, in the order ``mlops preview`` reports them.
"""

from __future__ import annotations

from mlops.infra.policy.aws import cloudwatch, ecr, house, iam, kms, s3, sagemaker
from mlops.infra.policy.model import Rule

RULES: tuple[Rule, ...] = (
    s3.public_access,
    s3.owner_enforced,
    s3.sse_kms,
    s3.versioning,
    s3.tls_only,
    s3.no_public_principal,
    s3.access_logging,
    s3.abort_multipart,
    kms.rotation,
    kms.key_policy,
    iam.no_star_action,
    iam.no_star_resource,
    iam.no_admin_policies,
    iam.trust_conditions,
    sagemaker.endpoint_kms,
    sagemaker.data_capture,
    sagemaker.prod_instances,
    sagemaker.model_isolation,
    sagemaker.job_isolation,
    sagemaker.job_encryption,
    sagemaker.job_kms,
    cloudwatch.log_retention,
    cloudwatch.log_kms,
    cloudwatch.alarm_actions,
    ecr.scan_on_push,
    ecr.immutable_tags,
    ecr.repository_kms,
    house.required_tags,
    house.gpu_allowlist,
    house.no_idle_gpu,
    house.separate_roles,
    # What AWS itself would reject at `pulumi up` time, caught before it.
    sagemaker.kms_on_nvme,
    sagemaker.serverless_options,
    s3.kms_log_target,
)
