"""checkov's Kubernetes checks on rendered objects, from its tool venv (scripts/test.sh)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

CHECKOV = Path(__file__).resolve().parents[1] / ".ci" / "checkov" / "bin" / "checkov"


def checkov(
    objects: Iterable[Mapping[str, Any]], directory: Path, skips: Iterable[str] = ()
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Write ``objects`` as YAML files into ``directory``, run checkov on them; its summary and
    failed checks."""
    for i, obj in enumerate(objects):
        (directory / f"{i:03d}.yaml").write_text(yaml.safe_dump(dict(obj)))
    skipped = ",".join(skips)
    proc = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--skip-download",
            *(["--skip-check", skipped] if skipped else []),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    summary = report["summary"] if isinstance(report, dict) else report[0]["summary"]
    failed = [] if isinstance(report, list) else report["results"]["failed_checks"]
    return summary, failed
