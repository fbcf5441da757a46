"""A typed builder for the training pipeline's SageMaker Pipeline definition.

The definition is generated from :class:`PipelineSpec` (never pasted JSON) and validated before
Pulumi sees it: every Processing, Training and RegisterModel step's arguments are checked
against botocore's own request shape for CreateProcessingJob, CreateTrainingJob and
CreateModelPackage, with pipeline expressions replaced by values of the right type, and every
``Get`` reference must name a parameter or an earlier step.

The steps: ValidateData (processing) -> TrainModel (GPU training; spot with checkpoints;
distributed when more than one instance) -> EvaluateModel (processing, writes a property file;
the approved figure from ReadChampion, which reads the registry's champion at execution time)
-> CheckGate (the candidate must beat the approved model by a margin) -> RegisterModel
(PendingManualApproval, with metrics) or GateFailed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from mlops.core.contracts import APPROVED_FROM_REGISTRY, encode_hyperparameters
from mlops.core.errors import MlopsError
from mlops.core.layout import LAYOUT
from mlops.infra.aws.catalog import volume_kms_allowed
from mlops.infra.aws.settings import TrainingSettings

SCHEMA_VERSION = "2020-12-01"
PROCESSING_ROOT = "/opt/ml/processing"
Json = dict[str, Any]


class PipelineDefinitionError(MlopsError):
    """The generated definition failed validation; this is a bug in the builder or its spec."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid pipeline definition:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class PipelineSpec:
    """Everything the definition depends on: the training section and resolved values.

    Attributes:
        role_arn: the execution role every job runs as.
        image_uri: the project's training/serving image (default of the ``ImageUri`` parameter).
        input_data_uri: S3 prefix of the dataset versions (default of ``InputDataUri``).
        artifacts_uri: ``s3://<artifacts bucket>`` root for validation, models, checkpoints and
            evaluation outputs.
        kms_key_arn: key for job outputs and volumes.
        model_package_group: where candidates are registered.
        training: how the pipeline trains, evaluates and gates (instance types and count, spot,
            time limit, volume, the gate's metric and default margin, hyperparameters); its
            defaults live there.
        inference_instance_types: realtime types the registered package declares.
        region: the region the jobs' own AWS clients call (the champion lookup's).
    """

    role_arn: str
    image_uri: str
    input_data_uri: str
    artifacts_uri: str
    kms_key_arn: str
    model_package_group: str
    training: TrainingSettings
    inference_instance_types: tuple[str, ...]
    region: str = ""


def get(path: str) -> Json:
    """A pipeline property or parameter reference."""
    return {"Get": path}


def as_text(value: Any) -> Json:
    """Render a (non-string) expression as a string, e.g. for container arguments."""
    return {"Std:Join": {"On": "", "Values": [value]}}


def _parameters(spec: PipelineSpec) -> list[Json]:
    return [
        {"Name": "ImageUri", "Type": "String", "DefaultValue": spec.image_uri},
        {"Name": "InputDataUri", "Type": "String", "DefaultValue": spec.input_data_uri},
        {
            "Name": "TrainingInstanceType",
            "Type": "String",
            "DefaultValue": spec.training.instance_type,
        },
        {
            "Name": "ProcessingInstanceType",
            "Type": "String",
            "DefaultValue": spec.training.processing_instance_type,
        },
        # The approved model's figure on the primary metric, or the sentinel: the evaluate step
        # then reads the champion from the registry (a Float default of 0.0 would fail every
        # lower-is-better candidate, and SageMaker refuses "").
        {"Name": "ApprovedModelMetric", "Type": "String", "DefaultValue": APPROVED_FROM_REGISTRY},
        {
            "Name": "EvaluationMargin",
            "Type": "Float",
            "DefaultValue": spec.training.evaluation_margin,
        },
        {"Name": "TriggeredBy", "Type": "String", "DefaultValue": "manual"},
    ]


def _place(spec: PipelineSpec, place: str) -> str:
    """``s3://`` URI of an artifacts place of the lake layout, e.g. ``.../evaluation/``."""
    zone, prefix = LAYOUT[place]
    assert zone == "artifacts", place  # job outputs all live in the artifacts bucket
    return f"{spec.artifacts_uri}/{prefix}"


def per_execution(uri: str, *rest: str) -> Json:
    """``uri`` + this execution's id (+ ``rest``).

    Outputs of one execution never overwrite another's, so each registered package keeps the
    evaluation it was gated on.
    """
    return {
        "Std:Join": {
            "On": "/",
            "Values": [uri.rstrip("/"), get("Execution.PipelineExecutionId"), *rest],
        }
    }


