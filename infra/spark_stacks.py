"""Which of a project's AWS stacks check drift with Spark: CI builds the Spark image for them only.

``python -m mlops.infra.spark_stacks [PROJECT]`` prints their names, one a line (nothing when
none does), as the generated CI's ``spark-image`` job asks before it pulls SageMaker's Spark
processing image (gigabytes, from a registry that needs a login) to build on it. A stack checks
drift with Spark when its drift job runs (a realtime endpoint, ``driftJob``) and its
``driftEngine`` resolves to ``spark`` (:attr:`MonitoringSettings.drift_engine_of_window`). The
``local`` stack is left out: it pushes no image.
"""

from __future__ import annotations

import sys
from pathlib import Path


def spark_stacks(project: Path) -> list[str]:
    """The project's cloud stacks whose drift check runs Spark.

    Raises:
        UserError: the project has no Pulumi.yaml.
        ConfigError: a stack's config is invalid.
    """
    from mlops.infra.config import StackConfig
    from mlops.infra.program import stack_config, stacks

    found = []
    for stack in stacks(project):
        if stack == "local":
            continue
        name, _, values = stack_config(project, stack)
        config = StackConfig.from_values(name, stack, values)
        monitoring = config.monitoring
        runs = config.serving.realtime and monitoring.drift_job
        if runs and monitoring.drift_engine_of_window == "spark":
            found.append(stack)
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the stacks; a bad project or stack config is one line on stderr and exit 1."""
    from mlops.core.errors import MlopsError

    args = sys.argv[1:] if argv is None else argv
    try:
        for stack in spark_stacks(Path(args[0] if args else ".")):
            print(stack)
    except MlopsError as exc:
        print(f"spark_stacks: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
