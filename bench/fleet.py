"""The synthetic fleets the platform and preview benches evaluate (current component APIs).

``environment(env, models)``: one environment's lake, training pipeline and monitoring, and per
model a registry and a realtime endpoint; 50 models x 3 environments is about 2,200 resources.
``prod()``: the full prod MLPlatform (endpoint, A/B + shadow, autoscaling, data quality).
``PROGRAM``: a project's ``infra/__main__.py`` building ``environment`` for its stack.
"""

from __future__ import annotations

ACCOUNT = "123456789012"


def package(project: str, env: str, n: int) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/{project}-{env}-models/{n}"


def config(project: str, env: str, **extra: object):  # type: ignore[no-untyped-def]
    from mlops.infra.config import StackConfig

    values = {"aws:region": "us-east-1", f"{project}:trainingInstanceType": "ml.g5.2xlarge"}
    values.update({f"{project}:{k}": v for k, v in extra.items()})
    return StackConfig.from_values(project, env, values)


def prod() -> None:
    from mlops.infra.aws import MLPlatform

    cfg = config(
        "churn",
        "prod",
        modelPackageArn=package("churn", "prod", 1),
        challengerModelPackageArn=package("churn", "prod", 2),
        shadowModelPackageArn=package("churn", "prod", 3),
        schedule="rate(7 days)",
    )
    MLPlatform(cfg.name_prefix, cfg)


def environment(env: str, models: int) -> None:
    from mlops.infra.aws import (
        DataLake,
        InferenceEndpoint,
        InferenceEndpointArgs,
        ModelRegistry,
        ModelRegistryArgs,
        Monitoring,
        MonitoringArgs,
        TrainingPipeline,
        TrainingPipelineArgs,
    )
    from mlops.infra.aws.platform import lake_args
    from mlops.infra.aws.resource_names import PlatformNames

    base = config("fleet", env)
    lake = DataLake(f"fleet-{env}-lake", lake_args(base, ACCOUNT))
    at = {"tags": base.tags, "account_id": ACCOUNT, "partition": base.partition}
    training = TrainingPipeline(
        f"fleet-{env}-training",
        TrainingPipelineArgs(
            names=PlatformNames(base.name_prefix),
            region=base.region,
            bucket_names=lake.bucket_names,
            key_arn=lake.key_arn,
            training=base.training,
            inference_instance_types=(base.serving.instance_type,),
            log_retention_days=base.monitoring.log_retention_days,
            **at,
        ),
    )
    monitoring = Monitoring(
        f"fleet-{env}-monitoring",
        MonitoringArgs(
            names=PlatformNames(base.name_prefix),
            region=base.region,
            key_arn=lake.key_arn,
            pipeline_arn=training.pipeline_arn,
            start_role_arn=training.start_role_arn,
            endpoint=False,
            alarms=base.alarms,
            monitoring=base.monitoring,
            notifications=base.notifications,
            **at,
        ),
    )
    for n in range(models):
        project = f"model{n:02d}"
        cfg = config(project, env, modelPackageArn=package(project, env, 1))
        names = PlatformNames(cfg.name_prefix)
        ModelRegistry(
            f"{project}-{env}-registry",
            ModelRegistryArgs(
                names=names, key_arn=lake.key_arn, notifications=cfg.notifications, **at
            ),
        )
        InferenceEndpoint(
            f"{project}-{env}-endpoint",
            InferenceEndpointArgs(
                names=names,
                region=cfg.region,
                bucket_names=lake.bucket_names,
                repository_arn=training.repository_arn,
                key_arn=lake.key_arn,
                capture_uri="s3://fleet-capture/",
                serving=cfg.serving,
                alarms=cfg.alarms,
                alarm_topic_arn=monitoring.alerts_topic_arn,
                **at,
            ),
        )


def synthetic(models: int) -> None:
    for env in ("dev", "staging", "prod"):
        environment(env, models)


PROGRAM = '''"""A synthetic fleet: {models} models in the stack's environment."""
import sys

import mlops.infra.aws  # noqa: F401 - the components the fleet is built from
import pulumi

sys.path.insert(0, {bench!r})
from fleet import environment

environment(pulumi.get_stack(), {models})
'''
