"""``mlops preview``: a stack's resources, its policy verdict and its cost, offline.

The project's Pulumi program runs under the SDK's mock runtime (no cloud, no credentials, no
Pulumi CLI); what it declared is checked by the project's policy pack (the same rules CrossGuard
runs, with the same ``policy/config.json``) and priced from the dated price table. A stack
fails when a mandatory rule finds something, when ``policy/config.json`` lowers a rule that is
mandatory by default without giving a ``reason`` (every lowered rule is listed, with or without
one: a waiver is a reviewed line, never silent), or when the expected-load estimate is above the
stack's ``budget`` (equal to it passes).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.core.errors import MlopsError, UserError
from mlops.core.progress import Progress, no_progress
from mlops.infra.cost import Assumptions, CostReport, estimate
from mlops.infra.policy import (
    CONFIG_FILE,
    RULES,
    PackConfig,
    Violation,
    Waiver,
    evaluate,
    stack_of,
)
from mlops.infra.program import capture, stack_config, stacks

# Inputs worth a glance in the tree, by preference; a type's first few that are set are shown.
KEY_INPUTS = (
    "bucket",
    "name",
    "pipelineName",
    "instanceType",
    "enableKeyRotation",
    "retentionInDays",
    "imageTagMutability",
    "enableNetworkIsolation",
    "targetBucket",
    "sseAlgorithm",
    "status",
    "metricName",
    "threshold",
    "limitAmount",
    "role",
    "policyArn",
)


@dataclass(frozen=True)
class Node:
    """One resource in the tree."""

    depth: int
    type: str
    name: str
    summary: str


@dataclass(frozen=True)
class StackPreview:
    """What one stack declares, what the policy pack says of it, and what it costs."""

    stack: str
    flavour: str
    nodes: tuple[Node, ...]
    violations: tuple[Violation, ...]
    rules: int
    cost: CostReport | None
    budget: float
    seconds: float
    resources: Mapping[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()  # (rule id, changed settings) from the config
    policy_file: str = CONFIG_FILE
    warnings: tuple[str, ...] = ()  # not failures: credentials in plain text in the stack file

    @property
    def mandatory(self) -> list[Violation]:
        """The findings that block."""
        return [v for v in self.violations if v.level == "mandatory"]

    @property
    def refused(self) -> list[Waiver]:
        """Waivers that lower a rule mandatory by default without a reason: they block."""
        return [w for w in self.waivers if w.refused]

    @property
    def over_budget(self) -> bool:
        """Whether the expected-load estimate is above the stack's budget (equal is within)."""
        return bool(self.budget and self.cost and self.cost.load > self.budget)

    @property
    def ok(self) -> bool:
        """No mandatory finding, no waiver without a reason, and within budget."""
        return not self.mandatory and not self.refused and not self.over_budget

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "stack": self.stack,
            "flavour": self.flavour,
            "ok": self.ok,
            "resources": [
                {"type": n.type, "name": n.name, "depth": n.depth, "inputs": n.summary}
                for n in self.nodes
            ],
            "policy": {
                "rules": self.rules,
                "violations": [v.to_dict() for v in self.violations],
                "waivers": [w.to_dict() for w in self.waivers],
                "settings": [{"rule": r, "settings": text} for r, text in self.settings],
            },
            "cost": self.cost.to_dict() if self.cost else None,
            "budget": self.budget or None,
            "over_budget": self.over_budget,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


def preview(
    project: Path, stack: str, keep_inputs: bool = False, warn: bool = True
) -> StackPreview:
    """Evaluate, check and price one stack (``keep_inputs``: every resource's inputs, for diff).

    Its :attr:`StackPreview.warnings` go to stderr, one line each, unless ``warn`` is off.

    Raises:
        UserError: no such stack, a config or policy config error, or a broken program.
    """
    started = time.perf_counter()
    name, _, values = stack_config(project, stack)
    pack = PackConfig.load(project / CONFIG_FILE, RULES, CONFIG_FILE)
    program = capture(project, stack)
    flavour = "k8s" if any(r.type.startswith("kubernetes:") for r in program.resources) else "aws"
    warnings = tuple(_plaintext_credentials(project, stack, name, values, flavour))
    if warn:
        _warn(warnings)
    config = None
    if flavour == "aws":
        from mlops.infra.config import StackConfig

        config = StackConfig.from_values(name, stack, values)
    environment = config.environment if config else stack
    view = stack_of(program, environment)
    rules = [r for r in RULES if r.flavour == flavour]
    violations = evaluate(view, rules, pack)
    cost = estimate(view, Assumptions.from_config(config), config.region) if config else None
    return StackPreview(
        stack,
        flavour,
        tuple(_tree(program)),
        tuple(violations),
        len(rules),
        cost,
        config.budget.monthly_usd if config else 0.0,
        time.perf_counter() - started,
        {
            _normalised(r.name, name, stack): (r.type, r.inputs)
            for r in program.resources
            if r.custom and keep_inputs
        },
        tuple(pack.waivers(rules)),
        tuple(pack.changed_settings(rules)),
        warnings=warnings,
    )


