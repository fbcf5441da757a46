"""The generated project's image runs: its dependency set is declared, and it is enough.

mlops-stack's ``runtime`` extra names what the container entry points import; the image installs
mlops-stack with ``--no-deps`` (no Pulumi) and the project's dependencies, which hold that extra.
The fast tests check the declarations and the Dockerfile's shape. The slow one builds the image's
Python the way its Dockerfile does, into a fresh virtual environment that holds nothing else:
each RUN line runs as written (``pip`` played by ``uv pip``), under the image's WORKDIR and ENV
mapped onto a temporary root, then validate, train, evaluate, serve and monitor run there on the
sample data with SageMaker's /opt/ml layout. ``make test``'s own environment has every base
dependency installed, so it could never see an image that lacks one.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass, field
from importlib.metadata import packages_distributions, requires
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement

from mlops.infra.k8s.workloads import UID
from mlops.templates.common import FRAMEWORKS as FRAMEWORK_FACTS
from mlops.templates.common import (
    RUNTIME_EXTRA,
    Framework,
    extra_requirements,
    runtime_requirements,
)
from mlops.templates.engine import Scaffold
from mlops.templates.pack import validate_answers
from mlops.templates.source import wheel_bytes

ROOT = REPO
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = PYPROJECT["optional-dependencies"][RUNTIME_EXTRA]
# Imported by the entry points' modules, but only where the image's environment asks for it.
# MLflow is reached over its REST API (pipelines/adapters/mlflow.py), not its package. PySpark
# only by `container monitor --engine spark`, in the Spark drift image (Dockerfile.spark), whose
# base (SageMaker's Spark processing image) puts its own Spark's pyspark on the driver's path.
OPTIONAL_IMPORTS: set[str] = {"pyspark"}
PACKS = ("aws", "k8s")
FRAMEWORKS = ("sklearn", "xgboost", "pytorch")
# The pytorch image's base (pytorch/pytorch) brings torch; here its stand-in is the CPU wheel that
# scripts/test.sh caches in .ci/wheels (the default torch wheel pulls gigabytes of CUDA).
WHEELS = ROOT / ".ci" / "wheels"


def name_of(requirement: str) -> str:
    return Requirement(requirement).name.lower().replace("_", "-")


# -- the declared set -------------------------------------------------------------------------


def test_the_runtime_extra_is_base_dependencies_word_for_word() -> None:
    # So `pip install mlops-stack` (the tool) gets the very ranges the image gets.
    assert RUNTIME, "pyproject.toml declares no runtime extra"
    missing = [r for r in RUNTIME if r not in PYPROJECT["dependencies"]]
    assert not missing, f"runtime entries that are not base dependencies: {missing}"
    tool_only = {"typer", "click", "rich", "jinja2", "pulumi", "pulumi-aws", "pulumi-policy"}
    assert not tool_only & {name_of(r) for r in RUNTIME}, "the image would carry the tool"


def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # `from mlops.x import function`: not a module
        return None
    origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") else None


def _entry_point_imports() -> dict[str, set[str]]:
    """Third-party top-level modules the entry points' modules import, at any depth or level."""
    seen: set[str] = set()
    found: dict[str, set[str]] = {}
    todo = ["mlops.pipelines.container"]
    while todo:
        module = todo.pop()
        source = _module_file(module)
        if module in seen or source is None:
            continue
        seen.add(module)
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "mlops":
                    todo.append(name)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(module)
    assert "mlops.pipelines.serving" in seen and "mlops.pipelines.monitor_job" in seen
    return found


def test_the_runtime_extra_holds_every_import_of_the_entry_points() -> None:
    declared = {name_of(r) for r in RUNTIME}
    # What the declared distributions bring themselves (botocore comes with boto3).
    brought = {name_of(r) for dist in declared for r in requires(dist) or [] if "extra ==" not in r}
    distributions = packages_distributions()
    undeclared = {}
    for top, importers in _entry_point_imports().items():
        if top in OPTIONAL_IMPORTS:
            continue
        dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
        if not dists & (declared | brought):
            undeclared[top] = sorted(importers)
    assert not undeclared, f"the entry points import, the runtime extra lacks: {undeclared}"


