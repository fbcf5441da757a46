"""Two `pipeline run --approve` at once: one package per run, one champion, the loser gated."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_CSV

from mlops.composition.lifecycle import lifecycle_for, registry_lock
from mlops.composition.run import RunRequest, run_local
from mlops.core.errors import UserError
from mlops.pipelines import registry

pytestmark = pytest.mark.integration


def widen(monkeypatch: pytest.MonkeyPatch, name: str, seconds: float = 0.5) -> None:
    """Let the other run catch up between a registry read and the write that depends on it."""
    real = getattr(registry, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        time.sleep(seconds)
        return result

    monkeypatch.setattr(registry, name, slow)


def race(
    project: Path, params: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> list[list[Any]]:
    """Run ``pipeline run --approve`` once per ``params``, all at once, each in a thread."""
    # Two commands are two processes. In threads, Python's first import of a module races (a
    # second thread can see it half-initialised), so what the steps import lazily is imported
    # here first, and the project's train module is imported in turn.
    import pyarrow.compute
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401

    from mlops.composition import run as composition

    real_load, importing = composition.load_trainer, threading.Lock()

    def load_trainer(*args: Any) -> Any:
        with importing:
            return real_load(*args)

    monkeypatch.setattr(composition, "load_trainer", load_trainer)
    results: list[list[Any]] = [[] for _ in params]
    barrier = threading.Barrier(len(params))

    def run(i: int) -> None:
        barrier.wait(10)
        request = RunRequest(project, SAMPLE_CSV, params=params[i], approve=True, margin=0.0)
        results[i] = run_local(request, show_progress=False)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(params))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def packages(life: Any) -> list[dict[str, Any]]:
    group = life.platform.model_package_group
    listed = life.registry.sagemaker.list_model_packages(
        ModelPackageGroupName=group, MaxResults=100
    )
    return list(listed["ModelPackageSummaryList"])


def test_the_same_run_twice_at_once_is_one_package(  # type: ignore[no-untyped-def]
    local_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen(monkeypatch, "_package_of")
    widen(monkeypatch, "gate_against")
    results = race(local_project, [{}, {}], monkeypatch)
    for steps in results:
        assert [s.status for s in steps] == ["ok"] * 6, [s.error for s in steps]
    life = lifecycle_for(local_project)
    listed = packages(life)
    assert len(listed) == 1, listed  # one run, one package
    approved = [p for p in listed if p["ModelApprovalStatus"] == "Approved"]
    assert len(approved) == 1
    (record,) = registry.list_runs(life.lake)
    assert record.previous_run == "" and record.model_package_arn == approved[0]["ModelPackageArn"]


def test_two_runs_at_once_have_one_champion_and_the_second_is_gated_against_it(  # type: ignore[no-untyped-def]
    local_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    widen(monkeypatch, "gate_against")
    results = race(local_project, [{"C": 0.5}, {"C": 2.0}], monkeypatch)
    approvals = {}
    for steps in results:
        assert [s.status for s in steps][:5] == ["ok"] * 5, [s.error for s in steps]
        approve = steps[-1]
        if approve.status == "ok":
            approvals[steps[3].figures["run_id"]] = approve.figures["previous_run"]
        else:  # gated against the winner, and blocked: nothing changed
            assert "does not beat the approved model" in (approve.error or ""), approve
    life = lifecycle_for(local_project)
    runs = {r.run_id: r for r in registry.list_runs(life.lake)}
    assert len(runs) == 2
    # Exactly one run took over from nothing; any other took over from it.
    firsts = [run for run, previous in approvals.items() if previous == ""]
    assert len(firsts) == 1, approvals
    for run, previous in approvals.items():
        assert previous in ("", firsts[0]) and run != previous
    if len(approvals) == 2:
        (second,) = set(approvals) - set(firsts)
        assert runs[second].previous_run == firsts[0]
        assert life.registry.approved_run().run_id == second  # type: ignore[union-attr]
    listed = packages(life)
    assert len(listed) == 2 and sum(p["ModelApprovalStatus"] == "Approved" for p in listed) == len(
        approvals
    )


def test_a_held_registry_lock_times_out_with_a_clear_error(local_project: Path) -> None:
    lock = registry_lock(local_project, timeout=0.2)
    with lock("g"), pytest.raises(UserError, match="another `mlops pipeline run` has been"):
        with registry_lock(local_project, timeout=0.2)("g"):
            pass
    with lock("g"):  # released: the next holder proceeds
        pass
