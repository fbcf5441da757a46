"""Run a Pulumi program under the SDK's mock runtime and see exactly what it registered.

Shipped in the library so that generated projects test their programs the same way we test
the components. Unknown invokes raise: a mock that answers anything hides bugs.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc

Invoke = Callable[[Mapping[str, Any]], dict[str, Any]]
MOCK_ACCOUNT = "123456789012"


CALLER_IDENTITY = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _args: {
        "accountId": MOCK_ACCOUNT,
        "arn": f"arn:aws:iam::{MOCK_ACCOUNT}:user/mock",
        "userId": "MOCKUSER",
        "id": MOCK_ACCOUNT,
    }
}
"""Answers for ``aws.get_caller_identity``: pass as ``run_program(invokes=CALLER_IDENTITY)``."""


class UnknownInvokeError(AssertionError):
    """The program made an invoke the test did not expect."""

    def __init__(self, token: str) -> None:
        super().__init__(f"unexpected invoke '{token}': add it to run_program(invokes=...)")
        self.token = token


@dataclass(frozen=True)
class MockedResource:
    """One resource the program registered.

    Attributes:
        type: the type token, e.g. ``aws:s3/bucket:Bucket``.
        name: the logical name.
        inputs: the inputs, with outputs of other resources resolved.
        parent: the parent's URN (empty for the stack's direct children).
        protect: the ``protect`` option.
        retain_on_delete: the ``retain_on_delete`` option.
        custom: ``False`` for components.
        aliases: the old names the resource answers to (``ResourceOptions.aliases``).
    """

    type: str
    name: str
    inputs: dict[str, Any]
    parent: str
    protect: bool
    retain_on_delete: bool
    custom: bool
    aliases: tuple[str, ...] = ()


@dataclass
class MockedProgram:
    """What a program registered, in registration order, plus what it returned."""

    resources: list[MockedResource] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[MockedResource]:
        """Resources of one type token."""
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> MockedResource:
        """The resource with this logical name."""
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named '{name}'")
        return matches[0]


def _computed(typ: str, name: str, state: Mapping[str, Any], region: str) -> dict[str, Any]:
    """Outputs AWS would compute, in the wire (camelCase) names the SDK expects."""
    account = MOCK_ACCOUNT
    physical = state.get("name", name)
    if typ == "aws:s3/bucket:Bucket":
        bucket = state.get("bucket", name)
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    if typ == "aws:kms/key:Key":
        return {"keyId": f"{name}-key-id", "arn": f"arn:aws:kms:{region}:{account}:key/{name}"}
    if typ == "aws:ecr/repository:Repository":
        return {
            "repositoryUrl": f"{account}.dkr.ecr.{region}.amazonaws.com/{physical}",
            "arn": f"arn:aws:ecr:{region}:{account}:repository/{physical}",
        }
    if typ == "aws:iam/role:Role":
        return {"arn": f"arn:aws:iam::{account}:role/{name}"}
    if typ == "aws:sns/topic:Topic":
        return {"arn": f"arn:aws:sns:{region}:{account}:{name}"}
    if typ == "aws:sagemaker/pipeline:Pipeline":
        pipeline = state.get("pipelineName", name)
        return {"arn": f"arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline}"}
    if typ == "aws:sagemaker/endpointConfiguration:EndpointConfiguration":
        return {"name": state.get("name", f"{name}-1a2b3c4")}
    if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        # AWS names the alarm's ARN by its alarm name (not Pulumi's logical name): a rule that
        # matches the alarm's state changes by ARN must see the one AWS will send.
        return {
            "name": physical,
            "arn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{physical}",
        }
    return {}


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, invokes: Mapping[str, Invoke], region: str = "us-east-1") -> None:
        self._invokes = dict(invokes)
        # ARNs carry the stack's region: local mode creates the topics, alarms and pipelines
        # they name in that region, and calls them by these ARNs.
        self._region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        # IDs as AWS assigns them: a bucket's or role's ID is its name; others get a suffix.
        named = {"aws:s3/bucket:Bucket": "bucket", "aws:iam/role:Role": "name"}
        resource_id = args.inputs.get(named.get(args.typ, ""), "") or (
            args.name if args.typ in named else f"{args.name}-id"
        )
        service = args.typ.split(":")[1].split("/")[0] if ":" in args.typ else "mock"
        state = {
            "arn": f"arn:aws:{service}:{self._region}:{MOCK_ACCOUNT}:{args.name}",
            "id": resource_id,
            "name": args.inputs.get("name", args.name),
            **args.inputs,
        }
        state.update(_computed(args.typ, args.name, state, self._region))
        return resource_id, state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token not in self._invokes:
            raise UnknownInvokeError(args.token)
        return self._invokes[args.token](args.args), []


class _RecordingMonitor(_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks, program: MockedProgram) -> None:
        super().__init__(mocks)
        self._program = program

    # The runtime calls these on worker threads and gives each thread an event loop it never
    # closes; collected at exit, such a loop prints a traceback after a command succeeded. Each
    # thread's loop is noted here and closed when the run ends (closing it after every call
    # made the next call build a new one: a sixth of the run's time).
    def Invoke(self, request: Any) -> Any:  # gRPC method name
        try:
            return super().Invoke(request)  # type: ignore[no-untyped-call]
        finally:
            _note_event_loop()

    def ReadResource(self, request: Any) -> Any:  # gRPC method name
        try:
            return super().ReadResource(request)  # type: ignore[no-untyped-call]
        finally:
            _note_event_loop()

    def RegisterResource(self, request: Any) -> Any:  # gRPC method name
        try:
            return self._register(request)
        finally:
            _note_event_loop()

    def _register(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self._program.resources.append(
                MockedResource(
                    type=request.type,
                    name=request.name,
                    inputs=dict(rpc.deserialize_properties(request.object)),
                    parent="" if "::pulumi:pulumi:Stack::" in request.parent else request.parent,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    custom=bool(request.custom),
                    aliases=tuple(
                        [a.spec.name for a in request.aliases if a.HasField("spec") and a.spec.name]
                        + [urn.rsplit("::", 1)[-1] for urn in request.aliasURNs]
                    ),
                )
            )
        return response


def run_program(
    program: Callable[[], Mapping[str, Any] | None],
    *,
    project: str,
    stack: str,
    config: Mapping[str, Any] | None = None,
    invokes: Mapping[str, Invoke] | None = None,
) -> MockedProgram:
    """Run ``program`` under mocks and wait for every registration to finish.

    Args:
        program: builds resources; may return a mapping of outputs to resolve.
        project: the Pulumi project name.
        stack: the stack name.
        config: full config keys (``"<project>:key"``, ``"aws:region"``) and their values.
        invokes: answers for the invoke tokens the program is expected to call.

    Returns:
        The registered resources and the program's resolved return value.
    """
    recorded = MockedProgram()
    mocks = _Mocks(invokes or {}, str((config or {}).get("aws:region") or "us-east-1"))
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=False,
        monitor=_RecordingMonitor(mocks, recorded),
    )
    # Pulumi hands config to programs as strings, with non-strings JSON-encoded.
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}
    )

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def _run() -> Any:
        outputs = program() or {}
        return pulumi.Output.all(**outputs).apply(recorded.result.update)

    # The runtime allocates several futures, tasks and outputs per property of every resource;
    # with the default thresholds the cyclic collector rescans them all the time (half the
    # run). Collect rarely while the program runs, and not the long-lived objects at all.
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    runtime = pulumi.runtime.resource
    stack_trace = getattr(runtime, "_get_stack_trace", None)
    if stack_trace is not None:
        # Source positions of registrations are for the engine's UI; offline nobody reads them,
        # and walking the Python stack for each resource costs a tenth of the run.
        runtime._get_stack_trace = _no_stack_trace
    try:
        _run()
    finally:
        if stack_trace is not None:
            runtime._get_stack_trace = stack_trace
        _close_noted_event_loops()
        _release_event_loop()
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    return recorded


def _no_stack_trace() -> Any:
    from pulumi.runtime.proto import source_pb2

    return source_pb2.StackTrace()


_NOTED_LOOPS: set[Any] = set()
_NOTED_LOCK = threading.Lock()


def _current_loop() -> Any:
    """This thread's event loop, or None (without making one, or warning that there is none)."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return asyncio.get_event_loop()
        except RuntimeError:
            return None


def _note_event_loop() -> None:
    """Remember this worker thread's event loop, to close it when the run ends."""
    loop = _current_loop()
    if loop is not None:
        with _NOTED_LOCK:
            _NOTED_LOOPS.add(loop)


def _close_noted_event_loops() -> None:
    """Close the worker threads' idle loops (their threads end with the run's executor)."""
    with _NOTED_LOCK:
        loops = list(_NOTED_LOOPS)
        _NOTED_LOOPS.clear()
    for loop in loops:
        if not loop.is_running() and not loop.is_closed():
            loop.close()


def _release_event_loop() -> None:
    """Close this thread's event loop, if it is idle, and unset it.

    The mock runtime makes loops it leaves current and never closes; left for the interpreter to
    collect at exit, a loop's ``__del__`` can find its self-pipe already closed and print a
    traceback after a command succeeded. The runtime makes a fresh loop when it next needs one.
    """
    import asyncio

    loop = _current_loop()
    if loop is not None and not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)