def _plaintext_credentials(
    project: Path, stack: str, name: str, values: Mapping[str, Any], flavour: str
) -> list[str]:
    """A warning for each credential the stack file holds in plain text (it is committed)."""
    from mlops.infra.config import plaintext_credentials

    if flavour == "aws":
        from mlops.infra.config import CREDENTIALS
    else:
        from mlops.infra.k8s.config import CREDENTIALS
    prefix = f"{name}:"
    own = {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}
    path = project / f"Pulumi.{stack}.yaml"
    return [
        f"{path}: {prefix}{key} is a credential in plain text, and stack files are committed:"
        f" store it encrypted with `pulumi config set --secret {key} VALUE --stack {stack}`"
        " (and rotate it if this file was ever pushed)"
        for key in plaintext_credentials(own, CREDENTIALS)
    ]


def _warn(warnings: tuple[str, ...]) -> None:
    """Print warnings on stderr (stdout may be ``--json``), one line each."""
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)


def preview_all(
    project: Path, workers: int | None = None, progress: Progress = no_progress
) -> list[StackPreview]:
    """Every stack of the project, in its order; stacks run side by side on the machine's cores.

    Each stack evaluates in a forked worker (the parent's imports are shared, not repeated): the
    mock runtime is single-threaded Python, so processes are what spreads it over cores.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    names = stacks(project)
    # One worker per stack, up to twice the cores: with three stacks on two cores, all three
    # sharing them ends sooner than two rounds that leave a core idle in the second.
    cores = os.cpu_count() or 1
    count = min(len(names), workers or 2 * cores)
    total = len(names)
    progress(0, total, "evaluating")
    if cores < 2 or count < 2 or "fork" not in multiprocessing.get_all_start_methods():
        serial = []
        for stack in names:
            serial.append(preview(project, stack))
            progress(len(serial), total, stack)
        return serial
    # Workers do not print: a forked worker's stderr is not always this process's (a test
    # runner's capture); their warnings are printed here, in the project's order.
    _warm_imports(project)  # once here, not once per forked worker
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
        futures = {pool.submit(_preview_in_worker, project, stack): stack for stack in names}
        for finished, future in enumerate(as_completed(futures), 1):
            progress(finished, total, futures[future])
        results = [future.result() for future in futures]  # the project's order
    for result in results:  # the first stack that failed, in the project's order
        if isinstance(result, tuple):
            code, message = result
            error = UserError(message) if code == UserError.exit_code else MlopsError(message)
            error.exit_code = code
            raise error
    previews = [r for r in results if isinstance(r, StackPreview)]
    for result in previews:
        _warn(result.warnings)
    return previews


def _preview_in_worker(project: Path, stack: str) -> StackPreview | tuple[int, str]:
    """:func:`preview` in a worker: an error comes back as ``(exit code, message)``.

    The errors' own classes take several arguments, which pickling between processes loses; the
    pool would then report a broken worker instead of the stack file's problem.
    """
    try:
        return preview(project, stack, warn=False)
    except MlopsError as exc:
        return exc.exit_code, str(exc)


# The provider modules each flavour's components use: pulumi_aws and pulumi_kubernetes load
# them lazily, which every forked worker would otherwise pay for on its own. pulumi_aws's
# service packages are lean (mlops.infra.provider_modules): importing one here reads nothing,
# and each worker loads the few resource modules its stack uses, on its own core.
AWS_MODULES = (
    "mlops.infra.aws",  # first: it makes the pulumi_aws service packages lean before they load
    "pulumi_aws.appautoscaling",
    "pulumi_aws.budgets",
    "pulumi_aws.cloudwatch",
    "pulumi_aws.ecr",
    "pulumi_aws.glue",
    "pulumi_aws.iam",
    "pulumi_aws.kms",
    "pulumi_aws.s3",
    "pulumi_aws.sagemaker",
    "pulumi_aws.sns",
    "mlops.infra.config",
)
K8S_MODULES = (
    "pulumi_kubernetes.apiextensions",
    "pulumi_kubernetes.apps.v1",
    "pulumi_kubernetes.autoscaling.v2",
    "pulumi_kubernetes.batch.v1",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.policy.v1",
    "pulumi_kubernetes.rbac.v1",
    "mlops.infra.k8s",
)


def _warm_imports(project: Path) -> None:
    """Import what the project's program will, judging by what its entry module names."""
    import importlib

    _, program_dir, _ = stack_config(project, stacks(project)[0])
    try:
        text = (program_dir / "__main__.py").read_text()
    except OSError:
        return
    wanted = [*AWS_MODULES] if "infra.aws" in text or "pulumi_aws" in text else []
    if "infra.k8s" in text or "pulumi_kubernetes" in text:
        wanted += K8S_MODULES
    for name in wanted:  # pulumi_aws's service packages stay lean: each worker loads what it uses
        try:
            importlib.import_module(name)
        except ImportError:
            return  # the worker will say what is missing, with the program's own error


