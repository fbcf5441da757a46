"""Every idempotency token the local bootstrap sends is one AWS takes (32 to 128 characters).

`mlops local up` re-run after a config change replaced the SageMaker pipeline and crashed with
``Invalid length for parameter ClientRequestToken, value: 18``. The bounds come from botocore's
own service model, per operation, so the test moves with the model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from mlops.infra.api_shapes import input_shape
from mlops.infra.bootstrap import api_calls, apply
from mlops.infra.local_services import RESOURCES
from mlops.infra.local_services.base import ApiCall
from mlops.infra.mock_runtime import MockedProgram
from mlops.infra.reconcile import (
    client_token,
    delete_calls,
    make_record,
    token_members,
    update_calls,
)

FAKE_IDS = {
    "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
    "SubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:5f1c4b8e-3d2a-4b0e-9c61-2f0e1d3c4b5a",
}


def platform_program() -> MockedProgram:
    from mlops.infra.aws import MLPlatform
    from mlops.infra.config import StackConfig
    from mlops.infra.mock_runtime import CALLER_IDENTITY, run_program

    def program() -> dict[str, Any]:
        cfg = StackConfig.load()
        return {"platform": MLPlatform(cfg.name_prefix, cfg).platform}

    return run_program(
        program,
        project=f"tokens{uuid.uuid4().hex[:6]}",
        stack="dev",
        config={"aws:region": "us-east-1"},
        invokes=CALLER_IDENTITY,
    )


@pytest.fixture(scope="module")
def program() -> MockedProgram:
    return platform_program()


def bounds(service: str, operation: str, member: str) -> tuple[int, int]:
    metadata = input_shape(service, operation).members[member].metadata
    return metadata["min"], metadata["max"]


def reconcile_calls(program: MockedProgram) -> list[ApiCall]:
    """What reconcile sends for each of the platform's resources: its removal and its update."""
    sent = []
    for resource in program.resources:
        calls = api_calls(resource)
        if not calls:
            continue
        record = make_record(resource, calls, FAKE_IDS)
        removals, sends = update_calls(record, calls)
        sent += delete_calls(record) + removals + [c for c in sends if c not in calls]
    return sent


def test_every_token_reconcile_sends_is_within_the_apis_own_bounds(
    program: MockedProgram,
) -> None:
    calls = reconcile_calls(program)
    checked = set()
    for call in calls:
        for member in token_members(call.service, call.operation):
            assert member in call.params, f"{call.operation} goes without its {member}"
            low, high = bounds(call.service, call.operation, member)
            assert low <= len(call.params[member]) <= high, (call.operation, member)
            checked.add(call.operation)
    assert "DeletePipeline" in checked  # the call that crashed `mlops local up`
    # And the whole request passes botocore's own validation, as the client will check it.
    model = botocore.session.get_session()
    for call in calls:
        if token_members(call.service, call.operation):
            shape = model.get_service_model(call.service).operation_model(call.operation)
            report = ParamValidator().validate(call.params, shape.input_shape)
            assert not report.has_errors(), report.generate_report()


def test_the_token_fits_every_api_the_bootstrap_can_call() -> None:
    # Creations go out as built (botocore fills a missing token); whatever reconcile derives for
    # any operation the bootstrap or reconcile can send must fit that operation's bounds.
    program = platform_program()
    operations = {(c.service, c.operation) for r in program.resources for c in api_calls(r)}
    operations |= {(c.service, c.operation) for c in reconcile_calls(program)}
    assert {t.split(":")[-1] for t in RESOURCES} >= {"Pipeline", "Bucket"}
    token = client_token("any", "parts")
    with_tokens = 0
    for service, operation in sorted(operations):
        for member in token_members(service, operation):
            low, high = bounds(service, operation, member)
            assert low <= len(token) <= high, (service, operation, member, low, high)
            with_tokens += 1
    assert with_tokens >= 2  # CreatePipeline and DeletePipeline at least


def test_a_removal_retried_sends_its_token_again_and_a_new_creation_gets_another(
    program: MockedProgram,
) -> None:
    (pipeline,) = program.of_type("aws:sagemaker/pipeline:Pipeline")
    calls = api_calls(pipeline)
    first = make_record(pipeline, calls, {})
    again = json.loads(json.dumps(first))  # as the state file keeps it
    assert delete_calls(first) == delete_calls(again)  # a retry on the next apply
    recreated = make_record(pipeline, calls, {})
    token = delete_calls(first)[0].params["ClientRequestToken"]
    assert delete_calls(recreated)[0].params["ClientRequestToken"] != token
    older = {k: v for k, v in first.items() if k != "instance"}  # a state from before
    assert len(delete_calls(older)[0].params["ClientRequestToken"]) == 64


def test_local_up_again_after_the_pipeline_changed_replaces_it(moto_endpoint: str) -> None:
    first = platform_program()
    before = apply(first, moto_endpoint, "us-east-1")
    (pipeline,) = first.of_type("aws:sagemaker/pipeline:Pipeline")
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    definition["Metadata"] = {"changed": "yes"}
    changed = dataclasses.replace(
        copy.deepcopy(pipeline),
        inputs={**pipeline.inputs, "pipelineDefinition": json.dumps(definition)},
    )
    resources = [changed if r.name == pipeline.name else r for r in first.resources]
    after = apply(
        MockedProgram(resources, first.result), moto_endpoint, "us-east-1", done=before.done
    )
    assert after.updated == {"aws:sagemaker/pipeline:Pipeline": 1}