def _processing(
    spec: PipelineSpec, command: list[Any], inputs: list[Json], output: tuple[str, Any]
) -> Json:
    name, uri = output
    return {
        "AppSpecification": {"ImageUri": get("Parameters.ImageUri"), "ContainerArguments": command},
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": name,
                    "S3Output": {
                        "S3Uri": uri,
                        "LocalPath": f"{PROCESSING_ROOT}/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": spec.kms_key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": get("Parameters.ProcessingInstanceType"),
                "VolumeSizeInGB": 30,
                **_volume_key(spec, spec.training.processing_instance_type),
            }
        },
        "NetworkConfig": {
            "EnableNetworkIsolation": True,
            "EnableInterContainerTrafficEncryption": True,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "RoleArn": spec.role_arn,
    }


def _volume_key(spec: PipelineSpec, instance_type: str) -> Json:
    """``VolumeKmsKeyId`` where AWS takes one.

    Not on local-NVMe types, whose volumes are hardware-encrypted (a key there fails the job).
    Decided for the configured default type; an execution that overrides the type parameter
    keeps this choice.
    """
    return {"VolumeKmsKeyId": spec.kms_key_arn} if volume_kms_allowed(instance_type) else {}


def _s3_input(name: str, uri: Any, local: str) -> Json:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": f"{PROCESSING_ROOT}/{local}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }


EVALUATION_FILE = "evaluation.json"
CHAMPION_FILE = "champion.json"
CHAMPION_REPORT = "Steps.ReadChampion.PropertyFiles.ChampionReport"
VALIDATED = "Steps.ValidateData.ProcessingOutputConfig.Outputs['validated'].S3Output.S3Uri"
MODEL_ARTIFACT = "Steps.TrainModel.ModelArtifacts.S3ModelArtifacts"


def _training(spec: PipelineSpec) -> Json:
    # Sorted: the definition is compared as a string, and the order keys were written in is no
    # change to the pipeline.
    hyperparameters = dict(sorted(encode_hyperparameters(spec.training.hyperparameters).items()))
    if spec.training.distributed:
        # SageMaker's torchrun launcher: one process per GPU on every instance.
        hyperparameters["sagemaker_torch_distributed_enabled"] = "true"
    stopping: Json = {"MaxRuntimeInSeconds": spec.training.max_runtime_seconds}
    arguments: Json = {
        "AlgorithmSpecification": {
            "TrainingImage": get("Parameters.ImageUri"),
            "TrainingInputMode": "File",
        },
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": get(VALIDATED),
                        "S3DataDistributionType": (
                            "ShardedByS3Key" if spec.training.distributed else "FullyReplicated"
                        ),
                    }
                },
            }
        ],
        "OutputDataConfig": {
            "S3OutputPath": _place(spec, "models"),
            "KmsKeyId": spec.kms_key_arn,
        },
        "ResourceConfig": {
            "InstanceType": get("Parameters.TrainingInstanceType"),
            "InstanceCount": spec.training.instance_count,
            "VolumeSizeInGB": spec.training.volume_gb,
            **_volume_key(spec, spec.training.instance_type),
        },
        "RoleArn": spec.role_arn,
        "StoppingCondition": stopping,
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    if spec.training.spot:
        # Spot jobs can be interrupted: checkpoints let them resume, and the job may wait for
        # capacity up to as long again as it may run.
        stopping["MaxWaitTimeInSeconds"] = 2 * spec.training.max_runtime_seconds
        arguments["EnableManagedSpotTraining"] = True
        arguments["CheckpointConfig"] = {
            "S3Uri": _place(spec, "checkpoints"),
            "LocalPath": "/opt/ml/checkpoints",
        }
    return arguments


def _register(spec: PipelineSpec) -> Json:
    return {
        "ModelPackageGroupName": spec.model_package_group,
        "ModelPackageDescription": "Candidate from the training pipeline",
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [
                {"Image": get("Parameters.ImageUri"), "ModelDataUrl": get(MODEL_ARTIFACT)}
            ],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": list(spec.inference_instance_types),
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": per_execution(_place(spec, "evaluation"), EVALUATION_FILE),
                }
            }
        },
        "CustomerMetadataProperties": {
            "primary_metric": spec.training.primary_metric,
            "triggered_by": get("Parameters.TriggeredBy"),
        },
    }