def _tree(program: Any) -> Iterator[Node]:
    children: dict[str, list[Any]] = {}
    for resource in program.resources:
        parent = resource.parent.rsplit("::", 1)[-1] if resource.parent else ""
        children.setdefault(parent, []).append(resource)

    def walk(parent: str, depth: int) -> Iterator[Node]:
        for resource in children.get(parent, []):
            yield Node(depth, resource.type, resource.name, summary(resource.type, resource.inputs))
            yield from walk(resource.name, depth + 1)

    yield from walk("", 0)


def summary(type_: str, inputs: Mapping[str, Any]) -> str:
    """A resource's key inputs in one short line."""
    if type_.startswith("kubernetes:"):
        meta = inputs.get("metadata") or {}
        return (
            f"{inputs.get('kind', '')} {meta.get('namespace', '')}/{meta.get('name', '')}".strip()
        )
    parts = []
    variants = inputs.get("productionVariants") or []
    for v in variants:
        if v.get("serverlessConfig"):
            memory = int(float(v["serverlessConfig"].get("memorySizeInMb", 0)))
            parts.append(f"{v.get('variantName')}: serverless {memory} MB")
        else:
            count = int(float(v.get("initialInstanceCount") or 1))
            parts.append(f"{v.get('variantName')}: {count} x {v.get('instanceType')}")
    for key in KEY_INPUTS:
        value = inputs.get(key)
        if isinstance(value, str | bool | int | float) and value != "":
            shown = json.dumps(value) if isinstance(value, bool) else str(value)
            parts.append(f"{key}={shown}")
        if len(parts) >= 3:
            break
    return ", ".join(parts)


def _normalised(text: str, project: str, stack: str) -> str:
    return text.replace(f"{project}-{stack}", f"{project}-<stack>")


@dataclass(frozen=True)
class StackDiff:
    """What differs between two stacks' resources (names with the stack replaced)."""

    left: str
    right: str
    only_left: tuple[str, ...]
    only_right: tuple[str, ...]
    changed: tuple[tuple[str, str, Any, Any], ...]  # (resource, input, left, right)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "left": self.left,
            "right": self.right,
            "only_left": list(self.only_left),
            "only_right": list(self.only_right),
            "changed": [
                {
                    "resource": r,
                    "input": k,
                    "at": first_difference(a, b, k)[0],
                    "left": a,
                    "right": b,
                }
                for r, k, a, b in self.changed
            ],
        }


ABSENT = "(absent)"


def first_difference(left: Any, right: Any, path: str = "") -> tuple[str, Any, Any]:
    """The first key path at which two values differ, and the two values found there.

    Inputs such as a pipeline definition or an IAM policy are JSON documents inside a string;
    they are compared as the documents they hold, so the path reaches into them (two long
    strings cut at the same prefix would look identical).
    """
    left, right = _document(left), _document(right)
    if isinstance(left, dict) and isinstance(right, dict):
        for key in [*left, *(k for k in right if k not in left)]:
            here = f"{path}.{key}" if path else str(key)
            if key not in left or key not in right:
                return here, left.get(key, ABSENT), right.get(key, ABSENT)
            if left[key] != right[key]:
                return first_difference(left[key], right[key], here)
    elif isinstance(left, list) and isinstance(right, list):
        for index in range(max(len(left), len(right))):
            here = f"{path}[{index}]"
            if index >= len(left) or index >= len(right):
                return (
                    here,
                    left[index] if index < len(left) else ABSENT,
                    right[index] if index < len(right) else ABSENT,
                )
            if left[index] != right[index]:
                return first_difference(left[index], right[index], here)
    return path, left, right


def _document(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def diff(project: Path, left: str, right: str) -> StackDiff:
    """Compare two stacks resource by resource, input by input.

    Raises:
        UserError: either stack does not exist or does not evaluate.
    """
    name, _, _ = stack_config(project, left)
    a, b = preview(project, left, keep_inputs=True), preview(project, right, keep_inputs=True)
    changed = []
    for key in sorted(set(a.resources) & set(b.resources)):
        (_, ia), (_, ib) = a.resources[key], b.resources[key]
        for field_ in sorted(set(ia) | set(ib)):
            va = _normalise_value(ia.get(field_), name, left)
            vb = _normalise_value(ib.get(field_), name, right)
            if va != vb:
                changed.append((key, field_, va, vb))
    return StackDiff(
        left,
        right,
        tuple(sorted(set(a.resources) - set(b.resources))),
        tuple(sorted(set(b.resources) - set(a.resources))),
        tuple(changed),
    )


def _normalise_value(value: Any, project: str, stack: str) -> Any:
    if value is None:
        return None
    plain = json.loads(_normalised(json.dumps(value, sort_keys=True), project, stack))
    return _environment_tag(plain, stack)


def _environment_tag(value: Any, stack: str) -> Any:
    """Every ``environment: <stack>`` tag differs by design; it is not a difference to show."""
    if isinstance(value, dict):
        return {
            k: "<stack>" if k == "environment" and v == stack else _environment_tag(v, stack)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_environment_tag(v, stack) for v in value]
    return value
