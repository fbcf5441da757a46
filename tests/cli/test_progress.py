"""Progress on long work: plain lines in logs (each quarter, on stderr), counts that add up."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.cli.output import progress_display
from mlops.pipelines.executors import LocalExecutor


def test_progress_in_a_log_is_a_plain_line_each_quarter_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress_display("resources applied") as progress:
        for done in range(0, 11):
            progress(done, 10, f"r{done}")
    out, err = capsys.readouterr()
    assert out == ""  # stdout stays for reports (--json)
    assert err.splitlines() == [
        "resources applied: 0/10",
        "resources applied: 3/10",
        "resources applied: 5/10",
        "resources applied: 8/10",
        "resources applied: 10/10",
    ]


def test_pipeline_steps_in_a_log_are_plain_lines_not_spinner_frames(
    capsys: pytest.CaptureFixture[str],
) -> None:
    results = LocalExecutor(show_progress=True).run([("ingest", dict), ("train", dict)])
    assert [r.status for r in results] == ["ok", "ok"]
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines() == ["[1/2] ingest", "[2/2] train"]


def test_preview_all_reports_each_stack_as_it_is_evaluated(tmp_path: Path) -> None:
    from mlops.composition.preview import preview_all
    from mlops.templates.engine import Scaffold
    from mlops.templates.pack import validate_answers

    project = tmp_path / "churn"
    Scaffold(validate_answers({"name": "churn", "ci": "none"}), project, git=False).run()
    reported: list[tuple[int, int]] = []
    previews = preview_all(project, progress=lambda d, t, _w: reported.append((d, t)))
    assert [d for d, _ in reported] == list(range(len(previews) + 1))
    assert {t for _, t in reported} == {len(previews)} and len(previews) == 4