def build_definition(spec: PipelineSpec) -> Json:
    """The pipeline definition for ``spec``, validated.

    Raises:
        PipelineDefinitionError: the definition breaks an API shape or a reference.
    """
    # The champion is resolved at execution time, by a step of its own. The evaluate step runs
    # the project's code on the held-out data (it unpickles the candidate), so it stays
    # network-isolated like training, and an isolated job cannot reach the registry. The
    # alternative, opening the evaluate step's network, would let project code that reads the
    # data also reach out. ReadChampion runs only mlops's code (`container champion`), under the
    # execution role's read-only ReadChampion statement, and hands the figure over in a property
    # file that the evaluate step's --approved-metric reads.
    champion_command = [
        "champion",
        "--metric",
        spec.training.primary_metric,
        "--approved-metric",
        get("Parameters.ApprovedModelMetric"),
        "--model-package-group",
        spec.model_package_group,
    ]
    evaluate_command = [
        "evaluate",
        "--metric",
        spec.training.primary_metric,
        "--approved-metric",
        {"Std:JsonGet": {"PropertyFile": get(CHAMPION_REPORT), "Path": "approved"}},
        "--margin",
        as_text(get("Parameters.EvaluationMargin")),
    ]
    champion = _processing(
        spec,
        champion_command,
        [],
        ("champion", per_execution(_place(spec, "evaluation"), "champion")),
    )
    champion["NetworkConfig"] = {**champion["NetworkConfig"], "EnableNetworkIsolation": False}
    del champion["ProcessingInputs"]  # it reads the registry, not files
    if spec.region:
        champion["Environment"] = {"AWS_DEFAULT_REGION": spec.region}
    register = {"Name": "RegisterModel", "Type": "RegisterModel", "Arguments": _register(spec)}
    failed = {
        "Name": "GateFailed",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": f"the candidate's {spec.training.primary_metric} did not beat the"
            " approved model by the evaluation margin"
        },
    }
    definition: Json = {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": _parameters(spec),
        "PipelineExperimentConfig": {
            "ExperimentName": get("Execution.PipelineName"),
            "TrialName": get("Execution.PipelineExecutionId"),
        },
        "Steps": [
            {
                "Name": "ValidateData",
                "Type": "Processing",
                "Arguments": _processing(
                    spec,
                    ["validate"],
                    [_s3_input("data", get("Parameters.InputDataUri"), "input/data")],
                    ("validated", per_execution(_place(spec, "validation"))),
                ),
            },
            {"Name": "TrainModel", "Type": "Training", "Arguments": _training(spec)},
            {
                "Name": "ReadChampion",
                "Type": "Processing",
                "Arguments": champion,
                "PropertyFiles": [
                    {
                        "PropertyFileName": "ChampionReport",
                        "OutputName": "champion",
                        "FilePath": CHAMPION_FILE,
                    }
                ],
            },
            {
                "Name": "EvaluateModel",
                "Type": "Processing",
                "Arguments": _processing(
                    spec,
                    evaluate_command,
                    [
                        _s3_input("model", get(MODEL_ARTIFACT), "model"),
                        _s3_input("data", get(VALIDATED), "input/data"),
                    ],
                    ("evaluation", per_execution(_place(spec, "evaluation"))),
                ),
                "PropertyFiles": [
                    {
                        "PropertyFileName": "EvaluationReport",
                        "OutputName": "evaluation",
                        "FilePath": EVALUATION_FILE,
                    }
                ],
            },
            {
                "Name": "CheckGate",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "Equals",
                            "LeftValue": {
                                "Std:JsonGet": {
                                    "PropertyFile": get(
                                        "Steps.EvaluateModel.PropertyFiles.EvaluationReport"
                                    ),
                                    "Path": "gate.passed",
                                }
                            },
                            "RightValue": True,
                        }
                    ],
                    "IfSteps": [register],
                    "ElseSteps": [failed],
                },
            },
        ],
    }
    validate_definition(definition)
    return definition


# --- validation ---------------------------------------------------------------------------

# What each trigger passes to StartPipelineExecution on top of the defaults: the console or
# `mlops pipeline run` (manual), the EventBridge schedule and the drift alarm's rule.
TRIGGER_PARAMETERS: dict[str, dict[str, str]] = {
    "manual": {},
    "schedule": {"TriggeredBy": "schedule"},
    "drift": {"TriggeredBy": "drift"},
}
_CONTAINER_FIELDS = ("ContainerArguments", "ContainerEntrypoint")

_OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "RegisterModel": ("CreateModelPackage", None),
}
_STEP_REF = re.compile(r"^Steps\.([A-Za-z0-9_-]+)\.")
_EXECUTION_VARS = {
    "Execution.PipelineName",
    "Execution.PipelineExecutionId",
    "Execution.PipelineExecutionArn",
}


