"""The one error hierarchy of mlops-stack.

Only the CLI maps these to exit codes; everything else raises them::

    MlopsError                  any failure the tool understands
    ├── UserError               the user can fix it: bad input, a refused destination
    │   ├── InvalidAnswersError answers failed validation (one line per problem)
    │   ├── DestinationError    the destination cannot be written safely
    │   ├── ConfigError         a stack configuration failed validation
    │   ├── DataError           input data is unreadable or breaks its contract
    │   └── ProjectCodeError    the project's own train module raised
    ├── GateBlocked             a candidate model did not beat the approved one
    ├── RolledBack              a blue/green update failed its canary; the old model serves
    ├── AwsCallFailed           an AWS call kept failing after retries
    ├── TemplateError           a template pack is broken (a bug in the pack, not the user)
    └── ExternalToolError       a required external program is missing or failed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class MlopsError(Exception):
    """Root of every error mlops-stack raises on purpose."""

    exit_code = 1


class UserError(MlopsError):
    """Something the user can fix; the message says how."""

    exit_code = 2


class InvalidAnswersError(UserError):
    """Answers failed validation.

    Args:
        problems: one ``(field, message)`` pair per failed rule.
    """

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        lines = [f"  {field}: {message}" for field, message in self.problems]
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"invalid answers ({len(self.problems)} {noun}):\n" + "\n".join(lines))


class DestinationError(UserError):
    """The destination cannot be written without risking the user's files."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ConfigError(UserError):
    """A stack configuration failed validation.

    Args:
        stack: the stack.
        problems: (key, message) per broken rule, each key as the stack file spells it.
        source: the stack file, once known (:meth:`located`); each problem then names it.
        lines: the line of each problem's key in ``source``, where it is written there.
    """

    def __init__(
        self,
        stack: str,
        problems: Sequence[tuple[str, str]],
        source: object = None,
        lines: Mapping[str, int] | None = None,
    ) -> None:
        self.stack = stack
        self.problems = list(problems)
        self.source = source
        self.lines = dict(lines or {})
        if source is None:
            located = [f"{key}: {message}" for key, message in self.problems]
        else:
            located = [
                f"{source}: " + (f"line {self.lines[key]}: " if key in self.lines else "")
                + f"{key}: {message}"
                for key, message in self.problems
            ]
        if source is not None and len(located) == 1:
            text = located[0]  # one line: the file, the line, the key and what is wrong
        else:
            text = f"invalid config for stack '{stack}':\n" + "\n".join(f"  {x}" for x in located)
        super().__init__(text)

    def located(self, source: object, lines: Mapping[str, int]) -> ConfigError:
        """The same problems, naming the stack file and each key's line in it."""
        return ConfigError(self.stack, self.problems, source, lines)

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a preview worker process, it crosses back whole.
        return (type(self), (self.stack, self.problems, self.source, self.lines))


class PolicyConfigError(UserError):
    """The policy pack's config names a rule, level or setting that does not exist."""


class GuardrailsFailed(MlopsError):
    """A stack failed a mandatory policy or its budget (the report says which and how to fix)."""

    def __init__(self, stacks: Sequence[str]) -> None:
        self.stacks = list(stacks)
        super().__init__(
            f"{', '.join(self.stacks)}: a mandatory policy failed or the budget is exceeded"
            " (see above); nothing was provisioned"
        )


class TemplateError(MlopsError):
    """A template pack is broken; this is a bug in the pack, not in the user's input."""

    def __init__(self, pack: str, detail: str) -> None:
        self.pack = pack
        self.detail = detail
        super().__init__(f"template pack '{pack}' is broken: {detail}")


class ExternalToolError(MlopsError):
    """An external program (git, pulumi, docker) is missing or failed."""

    def __init__(self, tool: str, detail: str) -> None:
        self.tool = tool
        self.detail = detail
        super().__init__(f"{tool}: {detail}")


class DataError(UserError):
    """Input data is unreadable, empty, or breaks its contract.

    Args:
        source: the file or dataset.
        reasons: one line per problem.
    """

    def __init__(self, source: object, reasons: Sequence[str]) -> None:
        self.source = source
        self.reasons = list(reasons)
        super().__init__(f"{source}: " + "; ".join(self.reasons))


class MonitoringInputError(UserError):
    """Windows or options the drift check cannot compare (empty, mismatched, of mixed types)."""


class ProjectCodeError(UserError):
    """The project's own code (its train module) raised; the message names where and why.

    Args:
        where: what was being done, e.g. ``churn_model.pipelines.train.train``.
        error: the exception it raised.
    """

    def __init__(self, where: str, error: BaseException) -> None:
        self.where = where
        super().__init__(
            f"{where} raised {type(error).__name__}: {error}. This is the project's own code;"
            " fix it there (or the data it was given), then run again"
        )


class GateBlocked(MlopsError):
    """A candidate did not beat the approved model by the required margin; nothing was promoted."""

    def __init__(
        self, metric: str, candidate: float, approved: float | None, margin: float
    ) -> None:
        self.metric, self.candidate, self.approved, self.margin = (
            metric,
            candidate,
            approved,
            margin,
        )
        if approved is None:  # only a candidate figure that is not a number fails against none
            reason = f"candidate {metric}={candidate} cannot be compared"
        else:
            reason = (
                f"candidate {metric}={candidate:.4f} does not beat the approved model"
                f" ({approved:.4f}) by {margin}"
            )
        super().__init__(f"{reason}; it stays registered but unapproved")


class RolledBack(MlopsError):
    """A blue/green update of an endpoint was rolled back; its old servers still answer.

    Args:
        endpoint: the endpoint.
        reason: why (the alarm that fired, or the new servers that did not come up).
        serving: what the endpoint still serves.
    """

    def __init__(self, endpoint: str, reason: str, serving: str) -> None:
        self.endpoint, self.reason = endpoint, reason
        super().__init__(
            f"the update of endpoint {endpoint} was rolled back: {reason}; it still serves"
            f" {serving}"
        )


class BacktestBlocked(MlopsError):
    """On labelled production traffic the candidate did worse than the live model."""

    def __init__(
        self, metric: str, candidate: float | None, live: float | None, labelled: int
    ) -> None:
        self.metric, self.candidate, self.live = metric, candidate, live
        super().__init__(
            f"back-test on {labelled} labelled rows of captured traffic: candidate"
            f" {metric}={candidate} is worse than the live model's ({live});"
            " it stays registered but unapproved"
        )


class AwsCallFailed(MlopsError):
    """An AWS call failed for good (after retries where retrying made sense)."""

    def __init__(self, operation: str, code: str, detail: str, hint: str) -> None:
        self.operation, self.code = operation, code
        super().__init__(f"{operation} failed ({code}): {detail}. {hint}")
