"""ARNs, built in one place from the partition, region and account.

Every policy that names a resource by ARN takes it from :class:`Arns`, so an ``aws-cn`` or
``aws-us-gov`` stack, another region or another account cannot end up with a hard-coded
``arn:aws`` or a resource of the wrong scope.
"""

from __future__ import annotations

from dataclasses import dataclass


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>``.

    Global services (IAM, S3) leave the region empty, and S3 the account too.
    """
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


@dataclass(frozen=True)
class Arns:
    """ARNs of one stack's partition, region and account."""

    partition: str
    region: str
    account: str

    def s3(self, bucket: str, key: str | None = None) -> str:
        """A bucket, or objects in it (``key`` may end in ``*``)."""
        return arn(self.partition, "s3", "", "", bucket if key is None else f"{bucket}/{key}")

    def log_group(self, name: str) -> str:
        """A CloudWatch Logs group and its streams (``*`` for every group of the account)."""
        return arn(self.partition, "logs", self.region, self.account, f"log-group:{name}")

    def sagemaker(self, resource: str) -> str:
        """A SageMaker resource, e.g. ``training-job/pipelines-*``."""
        return arn(self.partition, "sagemaker", self.region, self.account, resource)

    def account_root(self) -> str:
        """The account itself, as an IAM principal."""
        return arn(self.partition, "iam", "", self.account, "root")