def _all_steps(steps: list[Json]) -> list[Json]:
    found = []
    for step in steps:
        found.append(step)
        if step["Type"] == "Condition":
            found += _all_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])
    return found


def _concrete(value: Any, params: dict[str, Any], refs: list[str]) -> Any:
    """Replace pipeline expressions with values of the right type, collecting references."""
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            refs.append(value["Get"])
            name = value["Get"].removeprefix("Parameters.")
            return params.get(name, "s3://mlops-placeholder/step-property")
        if set(value) & {"Std:Join", "Std:JsonGet"}:
            _concrete(list(value.values()), params, refs)
            return "placeholder"
        return {k: _concrete(v, params, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_concrete(v, params, refs) for v in value]
    return value


def validate_definition(
    definition: Json, triggers: Mapping[str, Mapping[str, str]] = TRIGGER_PARAMETERS
) -> None:
    """Check shapes against botocore, references, and non-empty values for each trigger.

    Raises:
        PipelineDefinitionError: one line per problem.
    """
    params = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    steps = _all_steps(definition["Steps"])
    names = [s["Name"] for s in steps]
    problems = [
        f"duplicate step name '{n}'" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    refs: list[str] = []
    for step in steps:
        problems += _shape_problems(step, _concrete(step["Arguments"], params, refs))
    problems += [p for ref in refs if (p := _reference_problem(ref, params, names))]
    for trigger, given in triggers.items():
        problems += [f"trigger {trigger}: {p}" for p in empty_values(definition, given)]
    if problems:
        raise PipelineDefinitionError(problems)


def _shape_problems(step: Json, arguments: Json) -> list[str]:
    """Validate a step's arguments against the API call it becomes."""
    if step["Type"] not in _OPERATIONS:
        return []
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    operation, name_field = _OPERATIONS[step["Type"]]
    if name_field:
        arguments = {**arguments, name_field: "pipeline-validation"}
    shape = _sagemaker_model().operation_model(operation).input_shape
    report = ParamValidator().validate(arguments, shape)
    if not report.has_errors():
        return []
    return [f"step {step['Name']}: {ParamValidationError(report=report.generate_report())}"]


@cache
def _sagemaker_model() -> Any:
    """Botocore's SageMaker service model; loading it takes ~0.1 s, so once per process."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _reference_problem(ref: str, params: dict[str, Any], steps: list[str]) -> str:
    """Why a ``Get`` reference is dangling, or an empty string."""
    if ref.startswith("Parameters."):
        known = ref.removeprefix("Parameters.") in params
        return "" if known else f"reference to unknown parameter '{ref}'"
    if (match := _STEP_REF.match(ref)) is not None:
        return "" if match.group(1) in steps else f"reference to unknown step '{ref}'"
    return "" if ref in _EXECUTION_VARS else f"unknown reference '{ref}'"


def empty_values(definition: Json, given: Mapping[str, str]) -> list[str]:
    """SageMaker's non-empty rule, for an execution started with ``given`` parameters.

    Every parameter value (default or given) and every resolved string of a step's
    ``ContainerArguments``/``ContainerEntrypoint`` must be non-empty: the service refuses
    empty ones (botocore's shapes, moto and mocks accept them). Exported for testing.
    """
    values = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]} | dict(given)
    problems = [f"parameter {n} is empty" for n, v in values.items() if _text(v, values) == ""]
    for step in _all_steps(definition["Steps"]):
        spec = step["Arguments"].get("AppSpecification", {})
        for field in _CONTAINER_FIELDS:
            for i, item in enumerate(spec.get(field, [])):
                if _text(item, values) == "":
                    problems.append(f"step {step['Name']}: {field}[{i}] is empty")
    return problems


def _text(value: Any, values: Mapping[str, Any]) -> str:
    """The string an expression becomes at execution; step properties are never empty."""
    if isinstance(value, dict) and set(value) == {"Get"}:
        name = str(value["Get"])
        if name.startswith("Parameters."):
            return _text(values.get(name.removeprefix("Parameters."), ""), values)
        return name
    if isinstance(value, dict) and "Std:JsonGet" in value:
        # A property file's value: the step that writes it never writes an empty one.
        return str(value["Std:JsonGet"]["PropertyFile"]["Get"])
    if isinstance(value, dict) and "Std:Join" in value:
        join = value["Std:Join"]
        return str(join["On"]).join(_text(v, values) for v in join["Values"])
    return "" if value is None else str(value)
