"""Executors for the lifecycle's steps: in-process (local), or the platform's SageMaker Pipeline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops.core.errors import MlopsError
from mlops.pipelines.aws import call

Step = tuple[str, Callable[[], dict[str, Any]]]


@dataclass
class StepResult:
    """One step's outcome: status, duration and its key figures."""

    name: str
    status: str  # "ok", "failed" or "skipped"
    duration_s: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""


class LocalExecutor:
    """Runs steps in order in this process, with a live progress display.

    The first failure stops the run: later steps are reported as skipped, so nothing is
    registered or deployed after a failed training or evaluation.
    """

    def __init__(self, show_progress: bool = True) -> None:
        self.show_progress = show_progress

    def run(self, steps: list[Step]) -> list[StepResult]:
        """Run ``steps``; each returns its figures."""
        if not self.show_progress:
            return self._run(steps, lambda _name: None, lambda: None)
        import sys

        if not sys.stderr.isatty():
            # A log, not a terminal: one plain line per step, no spinner frames left behind.
            names = [name for name, _ in steps]

            def begin(name: str) -> None:
                print(f"[{names.index(name) + 1}/{len(names)}] {name}", file=sys.stderr, flush=True)

            return self._run(steps, begin, lambda: None)
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task("starting", total=len(steps))
            return self._run(
                steps,
                lambda name: progress.update(task, description=name),
                lambda: progress.advance(task),
            )

    @staticmethod
    def _run(
        steps: list[Step], begin: Callable[[str], None], end: Callable[[], None]
    ) -> list[StepResult]:
        results: list[StepResult] = []
        failed = False
        for name, fn in steps:
            if failed:
                results.append(StepResult(name, "skipped"))
                continue
            begin(name)
            start = time.perf_counter()
            try:
                figures = fn()
                results.append(StepResult(name, "ok", time.perf_counter() - start, figures))
            except MlopsError as exc:
                failed = True
                results.append(
                    StepResult(name, "failed", time.perf_counter() - start, error=str(exc))
                )
            end()
        return results


@dataclass(frozen=True)
class SageMakerExecutor:
    """Runs training as the platform's SageMaker Pipeline (on the GPU type in its config)."""

    sagemaker: Any
    pipeline_name: str

    def start(self, parameters: dict[str, str] | None = None) -> str:
        """Start an execution; return its ARN."""
        started = call(
            "sagemaker.StartPipelineExecution",
            self.sagemaker.start_pipeline_execution,
            PipelineName=self.pipeline_name,
            PipelineParameters=[{"Name": k, "Value": v} for k, v in (parameters or {}).items()],
        )
        return str(started["PipelineExecutionArn"])

    def status(self, execution_arn: str) -> str:
        """The execution's status (Executing, Succeeded, Failed, ...)."""
        return str(self._describe(execution_arn)["PipelineExecutionStatus"])

    def wait(
        self,
        execution_arn: str,
        poll_s: float = 30.0,
        timeout_s: float = 6 * 3600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """Wait for the execution to end; return ``Succeeded``.

        Raises:
            PipelineFailed: it failed or stopped (with SageMaker's reason), or outlasted
                ``timeout_s``.
        """
        waited = 0.0
        while True:
            described = self._describe(execution_arn)
            status = str(described["PipelineExecutionStatus"])
            if status == "Succeeded":
                return status
            if status in ("Failed", "Stopped"):
                raise PipelineFailed(
                    execution_arn, status, described.get("FailureReason", "no reason given")
                )
            if waited >= timeout_s:
                raise PipelineFailed(
                    execution_arn, status, f"still {status} after {timeout_s:.0f} s"
                )
            sleep(poll_s)
            waited += poll_s

    def _describe(self, execution_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = call(
            "sagemaker.DescribePipelineExecution",
            self.sagemaker.describe_pipeline_execution,
            PipelineExecutionArn=execution_arn,
        )
        return described


class PipelineFailed(MlopsError):
    """A SageMaker Pipeline execution failed; nothing after it (register, deploy) ran."""

    def __init__(self, execution_arn: str, status: str, reason: str) -> None:
        super().__init__(
            f"pipeline execution {execution_arn} {status.lower()}: {reason}. Its steps' logs are in"
            " CloudWatch under /aws/sagemaker/TrainingJobs and /aws/sagemaker/ProcessingJobs"
        )
