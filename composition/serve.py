"""Serve a registered model of a project's local stack on loopback: ``mlops serve``.

The approved model (or the version named) is read from the lake, as an endpoint would read its
artifact, and served behind SageMaker's inference contract by the lifecycle's own server, with
capture into the lake. Requests are checked against the contract inside the artifact, so any
registered version serves (or is rolled back to) whatever ``data/contract.yaml`` says today.
The server's address is recorded in local mode's state, so ``mlops local status`` shows it and
``mlops local down`` stops it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.composition.lifecycle import Lifecycle, lifecycle_for
from mlops.core.contracts import SERVING_PORT
from mlops.core.errors import UserError
from mlops.core.process import start_detached, start_time
from mlops.pipelines.data import DataContract
from mlops.pipelines.registry import RunRecord, find_run, list_runs

Say = Callable[[str], None]


@dataclass(frozen=True)
class Served:
    """What is being served, and where."""

    url: str
    run_id: str
    model_package_arn: str
    features: list[str]
    example: dict[str, Any]

    def example_request(self) -> str:
        """A ready-to-paste request for one row, its features by name."""
        body = json.dumps({"instances": [self.example]})
        return f"curl -s {self.url}/invocations -H 'Content-Type: application/json' -d '{body}'"


def example_row(contract: DataContract) -> dict[str, Any]:
    """One valid row of ``contract``'s features, by name: each at its minimum or first value."""
    row: dict[str, Any] = {}
    for name in contract.features:
        rule = contract.columns[name]
        if rule.type == "category":
            row[name] = (rule.values or [""])[0]
        elif rule.type == "bool":
            row[name] = False
        else:
            low = 0.0 if rule.min == float("-inf") else float(rule.min)
            row[name] = int(low) if rule.type == "int" else low
    return row


def choose_model(life: Lifecycle, version: str | None) -> RunRecord:
    """The approved model's run, or the one ``version`` names.

    ``version`` is a model package version number (as in the package ARN's last element) or a
    run id (or unique prefix).

    Raises:
        UserError: nothing is approved yet, or no registered model matches ``version``.
    """
    if version is None:
        record = life.registry.approved_run()
        if record is None:
            raise UserError(
                "no approved model yet: run `mlops pipeline run --approve` (or name one with"
                " --version)"
            )
        return record
    if version.isdigit():
        registered = [r for r in list_runs(life.lake) if r.model_package_arn]
        for record in registered:
            if record.model_package_arn.rsplit("/", 1)[-1] == version:
                return record
        # Not a version: run ids are hex, so an all-digit prefix of one is a run's too.
        try:
            return find_run(life.lake, version)
        except UserError:
            known = ", ".join(r.model_package_arn.rsplit("/", 1)[-1] for r in registered)
            raise UserError(
                f"no registered model version or run {version}; registered versions:"
                f" {known or 'none'} (see `mlops runs list` for run ids)"
            ) from None
    return find_run(life.lake, version)


def serve(
    project: Path,
    *,
    port: int = SERVING_PORT,
    version: str | None = None,
    say: Say = print,
    ready: Callable[[Served], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve the chosen model on 127.0.0.1 until SIGTERM, Ctrl-C or ``stop`` is set.

    Raises:
        UserError: local mode is down, nothing is approved, or the port is taken.
    """
    from mlops.pipelines.model import load_trainer
    from mlops.pipelines.serving import Capture, ServedModel, serve_model

    life = lifecycle_for(project)
    record = choose_model(life, version)
    artifact = life.lake.read_uri(record.artifact_uri)
    trainer = load_trainer(project, life.platform.package)
    # The model's own contract (an artifact made without one: the project's).
    model = ServedModel.from_artifact(trainer, artifact, life.contract)
    capture = Capture(life.lake, life.platform.serving_endpoint)
    try:
        server = serve_model(model, capture, port=port)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick --port") from None
    served = Served(
        server.url,
        record.run_id,
        record.model_package_arn,
        model.contract.features,
        example_row(model.contract),
    )
    _record(project, served)
    done = stop or threading.Event()
    # Ctrl-C and SIGTERM end the serving loop (handlers can only be set on the main thread;
    # elsewhere, as in tests and notebooks, ``stop`` does it).
    main = threading.current_thread() is threading.main_thread()
    previous = {
        sig: signal.signal(sig, lambda *_: done.set())
        for sig in ((signal.SIGTERM, signal.SIGINT) if main else ())
    }
    server.start()
    try:
        package = record.model_package_arn or "not registered"
        say(f"serving {record.run_id} ({package}) at {server.url}")
        say(f"features, in order: {', '.join(served.features)}")
        say(f"try: {served.example_request()}")
        if ready is not None:
            ready(served)
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()  # finishes requests in flight and flushes captured data
        _record(project, None)
        say("stopped")


def _record(project: Path, served: Served | None) -> None:
    """Note (or clear) the running server in local mode's state."""
    from mlops.infra import localmode

    state = localmode.load_state(project)
    if state is None:
        return
    state.serving = (
        {
            "url": served.url,
            "pid": os.getpid(),
            "started": start_time(os.getpid()),
            "run_id": served.run_id,
        }
        if served
        else {}
    )
    localmode.save_state(project, state)


def start_background(
    project: Path, port: int = 0, version: str | None = None, timeout: float = 60.0
) -> str:
    """Start ``mlops serve`` as a detached process; return its URL once it answers.

    Raises:
        ExternalToolError: it did not come up within ``timeout``.
    """
    command = [sys.executable, "-m", "mlops.cli.main", "serve", "--project", str(project)]
    command += ["--port", str(port), "--ready-file", str(project / ".mlops" / "serve-ready")]
    if version is not None:
        command += ["--version", version]
    mlops = project / ".mlops"
    url, _ = start_detached(
        command, mlops / "serve-ready", mlops / "serve.log", "mlops serve", timeout
    )
    return url


def stop(project: Path, say: Say = print) -> bool:
    """Stop the server ``mlops serve`` recorded for this project; whether one was stopped.

    Only a process verified as that server (its pid, start time and an ``mlops ... serve``
    command line) is signalled; a record naming anything else is cleared, nothing signalled.

    Raises:
        UserError: local mode is down.
    """
    from mlops.core.process import verified
    from mlops.infra import localmode

    with localmode.exclusive(project, 30.0):
        state = localmode.require_state(project)
        serving = dict(state.serving)
        if not serving:
            say("no model server from `mlops serve` is recorded for this project")
            return False
        pid, started = serving.get("pid"), serving.get("started")
        ours = (
            isinstance(pid, int)
            and isinstance(started, int)
            and started > 0
            and verified(pid, started, "mlops", "serve")
        )
        localmode.stop_server(state, say)
        localmode.save_state(project, state)
    if not ours:
        say(
            f"the recorded model server (pid {pid}) is no longer the one `mlops serve` started:"
            " nothing signalled; the record is cleared"
        )
    return bool(ours)
