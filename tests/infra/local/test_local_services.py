"""Local mode's services: each resource type and creation call belongs to exactly one service.

A service module declares everything the bootstrap does with its resources; these tests hold
the registry to that, so one more resource type is one edit, in its service's module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from typing import Any

import pytest

import mlops.infra.local_services as registry
from mlops.infra.local_services.base import LocalService


def service_modules() -> list[Any]:
    names = [m.name for m in pkgutil.iter_modules(registry.__path__) if m.name != "base"]
    return [importlib.import_module(f"{registry.__name__}.{name}") for name in names]


def test_every_service_module_is_registered_once() -> None:
    declared = [module.SERVICE for module in service_modules()]
    assert all(isinstance(s, LocalService) for s in declared)
    assert sorted(s.name for s in declared) == sorted(s.name for s in registry.SERVICES)


@pytest.mark.parametrize("table", ["resources", "operations"])
def test_no_type_or_operation_is_claimed_by_two_services(table: str) -> None:
    claims = Counter(key for s in registry.SERVICES for key in getattr(s, table))
    assert [key for key, count in claims.items() if count > 1] == []


def test_a_service_only_makes_its_own_calls() -> None:
    # Deleting a bucket's setting is an S3 call: a call filed under another service would be
    # sent with that service's client.
    params: dict[str, Any] = {
        "Bucket": "b",
        "AliasName": "alias/a",
        "DatabaseInput": {"Name": "d"},
        "repositoryName": "r",
        "logGroupName": "g",
        "RoleName": "r",
        "PolicyName": "p",
        "PipelineName": "p",
        "ModelPackageGroupName": "m",
        "ModelName": "m",
        "EndpointConfigName": "c",
        "EndpointName": "e",
        "JobDefinitionName": "j",
        "Name": "n",
        "Rule": "r",
        "Targets": [{"Id": "t"}],
        "AlarmName": "a",
        "DashboardName": "d",
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/e/variant/v",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    ids = {"KeyId": "k", "TopicArn": "arn:t", "SubscriptionArn": "arn:s"}
    for service in registry.SERVICES:
        for operation in service.operations.values():
            calls = operation.delete(params, ids) if operation.delete else []
            assert {c.service for c in calls} <= {service.name}, service.name


def test_the_registry_is_the_union_of_its_services() -> None:
    assert len(registry.RESOURCES) == sum(len(s.resources) for s in registry.SERVICES)
    assert registry.GONE == frozenset().union(*(s.gone for s in registry.SERVICES))
    assert "BucketNotEmpty" in registry.HOLDS_DATA and "NoSuchBucket" in registry.GONE


def test_a_rerun_creation_is_recognised_by_code_or_by_sagemakers_message() -> None:
    assert registry.already_there("BucketAlreadyOwnedByYou", "")
    assert registry.already_there("ValidationException", "Pipeline churn already exists")
    assert not registry.already_there("ValidationException", "InstanceType is not valid")
    assert not registry.already_there("AccessDenied", "")
