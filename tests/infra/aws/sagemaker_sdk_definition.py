"""What the SageMaker Python SDK (v2, ``sagemaker.workflow``) writes for our pipelines' expressions.

Run by the ``.ci/sagemaker-v2`` tool venv's python (the SDK's pins stay out of the project
venv), with ``AWS_ENDPOINT_URL`` on a loopback moto server: the SDK's session checks its default
bucket. It reads a JSON description of our definition on stdin and prints the definition the
SDK builds for the same intent: each parameter declared with its type and default; each
processing step's arguments, a parameter written as a string the way the SDK makes one
(``.to_string()`` unless it is a String parameter), a property file read with ``JsonGet``; each
condition as ``ConditionEquals``. The test compares that with ours, expression by expression.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3
from sagemaker.processing import ProcessingOutput, Processor
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals
from sagemaker.workflow.functions import JsonGet
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.steps import ProcessingStep

KINDS = {"String": ParameterString, "Integer": ParameterInteger, "Float": ParameterFloat}


def main() -> None:
    ours = json.load(sys.stdin)
    session = PipelineSession(
        boto_session=boto3.Session(region_name="us-east-1"), default_bucket="sdk-definitions"
    )
    params = {
        p["Name"]: KINDS[p["Type"]](name=p["Name"], default_value=p.get("DefaultValue"))
        for p in ours["Parameters"]
    }
    files: dict[str, PropertyFile] = {}

    def expression(item: Any) -> Any:
        if isinstance(item, str):
            return item
        named = _parameter_named(item)
        if named is not None:
            param = params[named]
            return param if isinstance(param, ParameterString) else param.to_string()
        if "Std:JsonGet" in item:
            spec = item["Std:JsonGet"]
            _, step, _, name = spec["PropertyFile"]["Get"].split(".")
            return JsonGet(step_name=step, property_file=files[name], json_path=spec["Path"])
        raise ValueError(f"no SDK counterpart for {item}")

    steps: list[Any] = []
    for step in ours["Steps"]:
        declared = [
            PropertyFile(
                name=f["PropertyFileName"], output_name=f["OutputName"], path=f["FilePath"]
            )
            for f in step.get("PropertyFiles", [])
        ]
        files.update({f.name: f for f in declared})
        processor = Processor(
            role="arn:aws:iam::123456789012:role/sdk",
            image_uri="image",
            instance_count=1,
            instance_type="ml.m5.large",
            entrypoint=["python"],
            sagemaker_session=session,
        )
        outputs = [
            ProcessingOutput(output_name=f["OutputName"], source=f"/opt/ml/processing/{i}")
            for i, f in enumerate(step.get("PropertyFiles", []))
        ]
        arguments = [expression(a) for a in step["Arguments"]] or None
        run = processor.run(arguments=arguments, outputs=outputs or None)
        steps.append(ProcessingStep(name=step["Name"], step_args=run, property_files=declared))
    for index, condition in enumerate(ours["Conditions"]):
        left = expression(condition["LeftValue"])
        steps.append(
            ConditionStep(
                name=f"Condition{index}",
                conditions=[ConditionEquals(left=left, right=condition["RightValue"])],
                if_steps=[],
                else_steps=[],
            )
        )
    pipeline = Pipeline(
        name="sdk", parameters=list(params.values()), steps=steps, sagemaker_session=session
    )
    print(json.dumps(json.loads(pipeline.definition())))


def _parameter_named(item: Any) -> str | None:
    """The parameter an argument refers to, raw (``Get``) or made text (``Std:Join``)."""
    if isinstance(item, dict) and "Std:Join" in item:
        values = item["Std:Join"]["Values"]
        item = values[0] if len(values) == 1 else None
    if isinstance(item, dict) and str(item.get("Get", "")).startswith("Parameters."):
        return str(item["Get"]).split(".", 1)[1]
    return None


if __name__ == "__main__":
    main()
