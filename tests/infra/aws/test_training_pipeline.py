"""TrainingPipeline: least-privilege role, repository, logs, and a validated pipeline definition."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from pipeline_eval import Resolver
from platform_runs import ACCOUNT, one, platform, policy

from mlops.core.errors import ConfigError
from mlops.infra.aws.pipeline_definition import (
    PipelineDefinitionError,
    PipelineSpec,
    build_definition,
    validate_definition,
)
from mlops.infra.aws.settings import TrainingSettings

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def execution_policy(stack: str = "prod") -> dict:  # type: ignore[type-arg]
    return policy(
        next(r for r in platform(stack).of_type(ROLE_POLICY) if r.name.endswith("execution-policy"))
    )


def statements(stack: str = "prod") -> dict[str, dict]:  # type: ignore[type-arg]
    return {s["Sid"]: s for s in execution_policy(stack)["Statement"]}


def as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions_and_no_managed_policies() -> None:
    for resource in platform("prod").of_type(ROLE_POLICY):
        for statement in policy(resource)["Statement"]:
            for action in as_list(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), (resource.name, action)
    for role in platform("prod").of_type(ROLE):
        assert not role.inputs.get("managedPolicyArns"), role.name


def test_wildcard_resources_only_where_the_api_has_no_resource_permissions() -> None:
    wildcard = {sid for sid, s in statements().items() if "*" in as_list(s["Resource"])}
    assert wildcard == {"RegistryLogin", "PublishDriftMetrics"}
    assert statements()["RegistryLogin"]["Action"] == "ecr:GetAuthorizationToken"
    assert statements()["PublishDriftMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "mlops-stack/Drift"}
    }


def test_s3_access_is_scoped_to_lake_buckets_and_prefixes() -> None:
    s = statements()
    assert s["ReadLakeData"]["Resource"] == [
        f"arn:aws:s3:::churn-prod-lake-{z}/*" for z in ("raw", "curated", "features")
    ]
    assert s["WritePipelineArtifacts"]["Resource"] == [
        f"arn:aws:s3:::churn-prod-lake-artifacts/{p}*"
        for p in ("validation/", "models/", "checkpoints/", "evaluation/", "monitoring/")
    ]
    assert s["WriteCapturedTraffic"]["Resource"] == "arn:aws:s3:::churn-prod-lake-raw/capture/*"
    assert "arn:aws:s3:::churn-prod-lake-logs" not in json.dumps(execution_policy())


def test_key_repository_logs_and_jobs_are_scoped() -> None:
    s = statements()
    assert s["UseLakeKey"]["Resource"].endswith(":key/churn-prod-lake-key")
    assert s["EncryptJobVolumes"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert (
        s["PullProjectImage"]["Resource"]
        == f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/churn-prod"
    )
    logs = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:"
    assert s["WriteOwnLogs"]["Resource"] == [
        f"{logs}/aws/sagemaker/TrainingJobs:*",
        f"{logs}/aws/sagemaker/ProcessingJobs:*",
        f"{logs}/aws/sagemaker/Endpoints/churn-prod-endpoint:*",
    ]
    assert all(
        ":training-job/pipelines-" in r or ":processing-job/pipelines-" in r
        for r in s["RunPipelineJobs"]["Resource"]
    )
    assert s["RegisterCandidates"]["Resource"][0].endswith("model-package-group/churn-prod-models")
    assert s["PassOwnRoleToSageMaker"]["Resource"].endswith(
        "role/churn-prod-training-execution-role"
    )
    assert s["PassOwnRoleToSageMaker"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_trust_policies_have_confused_deputy_conditions() -> None:
    roles = {r.name: policy(r, "assumeRolePolicy") for r in platform("prod").of_type(ROLE)}
    execution = roles["churn-prod-training-execution-role"]["Statement"][0]
    assert execution["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert execution["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:*"},
    }
    start = roles["churn-prod-training-start-role"]["Statement"][0]
    assert start["Principal"] == {"Service": "events.amazonaws.com"}
    assert start["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    start_policy = policy(
        next(r for r in platform("prod").of_type(ROLE_POLICY) if r.name.endswith("start-policy"))
    )
    assert start_policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "sagemaker:StartPipelineExecution",
            "Resource": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:pipeline/churn-prod-training",
        }
    ]


def test_repository_and_log_groups() -> None:
    repo = one(platform("prod"), "aws:ecr/repository:Repository").inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    assert repo["forceDelete"] is False
    for stack in ("dev", "staging", "local"):
        assert one(platform(stack), "aws:ecr/repository:Repository").inputs["forceDelete"] is True
    groups = {
        g.inputs["name"]: g.inputs
        for g in platform("prod").of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    # The account-wide job groups are SageMaker's: no stack creates them, so two stacks (or an
    # account where a job already ran) never collide.
    assert set(groups) == {"/aws/sagemaker/Endpoints/churn-prod-endpoint"}
    assert {g["retentionInDays"] for g in groups.values()} == {365}
    assert all(g["kmsKeyId"].endswith("key/churn-prod-lake-key") for g in groups.values())
    with pytest.raises(ConfigError, match="sharedLogGroups: is no longer used"):
        platform("dev", sharedLogGroups=False)


def definition(stack: str = "prod", **extra: object) -> dict:  # type: ignore[type-arg]
    pipeline = one(
        platform(stack, **extra),
        "aws:sagemaker/pipeline:Pipeline",
        f"churn-{stack}-training-pipeline",
    )
    assert pipeline.inputs["pipelineName"] == f"churn-{stack}-training"
    return json.loads(pipeline.inputs["pipelineDefinition"])


def test_pipeline_steps_in_order() -> None:
    steps = definition()["Steps"]
    assert [(s["Name"], s["Type"]) for s in steps] == [
        ("ValidateData", "Processing"),
        ("TrainModel", "Training"),
        ("ReadChampion", "Processing"),
        ("EvaluateModel", "Processing"),
        ("CheckGate", "Condition"),
    ]
    gate = steps[4]["Arguments"]
    assert [s["Name"] for s in gate["IfSteps"]] == ["RegisterModel"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["GateFailed"]
    register = gate["IfSteps"][0]["Arguments"]
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelPackageGroupName"] == "churn-prod-models"


def test_each_execution_keeps_its_own_evaluation_record() -> None:
    d = definition()
    evaluate, gate = d["Steps"][3], d["Steps"][4]
    register = gate["Arguments"]["IfSteps"][0]["Arguments"]
    output = evaluate["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    metrics = register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    first, second = Resolver(d, execution_id="a1b2"), Resolver(d, execution_id="c3d4")
    assert first(output) == "s3://churn-prod-lake-artifacts/evaluation/a1b2"
    # The package points at the very file the evaluation step wrote in that execution.
    assert first(metrics) == first(output) + "/" + evaluate["PropertyFiles"][0]["FilePath"]
    assert first(metrics) != second(metrics)
    validated = d["Steps"][0]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]
    assert first(validated["S3Uri"]) == "s3://churn-prod-lake-artifacts/validation/a1b2"


def test_training_is_isolated_encrypted_and_on_the_configured_gpu() -> None:
    train = definition()["Steps"][1]["Arguments"]
    assert train["EnableNetworkIsolation"] is True
    assert train["EnableInterContainerTrafficEncryption"] is True
    assert train["OutputDataConfig"]["KmsKeyId"].endswith("key/churn-prod-lake-key")
    # ml.g5 volumes are local NVMe, hardware-encrypted: AWS refuses a volume key there.
    assert "VolumeKmsKeyId" not in train["ResourceConfig"]
    params = {p["Name"]: p["DefaultValue"] for p in definition()["Parameters"]}
    assert train["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.TrainingInstanceType"}
    assert params["TrainingInstanceType"] == "ml.g5.2xlarge"


def test_spot_adds_checkpoints_and_max_wait() -> None:
    train = definition("dev")["Steps"][1]["Arguments"]  # dev trains on spot by default
    assert train["EnableManagedSpotTraining"] is True
    assert train["CheckpointConfig"]["S3Uri"] == "s3://churn-dev-lake-artifacts/checkpoints/"
    stop = train["StoppingCondition"]
    assert stop["MaxWaitTimeInSeconds"] == 2 * stop["MaxRuntimeInSeconds"] == 2 * 24 * 3600
    on_demand = definition("dev", spot=False)["Steps"][1]["Arguments"]
    assert (
        "CheckpointConfig" not in on_demand
        and "MaxWaitTimeInSeconds" not in on_demand["StoppingCondition"]
    )


def test_more_than_one_instance_trains_distributed() -> None:
    single = definition()["Steps"][1]["Arguments"]
    assert single["ResourceConfig"]["InstanceCount"] == 1
    assert "sagemaker_torch_distributed_enabled" not in single["HyperParameters"]
    multi = definition("prod", trainingInstanceCount=4)["Steps"][1]["Arguments"]
    assert multi["ResourceConfig"]["InstanceCount"] == 4
    assert multi["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    source = multi["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == "ShardedByS3Key"


def test_gate_compares_with_a_configurable_margin() -> None:
    d = definition("prod", evaluationMargin=0.05)
    params = {p["Name"]: p for p in d["Parameters"]}
    assert params["EvaluationMargin"] == {
        "Name": "EvaluationMargin",
        "Type": "Float",
        "DefaultValue": 0.05,
    }
    champion = d["Steps"][2]["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert Resolver(d, parameters={"ApprovedModelMetric": "0.8"})(champion) == [
        "champion",
        "--metric",
        "roc_auc",
        "--approved-metric",
        "0.8",
        "--model-package-group",
        "churn-prod-models",
    ]
    evaluate = d["Steps"][3]["Arguments"]["AppSpecification"]["ContainerArguments"]
    # The figure the gate compares with is what the champion step resolved, at execution time.
    written = {"Steps.ReadChampion.PropertyFiles.ChampionReport": {"approved": "0.8"}}
    assert Resolver(d, property_files=written)(evaluate) == [
        "evaluate",
        "--metric",
        "roc_auc",
        "--approved-metric",
        "0.8",
        "--margin",
        "0.05",
    ]
    # None given (schedule, drift): the champion step reads the champion from the registry.
    assert params["ApprovedModelMetric"]["DefaultValue"] == "none"
    rmse = Resolver(definition("prod", primaryMetric="rmse"), property_files=written)(
        definition("prod", primaryMetric="rmse")["Steps"][3]["Arguments"]["AppSpecification"][
            "ContainerArguments"
        ]
    )
    assert rmse[:3] == ["evaluate", "--metric", "rmse"]
    condition = d["Steps"][4]["Arguments"]["Conditions"][0]
    assert condition["LeftValue"]["Std:JsonGet"]["Path"] == "gate.passed"


def test_schedule_starts_the_pipeline() -> None:
    assert platform("prod").of_type("aws:cloudwatch/eventRule:EventRule")  # drift + approvals
    scheduled = platform("prod", schedule="rate(7 days)")
    rule = next(
        r
        for r in scheduled.of_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.endswith("-schedule")
    )
    assert rule.inputs["scheduleExpression"] == "rate(7 days)"
    target = next(
        t
        for t in scheduled.of_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.name.endswith("-schedule-target")
    )
    assert target.inputs["arn"].endswith(":pipeline/churn-prod-training")
    assert target.inputs["roleArn"].endswith("role/churn-prod-training-start-role")
    assert not [
        r
        for r in platform("prod").of_type("aws:cloudwatch/eventRule:EventRule")
        if r.name.endswith("-schedule")
    ]


SPEC = PipelineSpec(
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/r",
    image_uri=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/churn:1",
    input_data_uri="s3://raw/datasets/",
    artifacts_uri="s3://artifacts",
    kms_key_arn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k",
    model_package_group="churn-models",
    training=TrainingSettings(
        instance_type="ml.g5.2xlarge", primary_metric="roc_auc", evaluation_margin=0.01
    ),
    inference_instance_types=("ml.m5.large",),
)


def test_builder_output_is_deterministic_and_valid() -> None:
    # The definition is a Pulumi input string: the same settings given in another order must
    # not show up as a change to the pipeline on every `pulumi up`.
    a = replace(SPEC, training=TrainingSettings(hyperparameters={"C": 0.5, "max_iter": 100}))
    b = replace(SPEC, training=TrainingSettings(hyperparameters={"max_iter": 100, "C": 0.5}))
    assert json.dumps(build_definition(a)) == json.dumps(build_definition(b))
    validate_definition(build_definition(SPEC))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["Steps"][1]["Arguments"]["ResourceConfig"].__setitem__(
                "InstanceCount", "two"
            ),
            "Invalid type for parameter ResourceConfig.InstanceCount",
        ),
        (
            lambda d: d["Steps"][1]["Arguments"].__setitem__("GpuCount", 1),
            'Unknown parameter in input: "GpuCount"',
        ),
        (
            lambda d: d["Steps"][0]["Arguments"].pop("AppSpecification"),
            'Missing required parameter in input: "AppSpecification"',
        ),
        (
            lambda d: d["Steps"][3]["Arguments"]["ProcessingInputs"][0]["S3Input"].__setitem__(
                "S3Uri", {"Get": "Steps.Nope.Out"}
            ),
            "reference to unknown step 'Steps.Nope.Out'",
        ),
        (
            lambda d: d["Steps"][1]["Arguments"]["ResourceConfig"].__setitem__(
                "InstanceType", {"Get": "Parameters.Missing"}
            ),
            "reference to unknown parameter",
        ),
        (
            lambda d: (
                d["Steps"][4]["Arguments"]["IfSteps"][0]["Arguments"].pop("ModelApprovalStatus")
                and d["Steps"][4]["Arguments"]["IfSteps"][0]["Arguments"][
                    "InferenceSpecification"
                ].pop("Containers")
            ),
            "Missing required parameter in InferenceSpecification",
        ),
        (
            lambda d: d["Steps"].append(copy.deepcopy(d["Steps"][0])),
            "duplicate step name 'ValidateData'",
        ),
    ],
    ids=[
        "wrong-type",
        "unknown-field",
        "missing-field",
        "dangling-step",
        "dangling-parameter",
        "register-shape",
        "duplicate",
    ],
)
def test_builder_validation_catches_broken_definitions(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    broken = build_definition(SPEC)
    mutate(broken)
    with pytest.raises(PipelineDefinitionError) as info:
        validate_definition(broken)
    assert message in str(info.value)


def test_hyperparameters_from_config_reach_the_training_job_as_strings() -> None:
    train = definition("prod", hyperparameters='{"C": 0.5, "max_iter": 100, "solver": "lbfgs"}')[
        "Steps"
    ][1]["Arguments"]
    assert train["HyperParameters"] == {"C": "0.5", "max_iter": "100", "solver": "lbfgs"}


def test_every_resource_of_the_execution_role_in_another_partition() -> None:
    from mlops.infra.aws.resource_names import PlatformNames
    from mlops.infra.aws.training_pipeline import execution_role_policy

    account = "210987654321"
    doc = execution_role_policy(
        partition="aws-cn",
        region="cn-north-1",
        account_id=account,
        role_arn=f"arn:aws-cn:iam::{account}:role/exec",
        buckets={z: f"b-{z}" for z in ("raw", "curated", "features", "artifacts", "logs")},
        key_arn=f"arn:aws-cn:kms:cn-north-1:{account}:key/k",
        repository_arn=f"arn:aws-cn:ecr:cn-north-1:{account}:repository/r",
        names=PlatformNames("churn-prod"),
    )
    resources = {s["Sid"]: s["Resource"] for s in doc["Statement"]}
    sm = f"arn:aws-cn:sagemaker:cn-north-1:{account}:"
    logs = f"arn:aws-cn:logs:cn-north-1:{account}:log-group:"
    assert resources == {
        "ListLakeBuckets": [
            f"arn:aws-cn:s3:::b-{z}" for z in ("raw", "curated", "features", "artifacts")
        ],
        "ReadLakeData": [f"arn:aws-cn:s3:::b-{z}/*" for z in ("raw", "curated", "features")],
        "WritePipelineArtifacts": [
            f"arn:aws-cn:s3:::b-artifacts/{p}/*"
            for p in ("validation", "models", "checkpoints", "evaluation", "monitoring")
        ],
        "WriteCapturedTraffic": "arn:aws-cn:s3:::b-raw/capture/*",
        "UseLakeKey": f"arn:aws-cn:kms:cn-north-1:{account}:key/k",
        "EncryptJobVolumes": f"arn:aws-cn:kms:cn-north-1:{account}:key/k",
        "PullProjectImage": f"arn:aws-cn:ecr:cn-north-1:{account}:repository/r",
        "RegistryLogin": "*",
        "WriteOwnLogs": [
            f"{logs}/aws/sagemaker/TrainingJobs:*",
            f"{logs}/aws/sagemaker/ProcessingJobs:*",
            f"{logs}/aws/sagemaker/Endpoints/churn-prod-endpoint:*",
        ],
        "RunPipelineJobs": [
            f"{sm}training-job/pipelines-*",
            f"{sm}processing-job/pipelines-*",
        ],
        "RegisterCandidates": [
            f"{sm}model-package-group/churn-prod-models",
            f"{sm}model-package/churn-prod-models/*",
        ],
        "ReadChampion": [
            f"{sm}model-package-group/churn-prod-models",
            f"{sm}model-package/churn-prod-models/*",
        ],
        "PassOwnRoleToSageMaker": f"arn:aws-cn:iam::{account}:role/exec",
        "PublishDriftMetrics": "*",
    }


@pytest.mark.parametrize(
    ("training", "processing", "train_key", "process_key"),
    [
        ("ml.g5.2xlarge", "ml.m5.xlarge", False, True),  # pytorch's default: NVMe GPU
        ("ml.g4dn.xlarge", "ml.g4dn.xlarge", False, False),  # xgboost's default, both NVMe
        ("ml.p3.2xlarge", "ml.m5.xlarge", True, True),  # a GPU type with EBS volumes
        ("ml.m5.xlarge", "ml.m5.xlarge", True, True),
    ],
)
def test_volume_keys_only_where_aws_accepts_them(
    training: str, processing: str, train_key: bool, process_key: bool
) -> None:
    d = definition("prod", trainingInstanceType=training, processingInstanceType=processing)
    steps = {s["Name"]: s["Arguments"] for s in d["Steps"]}
    assert ("VolumeKmsKeyId" in steps["TrainModel"]["ResourceConfig"]) is train_key
    for name in ("ValidateData", "EvaluateModel"):
        cluster = steps[name]["ProcessingResources"]["ClusterConfig"]
        assert ("VolumeKmsKeyId" in cluster) is process_key, name
    # Outputs go to S3, which takes the key whatever the instance: they stay encrypted.
    assert steps["TrainModel"]["OutputDataConfig"]["KmsKeyId"].endswith("key/churn-prod-lake-key")


def test_evaluate_stays_isolated_and_only_the_champion_step_reaches_the_registry() -> None:
    d = definition()
    steps = {s["Name"]: s["Arguments"] for s in d["Steps"]}
    # The steps that run the project's code (validate, train, evaluate) are network-isolated.
    assert steps["ValidateData"]["NetworkConfig"]["EnableNetworkIsolation"] is True
    assert steps["TrainModel"]["EnableNetworkIsolation"] is True
    assert steps["EvaluateModel"]["NetworkConfig"]["EnableNetworkIsolation"] is True
    evaluate = steps["EvaluateModel"]["AppSpecification"]["ContainerArguments"]
    assert "--model-package-group" not in evaluate  # it asks the registry nothing
    # The champion step runs mlops's own command, reaches the registry, reads no data.
    champion = steps["ReadChampion"]
    assert champion["NetworkConfig"] == {
        "EnableNetworkIsolation": False,
        "EnableInterContainerTrafficEncryption": True,
    }
    assert champion["AppSpecification"]["ContainerArguments"][0] == "champion"
    assert "ProcessingInputs" not in champion
    assert champion["Environment"] == {"AWS_DEFAULT_REGION": "us-east-1"}
    assert champion["RoleArn"] == steps["EvaluateModel"]["RoleArn"]  # its ReadChampion reads
    (output,) = champion["ProcessingOutputConfig"]["Outputs"]
    assert Resolver(d)(output["S3Output"]["S3Uri"]).endswith("/evaluation/exec-1/champion")
    assert output["OutputName"] == "champion"
    (report,) = d["Steps"][2]["PropertyFiles"]
    assert report == {
        "PropertyFileName": "ChampionReport",
        "OutputName": "champion",
        "FilePath": "champion.json",
    }