def test_an_installed_mlops_stack_names_the_same_runtime_set_as_its_checkout() -> None:
    # Run from a wheel, the context builder reads the extra from the distribution's metadata.
    with zipfile.ZipFile(io.BytesIO(wheel_bytes())) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        lines = wheel.read(metadata).decode().splitlines()
    requires_dist = [line.split(": ", 1)[1] for line in lines if line.startswith("Requires-Dist:")]
    from_metadata = extra_requirements(requires_dist, RUNTIME_EXTRA)
    assert {str(Requirement(r)) for r in from_metadata} == {str(Requirement(r)) for r in RUNTIME}
    assert [str(Requirement(r)) for r in runtime_requirements()] == [
        str(Requirement(r)) for r in RUNTIME
    ]
    assert extra_requirements(requires_dist, "no-such-extra") == []


# -- the Dockerfile ---------------------------------------------------------------------------


def render(pack: str, dest: Path, framework: str = "sklearn") -> Path:
    answers = validate_answers({"name": "churn-model", "framework": framework}, pack)
    Scaffold(answers, dest, template=pack, git=False).run()
    return dest


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for pack in PACKS:
        out[pack] = render(pack, tmp_path_factory.mktemp(pack) / "churn-model")
    return out


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "a continuation line runs off the end"
    return out


def env_pairs(args: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(args))


@pytest.mark.parametrize("pack", PACKS)
def test_the_image_installs_dependencies_before_the_code_and_compiles_them(
    projects: dict[str, Path], pack: str
) -> None:
    project = projects[pack]
    steps = instructions((project / "Dockerfile").read_text())
    keywords = [k for k, _ in steps]
    runs = [i for i, (k, _) in enumerate(steps) if k == "RUN"]
    copies = {args.split()[0]: i for i, (k, args) in enumerate(steps) if k == "COPY"}
    installs = [i for i in runs if "pip install" in steps[i][1]]
    # pyproject.toml first, its dependencies installed, and only then the package.
    assert copies["pyproject.toml"] < installs[0] < copies["churn_model/"]
    for i in installs:
        for command in steps[i][1].split("&&"):
            if "pip install" in command:
                assert "--compile" in command.split(), command
                if "--no-deps" in command.split():  # only mlops-stack goes in without its deps
                    assert '"mlops-stack==' in command, command
    # The project's own code, imported from WORKDIR, is compiled at build too.
    assert any("compileall" in steps[i][1] and "churn_model" in steps[i][1] for i in runs)
    # The project's dependencies hold mlops-stack's runtime, and not the tool.
    declared = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {str(Requirement(r)) for r in RUNTIME} <= {str(Requirement(r)) for r in declared}
    assert "mlops-stack" not in {name_of(r) for r in declared}
    # The base image: by digest, with the tag that says what it is.
    assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", dict(steps)["FROM"])
    assert keywords[-2:] == ["ENTRYPOINT", "CMD"]
    assert json.loads(dict(steps)["ENTRYPOINT"]) == ["python", "-m", "mlops.pipelines.container"]


def test_the_aws_spark_image_is_sagemakers_spark_image_with_the_monitor_on_it(
    projects: dict[str, Path],
) -> None:
    from mlops.infra.aws.catalog import (
        SPARK_DRIFT_ENTRY,
        SPARK_PROCESSING_TAG,
        spark_processing_registry,
    )

    project = projects["aws"]
    assert not (projects["k8s"] / "Dockerfile.spark").exists()  # SageMaker's only
    steps = instructions((project / "Dockerfile.spark").read_text())
    keywords = [k for k, _ in steps]
    # The region's SageMaker Spark registry (a build argument: CI passes the same), by tag.
    assert steps[0] == ("ARG", f"SPARK_REGISTRY={spark_processing_registry('us-east-1')}")
    assert steps[1] == (
        "FROM",
        f"${{SPARK_REGISTRY}}/sagemaker-spark-processing:{SPARK_PROCESSING_TAG}",
    )
    assert re.fullmatch(r"3\.5-cpu-py312-v1\.\d+", SPARK_PROCESSING_TAG)  # Spark 3.5, Py 3.12
    # Every install goes into the Python Spark runs (PYSPARK_PYTHON), compiled; the base set is
    # mlops-stack's runtime extra, mlops-stack itself without its tool's dependencies; no pyspark
    # (the image's own Spark is on the driver's path).
    commands = [c for k, a in steps if k == "RUN" for c in a.split("&&")]
    installs = [shlex.split(c) for c in commands if "pip install" in c]
    assert installs and all(
        c[:4] == ["/usr/local/bin/python3", "-m", "pip", "install"] for c in installs
    )
    assert all("--compile" in c for c in installs)
    base, tool = installs
    assert [str(Requirement(r)) for r in base[5:]] == [str(Requirement(r)) for r in RUNTIME]
    assert "--no-deps" in tool and tool[-1].startswith("mlops-stack==")
    named = {name_of(r) for c in installs for r in c[4:] if not r.startswith("-") and "/" not in r}
    assert "pyspark" not in named
    # The entry file where the pipeline points smspark-submit; the base's ENTRYPOINT stays.
    copies = [tuple(a.split()) for k, a in steps if k == "COPY"]
    assert ("docker/drift_check_spark.py", SPARK_DRIFT_ENTRY) in copies
    assert ("data/contract.yaml", "/opt/mlops/data/contract.yaml") in copies
    envs = [env_pairs(a) for k, a in steps if k == "ENV"]
    assert envs[-1] == {"MLOPS_DATA_CONTRACT": "/opt/mlops/data/contract.yaml"}
    assert "ENTRYPOINT" not in keywords and "CMD" not in keywords
    assert (project / "docker" / "drift_check_spark.py").is_file()


