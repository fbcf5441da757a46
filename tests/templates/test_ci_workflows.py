"""The rendered CI: deploys gated on tests, the image digest given to `pulumi up`, least privilege.

Parsed from the YAML every pack renders, for GitHub and GitLab: a deploy needs the tests and the
image job of the same run, the digest flows from the image job's outputs into the stack's config,
only the image job can write to a registry, every action is pinned by commit, installs are cached
and come from the lock file.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from platform_runs import platform

from mlops.core.errors import ConfigError
from mlops.infra.aws.training_pipeline import image_reference
from mlops.infra.config import StackConfig
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers

ENVS = ["dev", "staging", "prod"]
PACKS = ["aws", "k8s"]
DIGEST = "sha256:" + "ab" * 32
REPO = "ghcr.io/example/churn@"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


@cache
def project(template: str, ci: str, registry: str = "") -> Path:
    import tempfile

    answers: dict[str, Any] = {
        "name": "churn",
        "ci": ci,
        "environments": ",".join(ENVS),
    }
    if registry:
        answers["registry"] = registry
    dest = Path(tempfile.mkdtemp(prefix="mlops-ci-")) / "churn"
    Scaffold(validate_answers(answers, template), dest, template=template, git=False).run()
    return dest


def workflows(template: str, registry: str = "") -> dict[str, dict[str, Any]]:
    root = project(template, "github", registry) / ".github" / "workflows"
    return {name: yaml.safe_load((root / f"{name}.yml").read_text()) for name in ("ci", "deploy")}


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the key `on` as the boolean True.
    return workflow.get("on") or workflow[True]  # type: ignore[no-any-return]


def needs_of(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).startswith(f"{action}@")]


# GitHub


@pytest.mark.parametrize("template", PACKS)
def test_github_deploys_run_only_after_ci_passed_in_the_same_run(template: str) -> None:
    ci, deploy = workflows(template).values()
    assert set(triggers(deploy)) == {"push", "workflow_dispatch"}
    assert "push" not in triggers(ci), "ci.yml would run twice on main, once ungated"
    assert "workflow_call" in triggers(ci) and "pull_request" in triggers(ci)
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["ci"]["with"] == {"push": True}
    # Every deploy reaches the called CI through its `needs` chain; nothing else starts them.
    for i, env in enumerate(ENVS):
        assert needs_of(jobs[f"deploy-{env}"]) == (["ci"] if i == 0 else [f"deploy-{ENVS[i - 1]}"])
    # The called workflow's jobs all run in it: a red test fails the `ci` job, so no deploy.
    assert {"test", "image"} <= set(ci["jobs"])
    if template == "aws":
        assert "pulumi-cli" in ci["jobs"]


@pytest.mark.parametrize("template", PACKS)
def test_github_image_digest_flows_from_the_push_to_every_pulumi_up(template: str) -> None:
    ci, deploy = workflows(template).values()
    image = ci["jobs"]["image"]
    push = next(s for s in image["steps"] if s.get("id") == "push")
    assert push["uses"].startswith("docker/build-push-action@") and push["with"]["push"] is True
    assert push["if"] == "inputs.push"
    assert "${{ github.sha }}" in push["with"]["tags"]
    assert image["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"
    output = triggers(ci)["workflow_call"]["outputs"]["image-digest"]["value"]
    assert output == "${{ jobs.image.outputs.digest }}"
    # Smoke-tested before the push: train on the sample data, serve, /ping.
    names = [s.get("name") or s.get("uses") or s.get("run") for s in image["steps"]]
    smoke = next(i for i, s in enumerate(image["steps"]) if "make smoke" in s.get("run", ""))
    assert smoke < names.index("push")
    key = "imageDigest" if template == "aws" else "image"
    for i, env in enumerate(ENVS):
        job = deploy["jobs"][f"deploy-{env}"]
        source = "ci" if i == 0 else f"deploy-{ENVS[i - 1]}"
        digest = "${{ needs." + source + ".outputs.image-digest }}"
        assert job["outputs"]["image-digest"] == digest  # handed on to the next environment
        (up,) = steps_using(job, "pulumi/actions")
        assert up["with"]["command"] == "up"
        # As the action reads it, once GitHub has put the digest in.
        config = yaml.safe_load(up["with"]["config-map"].replace(digest, DIGEST))
        assert config[key] == {
            "value": DIGEST if template == "aws" else REPO + DIGEST,
            "secret": False,
        }
        guard = next(s for s in job["steps"] if s.get("name") == "the image CI pushed")
        assert guard["env"]["IMAGE_DIGEST"] == digest and "sha256:" in guard["run"]


@pytest.mark.parametrize("template", PACKS)
def test_github_only_the_image_job_can_write_to_a_registry(template: str) -> None:
    ci, deploy = workflows(template).values()
    assert ci["permissions"] == deploy["permissions"] == {"contents": "read"}
    write = "id-token" if template == "aws" else "packages"
    for name, job in ci["jobs"].items():
        granted = job.get("permissions", {})
        # aws: the Spark drift image's job pushes too (test_github_spark_image_...)
        pushers = {"image", "spark-image"} if template == "aws" else {"image"}
        assert (granted.get(write) == "write") is (name in pushers), name
    # The caller grants the called workflow what its image job needs, nothing more.
    assert deploy["jobs"]["ci"]["permissions"] == {"contents": "read", write: "write"}
    for env in ENVS:
        assert deploy["jobs"][f"deploy-{env}"].get("permissions", {}).get("packages") is None
    image = ci["jobs"]["image"]
    if template == "aws":
        (login,) = steps_using(image, "aws-actions/configure-aws-credentials")
        assert login["with"]["role-to-assume"] == "${{ secrets.AWS_PUSH_ROLE_ARN }}"
        assert login["if"] == "inputs.push"
        # The deploy role never pushes: no deploy job logs in to ECR or builds.
        for env in ENVS:
            job = deploy["jobs"][f"deploy-{env}"]
            assert not steps_using(job, "aws-actions/amazon-ecr-login")
            assert not steps_using(job, "docker/build-push-action")
    else:
        (login,) = steps_using(image, "docker/login-action")
        assert login["if"] == "inputs.push"
        # The registry cache is written by the push only, never by a pull request's build.
        build = next(s for s in image["steps"] if s.get("name") == "build")
        assert "cache-to" not in build["with"]
        assert "cache-to" in next(s for s in image["steps"] if s.get("id") == "push")["with"]


def test_github_other_registries_log_in_with_secrets_and_no_packages_permission() -> None:
    ci, deploy = workflows("k8s", "registry.example.com:5000/ml").values()
    image = ci["jobs"]["image"]
    assert "packages" not in image["permissions"]
    (login,) = steps_using(image, "docker/login-action")
    assert login["with"]["registry"] == "registry.example.com:5000"
    assert login["with"]["password"] == "${{ secrets.REGISTRY_PASSWORD }}"
    assert set(deploy["jobs"]["ci"]["secrets"]) == {"REGISTRY_USERNAME", "REGISTRY_PASSWORD"}


@pytest.mark.parametrize("template", PACKS)
def test_github_prod_refuses_to_deploy_without_required_reviewers(template: str) -> None:
    jobs = workflows(template)["deploy"]["jobs"]
    prod = jobs["deploy-prod"]
    assert prod["environment"] == "prod"
    assert prod["permissions"]["actions"] == "read"
    check = prod["steps"][0]
    assert check["name"] == "prod must have required reviewers"
    assert "environments/prod" in check["run"] and "required_reviewers" in check["run"]
    assert "exit 1" in check["run"]
    for env in ("dev", "staging"):
        assert not any(
            "required reviewers" in str(s.get("name")) for s in jobs[f"deploy-{env}"]["steps"]
        )


@pytest.mark.parametrize("template", PACKS)
def test_github_actions_are_pinned_by_commit(template: str) -> None:
    root = project(template, "github") / ".github" / "workflows"
    uses = re.findall(r"uses:\s*(\S+)", "".join(p.read_text() for p in root.glob("*.yml")))
    external = [u for u in uses if not u.startswith("./")]
    assert {u.split("@")[0] for u in external} >= {
        "actions/checkout",
        "actions/setup-python",
        "astral-sh/setup-uv",
        "docker/setup-buildx-action",
        "docker/build-push-action",
        "pulumi/actions",
    }
    assert [u for u in external if not PINNED.match(u)] == []


@pytest.mark.parametrize("template", PACKS)
def test_github_installs_are_cached_and_come_from_the_checked_lock(template: str) -> None:
    root = project(template, "github") / ".github" / "workflows"
    for path in root.glob("*.yml"):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            runs = [s.get("run", "") for s in job.get("steps", [])]
            if "make install" not in runs:
                continue
            (python,) = steps_using(job, "actions/setup-python")
            if name == "spark-image":  # it publishes: no cache a pull request could have written
                assert "cache" not in python["with"]
                continue
            assert python["with"]["cache"] == "pip", (path.name, name)
            assert "requirements.lock" in python["with"]["cache-dependency-path"]
    test = workflows(template)["ci"]["jobs"]["test"]
    (uv,) = steps_using(test, "astral-sh/setup-uv")
    assert uv["with"]["enable-cache"] is True
    runs = [s.get("run") for s in test["steps"]]
    assert runs.index("make lock-check") < runs.index("make install")


# GitLab


def _job(config: dict[str, Any], name: str) -> dict[str, Any]:
    job = dict(config[name])
    if "extends" in job:
        job = {**config[job.pop("extends")], **job}
    return job


@pytest.mark.parametrize("template", PACKS)
def test_gitlab_deploys_need_the_tests_and_the_image_and_take_its_digest(template: str) -> None:
    config = yaml.safe_load((project(template, "gitlab") / ".gitlab-ci.yml").read_text())
    assert config["stages"] == ["test", "build", "preview", "deploy"]
    image = _job(config, "image")
    assert image["stage"] == "build"
    assert image["artifacts"]["reports"]["dotenv"] == "image.env"
    script = "\n".join(image["script"])
    assert script.index("make smoke") < script.index("--push")
    assert 'echo "IMAGE_DIGEST=$digest" > image.env' in script
    assert '[ "$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH" ]' in script
    key = "imageDigest" if template == "aws" else "image"
    value = '"$IMAGE_DIGEST"' if template == "aws" else '"ghcr.io/example/churn@$IMAGE_DIGEST"'
    for i, env in enumerate(ENVS):
        deploy = _job(config, f"deploy-{env}")
        assert deploy["needs"] == (
            ["test", "image"] if i == 0 else ["image", f"deploy-{ENVS[i - 1]}"]
        )
        assert deploy["script"][0].startswith('test -n "$IMAGE_DIGEST"')
        assert f"pulumi config set {key} {value} --stack {env}" in deploy["script"]
        up = [line for line in deploy["script"] if line.startswith("pulumi up")]
        assert len(up) == 1 and up[0].startswith(f"pulumi up --stack {env} ")
    # Only the image job can push: it alone holds the push role or the registry's password.
    text = (project(template, "gitlab") / ".gitlab-ci.yml").read_text()
    push_secret = "$AWS_PUSH_ROLE_ARN" if template == "aws" else "$REGISTRY_PASSWORD"
    jobs = [n for n, v in config.items() if isinstance(v, dict) and "script" in v]
    holders = [n for n in jobs if push_secret in yaml.safe_dump(_job(config, n))]
    assert holders == ["image"], holders
    assert "--push" not in text.split("\nimage:", 1)[1].split("\npreview-", 1)[1]
    # pip's downloads are cached, keyed by the lock; the tests check the lock first.
    assert config["default"]["cache"]["key"]["files"] == ["pyproject.toml", "requirements.lock"]
    tests = config["test"]["script"]
    assert tests.index("make lock-check") < tests.index("make install")


# The Makefile both packs share


@pytest.mark.parametrize(("template", "runs_pytest"), [("aws", True), ("k8s", False)])
def test_make_test_cli_has_tests_to_run_or_says_there_are_none(
    template: str, runs_pytest: bool
) -> None:
    makefile = (project(template, "github") / "Makefile").read_text()
    recipe = makefile.split("\ntest-cli:", 1)[1].split("\n\n", 1)[0]
    assert ("pytest -m pulumi_cli" in recipe) is runs_pytest
    tests = project(template, "github") / "tests"
    assert (tests / "test_pulumi_cli.py").exists() is runs_pytest


@pytest.mark.parametrize(("template", "runs_pytest"), [("aws", True), ("k8s", False)])
def test_make_test_local_invokes_the_local_endpoint_or_says_there_is_no_test(
    template: str, runs_pytest: bool
) -> None:
    makefile = (project(template, "github") / "Makefile").read_text()
    recipe = makefile.split("\ntest-local:", 1)[1].split("\n\n", 1)[0]
    assert ("MLOPS_LOCAL_STATUS=" in recipe and "pytest -m endpoint" in recipe) is runs_pytest
    assert "mlops local status --json" in recipe or not runs_pytest
    tests = project(template, "github") / "tests"
    assert (tests / "test_endpoint.py").exists() is runs_pytest


def test_every_deploy_smoke_tests_its_endpoint_before_the_next_environment() -> None:
    deploy = workflows("aws")["deploy"]
    for env in ENVS:
        steps = deploy["jobs"][f"deploy-{env}"]["steps"]
        (up,) = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("pulumi/")]
        assert steps[up]["id"] == "up"
        (smoke,) = [i for i, s in enumerate(steps) if "tests/test_endpoint.py" in s.get("run", "")]
        assert smoke > up  # after the endpoint is deployed, in the same job
        assert "-m endpoint" in steps[smoke]["run"]
        # The stack's outputs reach the test through the environment, never the script text.
        assert steps[smoke]["env"] == {"PLATFORM_OUTPUTS": "${{ steps.up.outputs.platform }}"}
    # prod needs staging's job, so a failed staging smoke test stops prod's deploy.
    assert needs_of(deploy["jobs"]["deploy-prod"]) == ["deploy-staging"]
    gitlab = (project("aws", "gitlab") / ".gitlab-ci.yml").read_text()
    for env in ENVS:
        script = _job(yaml.safe_load(gitlab), f"deploy-{env}")["script"]
        up = next(i for i, line in enumerate(script) if line.startswith("pulumi up"))
        smoke = next(i for i, line in enumerate(script) if "tests/test_endpoint.py" in line)
        assert smoke > up and f"--stack {env}" in script[smoke]


def test_make_install_uses_the_lock_when_there_is_one() -> None:
    makefile = (project("aws", "github") / "Makefile").read_text()
    install = makefile.split("\ninstall:", 1)[1].split("\n\n", 1)[0]
    assert "ifneq ($(wildcard $(LOCK)),)" in install
    assert "-r $(LOCK)" in install and "--no-deps -e ." in install
    assert "LOCK = requirements.lock" in makefile
    assert "$(UV) pip compile pyproject.toml --extra dev" in makefile


# The stack's side: the digest CI sets is the image the pipeline and the endpoint run


def test_image_digest_must_be_a_sha256_digest() -> None:
    base = {"aws:region": "us-east-1"}
    good = StackConfig.from_values("churn", "dev", {**base, "churn:imageDigest": DIGEST})
    assert good.training.image_digest == DIGEST
    assert StackConfig.from_values("churn", "dev", base).training.image_digest == ""
    for bad in ("sha256:" + "a" * 63, "sha256:" + "A" * 64, "ab" * 32, "latest", REPO + DIGEST):
        with pytest.raises(ConfigError, match="imageDigest.*is not an image digest"):
            StackConfig.from_values("churn", "dev", {**base, "churn:imageDigest": bad})


def test_image_reference_prefers_the_digest_to_the_tag() -> None:
    repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn-dev"
    assert image_reference(repo, "0.1.0") == f"{repo}:0.1.0"
    assert image_reference(repo, "0.1.0", DIGEST) == f"{repo}@{DIGEST}"


def test_the_platform_runs_the_image_by_digest_once_ci_sets_it() -> None:
    by_tag = platform("prod").result["platform"]["image_uri"]
    assert by_tag.endswith("/churn-prod:0.1.0")
    program = platform("prod", imageDigest=DIGEST)
    uri = program.result["platform"]["image_uri"]
    assert uri == by_tag.replace(":0.1.0", f"@{DIGEST}")
    # The pipeline's default image (training, processing, registered models) is that one too.
    (pipeline,) = [
        p for p in program.of_type("aws:sagemaker/pipeline:Pipeline") if "training" in p.name
    ]
    definition = json.loads(pipeline.inputs["pipelineDefinition"])
    (image,) = [p for p in definition["Parameters"] if p["Name"] == "ImageUri"]
    assert image["DefaultValue"] == uri


def test_github_spark_image_is_built_and_pushed_only_for_stacks_that_check_drift_with_spark() -> (
    None
):
    from mlops.infra.aws.catalog import SPARK_IMAGE_SUFFIX

    ci, deploy = workflows("aws").values()
    job = ci["jobs"]["spark-image"]
    assert job["if"] == "inputs.push"  # pull requests hold no login to SageMaker's registry
    engines = next(s for s in job["steps"] if s.get("id") == "engines")
    assert "python -m mlops.infra.spark_stacks ." in engines["run"]
    gated = [s for s in job["steps"] if s.get("if")]
    assert all(s["if"] == "steps.engines.outputs.stacks != ''" for s in gated)
    (login,) = steps_using(job, "aws-actions/configure-aws-credentials")
    assert login["with"]["role-to-assume"] == "${{ secrets.AWS_PUSH_ROLE_ARN }}"
    own, sagemaker = steps_using(job, "aws-actions/amazon-ecr-login")
    assert own.get("with") is None and sagemaker["with"]["registries"] == "173754725891"
    push = next(s for s in job["steps"] if s.get("id") == "push")
    assert push in gated and push["with"]["file"] == "Dockerfile.spark"
    assert push["with"]["provenance"] is False and push["with"]["push"] is True
    assert push["with"]["build-args"] == (
        "SPARK_REGISTRY=173754725891.dkr.ecr.us-east-1.amazonaws.com"
    )
    tags = push["with"]["tags"].strip().splitlines()
    assert tags == [
        "${{ steps.ecr.outputs.registry }}/churn-" + env + ":${{ github.sha }}" + SPARK_IMAGE_SUFFIX
        for env in ENVS
    ]
    assert job["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"
    output = triggers(ci)["workflow_call"]["outputs"]["spark-image-digest"]["value"]
    assert output == "${{ jobs.spark-image.outputs.digest }}"
    spark_digest = "sha256:" + "cd" * 32
    for i, env in enumerate(ENVS):
        job = deploy["jobs"][f"deploy-{env}"]
        source = "ci" if i == 0 else f"deploy-{ENVS[i - 1]}"
        digest = "${{ needs." + source + ".outputs.image-digest }}"
        spark = "${{ needs." + source + ".outputs.spark-image-digest }}"
        assert job["outputs"]["spark-image-digest"] == spark
        (up,) = steps_using(job, "pulumi/actions")
        raw = up["with"]["config-map"].replace(digest, DIGEST)
        # The stack's sparkImageDigest, as pushed; empty when no stack needed the image.
        config = yaml.safe_load(raw.replace(spark, spark_digest))
        assert config["sparkImageDigest"] == {"value": spark_digest, "secret": False}
        assert yaml.safe_load(raw.replace(spark, ""))["sparkImageDigest"]["value"] == ""
        values = {"aws:region": "us-east-1", "churn:sparkImageDigest": ""}
        assert StackConfig.from_values("churn", env, values).monitoring.spark_image_digest == ""


def test_gitlab_spark_image_is_pushed_only_for_stacks_that_check_drift_with_spark() -> None:
    config = yaml.safe_load((project("aws", "gitlab") / ".gitlab-ci.yml").read_text())
    test = config["test"]
    assert 'stacks="$(python -m mlops.infra.spark_stacks .)"' in test["script"]
    assert test["artifacts"]["reports"]["dotenv"] == "spark.env"  # reaches the build stage
    script = "\n".join(_job(config, "image")["script"])
    spark = script.split("--file Dockerfile.spark", 1)
    assert len(spark) == 2
    gate = spark[0].rsplit("if ", 1)[1]
    assert '"$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH"' in gate and "$SPARK_STACKS" in gate
    assert "--push --provenance=false" in spark[0].rsplit("docker buildx build", 1)[1]
    assert "--build-arg SPARK_REGISTRY=173754725891.dkr.ecr.us-east-1.amazonaws.com" in spark[1]
    for env in ENVS:
        assert f'--tag "$registry/churn-{env}:$CI_COMMIT_SHA-spark"' in spark[1]
    assert 'echo "SPARK_IMAGE_DIGEST=$spark" >> image.env' in spark[1]
    for env in ENVS:
        deploy = _job(config, f"deploy-{env}")
        line = f'pulumi config set sparkImageDigest "${{SPARK_IMAGE_DIGEST:-}}" --stack {env}'
        assert line in deploy["script"]
        assert deploy["script"].index(line) < next(
            i for i, c in enumerate(deploy["script"]) if c.startswith("pulumi up")
        )