def test_the_spark_entry_file_hands_its_arguments_to_the_container_entry_point(
    projects: dict[str, Path],
) -> None:
    # As spark-submit runs it: `python FILE monitor ...`; with no lake set, the monitor refuses
    # with its one line and exit 2, which proves the arguments reached `container monitor`.
    entry = projects["aws"] / "docker" / "drift_check_spark.py"
    done = subprocess.run(
        [sys.executable, str(entry), "monitor", "--engine", "spark"],
        capture_output=True, text=True, timeout=60, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "monitor needs MLOPS_MODEL_URI, MLOPS_ENDPOINT_NAME" in done.stderr


@pytest.mark.parametrize("pack", PACKS)
def test_dependabot_keeps_the_pinned_base_image_current(
    projects: dict[str, Path], pack: str
) -> None:
    config = yaml.safe_load((projects[pack] / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "pip", "docker"} <= set(ecosystems)
    # Dependabot looks for the Dockerfile in the entry's directory.
    assert (projects[pack] / ecosystems["docker"]["directory"].lstrip("/") / "Dockerfile").is_file()


def test_the_k8s_image_runs_as_the_pods_user_and_finds_the_programs_contract(
    projects: dict[str, Path],
) -> None:
    k8s = instructions((projects["k8s"] / "Dockerfile").read_text())
    assert ("USER", str(UID)) in k8s  # runAsUser of every pod (infra/k8s/workloads.py)
    workdir = dict(k8s)["WORKDIR"]
    env = {k: v for keyword, args in k8s if keyword == "ENV" for k, v in env_pairs(args).items()}
    program = (projects["k8s"] / "infra" / "__main__.py").read_text()
    contract = re.search(r'"MLOPS_DATA_CONTRACT": "([^"]+)"', program)
    assert contract is not None
    # The manifests' value overrides the image's: both must name the file the image holds.
    assert contract.group(1) == env["MLOPS_DATA_CONTRACT"] == f"{workdir}/data/contract.yaml"
    assert "SageMaker" not in (projects["k8s"] / "pyproject.toml").read_text()
    aws = instructions((projects["aws"] / "Dockerfile").read_text())
    assert "USER" not in dict(aws)  # SageMaker writes /opt/ml as root
    assert "runs the container as root" in (projects["aws"] / "Dockerfile").read_text()


# -- the image's Python, built as the Dockerfile builds it -------------------------------------


def clean_env(venv: Path) -> dict[str, str]:
    """A new shell's environment with only ``venv`` on PATH (nothing of this session's Python)."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_", "UV_"))}
    keep.pop("VIRTUAL_ENV", None)
    here = Path(sys.executable).parent
    path = [p for p in keep.get("PATH", "").split(os.pathsep) if Path(p) != here]
    return {**keep, "VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join([str(venv / "bin"), *path])}


@dataclass
class Image:
    """What a Dockerfile's instructions did, with the image's ``/`` at ``root`` on this machine."""

    root: Path
    venv: Path
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    entrypoint: list[str] = field(default_factory=list)

    def at(self, path: str) -> Path:
        """An image path on this machine (relative ones are under WORKDIR)."""
        full = path if path.startswith("/") else f"{self.workdir.rstrip('/')}/{path}"
        return self.root / full.lstrip("/")

    def local(self, value: str) -> str:
        """An ENV value with its absolute image paths mapped onto ``root``."""
        if not value.startswith("/"):
            return value
        return os.pathsep.join(str(self.at(p)) for p in value.split(os.pathsep))

    def shell(self, command: str) -> str:
        """A RUN line as it runs here: /tmp is the image's, and pip is played by uv.

        pip compiles what it installs unless told ``--no-compile`` (PYTHONDONTWRITEBYTECODE
        does not stop it); uv only when asked, so each install asks as pip would.
        """
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        pip = f"{uv} pip install --python {self.venv / 'bin' / 'python'}"
        command = re.sub(r"(?<![\w/.])/tmp/", f"{self.root}/tmp/", command)
        installs = []
        for part in command.split("&&"):
            if "python -m pip install" in part:
                words = part.split()
                compile_ = "--no-compile" not in words
                part = re.sub(r"\s--(no-)?compile(?=\s)", " ", part)
                flags = " --compile-bytecode" if compile_ else ""
                part = part.replace("python -m pip install", pip + flags)
            installs.append(part)
        return "&&".join(installs)

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, **{k: self.local(v) for k, v in self.env.items()}}


def copy(project: Path, args: str, image: Image) -> None:
    """COPY from the build context (the project) into the image: ``SRC... DEST``."""
    *sources, dest = args.split()
    for src in sources:
        target = image.at(dest)
        if (project / src).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(project / src, target, ignore=ignore, dirs_exist_ok=True)
        else:
            target = target / Path(src).name if dest.endswith("/") else target
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(project / src, target)


def cpu_torch_wheel() -> Path | None:
    """The CPU build of torch that scripts/test.sh caches, if it is there."""
    found = sorted(WHEELS.glob("torch-*+cpu-cp311-*.whl")) if WHEELS.is_dir() else []
    return found[-1] if found else None


def base_image(reference: str, venv: Path, env: dict[str, str]) -> None:
    """The base image's Python: a fresh 3.11, holding torch where the base image is PyTorch's."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "venv", "-q", "-p", "3.11", str(venv)], check=True, env=env)
    if reference.startswith("pytorch/pytorch:"):
        wheel = cpu_torch_wheel()
        assert wheel is not None, "no CPU torch wheel in .ci/wheels"
        python = str(venv / "bin" / "python")
        done = subprocess.run(
            [uv, "pip", "install", "-q", "--python", python, str(wheel)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    elif reference.split(":")[0] != "python":
        pytest.fail(f"the image test does not know base image {reference}")


def build(project: Path, root: Path, venv: Path) -> Image:
    """Run the Dockerfile's instructions here; fail on any this test does not know."""
    image = Image(root, venv)
    (root / "tmp").mkdir(parents=True)
    base = clean_env(venv)
    for keyword, args in instructions((project / "Dockerfile").read_text()):
        if keyword == "FROM":
            base_image(args, venv, base)
        elif keyword == "ENV":
            image.env.update(env_pairs(args))
        elif keyword == "WORKDIR":
            image.workdir = args
            image.at(args).mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            copy(project, args, image)
        elif keyword == "RUN":
            done = subprocess.run(
                ["bash", "-c", image.shell(args)],
                cwd=image.at("."),
                env=image.environ(base),
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"RUN {args}\n{done.stderr[-3000:]}"
        elif keyword == "USER":
            image.user = args
        elif keyword == "ENTRYPOINT":
            image.entrypoint = json.loads(args)
        elif keyword not in ("EXPOSE", "CMD"):
            pytest.fail(f"the image test does not know Dockerfile instruction {keyword}")
    return image


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sample_rows(project: Path, count: int) -> list[list[float]]:
    with (project / "data" / "sample.csv").open() as f:
        rows = list(csv.DictReader(f))
    features = ["tenure_months", "monthly_charges", "support_calls", "annual_contract"]
    return [[float(row[k]) for k in features] for row in rows[:count]]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("pack", PACKS)
def test_the_images_python_runs_every_entry_point_on_the_sample_data(
    pack: str, framework: str, tmp_path: Path, lake: Any, moto_endpoint: str
) -> None:
    if framework == "pytorch" and cpu_torch_wheel() is None:
        pytest.skip("no CPU torch wheel in .ci/wheels: scripts/test.sh caches it there")
    project = render(pack, tmp_path / "churn-model", framework)
    image = build(project, tmp_path / "image", tmp_path / "venv")
    site = image.venv / "lib" / "python3.11" / "site-packages"
    # mlops-stack is the wheel of this checkout, installed without the tool's dependencies...
    installed = site / "mlops" / "pipelines" / "container.py"
    assert installed.read_bytes() == (ROOT / "pipelines" / "container.py").read_bytes()
    assert not (site / "pulumi").exists() and not (site / "typer").exists()
    # ...and compiled at build, as the project's own code is (a read-only root can't write it).
    assert (installed.parent / "__pycache__" / "container.cpython-311.pyc").is_file()
    train = image.at("churn_model/pipelines/__pycache__/train.cpython-311.pyc")
    assert train.is_file()

    ml = image.root / "opt" / "ml"  # SageMaker's /opt/ml, on this machine
    base = clean_env(image.venv)
    env = image.environ(base) | {"SM_ML_ROOT": str(ml)}
    env |= {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto_endpoint}
    env.pop("AWS_SESSION_TOKEN", None)
    entry = [str(image.venv / "bin" / image.entrypoint[0]), *image.entrypoint[1:]]

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*entry, *args],
            cwd=image.at("."),
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{args[0]}:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
        return done

    # Validate: a processing job, the dataset under processing/input/data.
    inputs = ml / "processing" / "input" / "data"
    inputs.mkdir(parents=True)
    shutil.copyfile(project / "data" / "sample.csv", inputs / "sample.csv")
    run("validate")
    report = json.loads((ml / "processing" / "output" / "report.json").read_text())
    assert report["passed"] is True
    # Train: the validated data is the train channel; hyperparameters as SageMaker writes them.
    channel = ml / "input" / "data" / "train"
    channel.mkdir(parents=True)
    shutil.copyfile(ml / "processing" / "output" / "sample.csv", channel / "sample.csv")
    (ml / "input" / "config").mkdir(parents=True)
    (ml / "input" / "config" / "hyperparameters.json").write_text('{"sagemaker_program": "x"}')
    # The job says it has started once everything is loaded, before the fit (the bench times it).
    said = run("train").stdout.splitlines()
    assert said[0].startswith("training churn_model.pipelines.train on ") and " rows " in said[0]
    assert said[-1].startswith("trained on dataset ")
    assert (ml / "model" / FRAMEWORK_FACTS[Framework(framework)]["artifact"]).is_file()
    # Evaluate: the model as SageMaker hands it over, model.tar.gz under processing/model.
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for path in (ml / "model").iterdir():
            tar.add(path, arcname=path.name)
    shutil.rmtree(ml / "processing" / "output")
    (ml / "processing" / "model").mkdir()
    (ml / "processing" / "model" / "model.tar.gz").write_bytes(packed.getvalue())
    run("evaluate", "--metric", "roc_auc", "--approved-metric", "", "--margin", "0")
    record = json.loads((ml / "processing" / "output" / "evaluation.json").read_text())
    assert "roc_auc" in json.dumps(record)

    # Serve /opt/ml/model on loopback, capturing into the lake as the cluster's server does.
    lake.put("models", "image/model.tar.gz", packed.getvalue())
    env |= {f"MLOPS_BUCKET_{zone.upper()}": bucket for zone, bucket in lake.buckets.items()}
    env |= {"MLOPS_ENDPOINT_NAME": f"image-{pack}"}
    port = free_port()
    server = subprocess.Popen(
        [*entry, "serve"],
        cwd=image.at("."),
        env={**env, "SAGEMAKER_BIND_TO_PORT": str(port), "MLOPS_SERVE_HOST": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "serving on" in line, line + server.stdout.read()[-3000:]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=10) as answer:
            assert answer.status == 200
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(sample_rows(project, 40)).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            assert len(json.loads(answer.read())["predictions"]) == 40
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()

    # Monitor: the captured traffic against the model's reference sample; decide only.
    run("monitor", MLOPS_MODEL_URI=lake.uri("models", "image/model.tar.gz"))
    latest = lake.get_json("monitoring", "drift/latest.json")
    assert latest["endpoint"] == f"image-{pack}" and "retrain" in latest["decision"]
