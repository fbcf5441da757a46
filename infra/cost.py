"""What a stack will cost a month, from what it declares and a dated price table.

Read from the same resources the policy pack reads (:class:`mlops.infra.policy.Stack`):
realtime endpoint variants (instance-hours around the clock), serverless variants (GB-seconds
of the expected requests), the pipeline's training step (its instance-hours a month, less the
spot discount where it trains on spot), the scheduled drift check (its instances, NumPy's one or
Spark's cluster, times its runs a month by its schedule, times ``driftCheckMinutes``), the lake's
storage by zone, CloudWatch alarms and
dashboards, and KMS keys. Instance prices are the instance catalogue's; the rest is
``prices.yaml``; both name their source and date.

Two totals: **idle**, what the stack costs with nothing running (endpoints that stay up,
storage, alarms, keys), and **expected load**, idle plus the traffic and training the stack
config assumes (``expectedRequestsPerDay``, ``expectedRequestMs``, ``trainingHoursPerMonth``,
``lakeStorageGb``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.infra.aws.catalog import RegionPrices, instance_catalogue, price_table
from mlops.infra.policy.aws import readers
from mlops.infra.policy.model import Stack

COMPUTE = ("endpoint", "serverless", "training")
SCHEDULE = "aws:scheduler/schedule:Schedule"
DRIFT_STEP = "CheckDrift"  # the drift check pipeline's one step (mlops.infra.aws.drift_job)
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
DAYS_PER_MONTH = 365 / 12


@dataclass(frozen=True)
class PlannedEndpoint:
    """The endpoint a stack will run once a model is approved, from its serving settings."""

    endpoint_type: str  # "realtime" or "serverless"
    instance_type: str
    instance_count: int
    serverless_memory_mb: int


@dataclass(frozen=True)
class Assumptions:
    """The expected load a stack is priced at (its stack config's values).

    ``planned_endpoint`` is set while no model is approved: the stack declares no endpoint
    yet, but a budget must hold for the one the first approval brings.
    """

    requests_per_day: int = 10_000
    request_ms: int = 100
    training_hours: float = 10
    storage_gb: Mapping[str, float] = field(default_factory=dict)
    planned_endpoint: PlannedEndpoint | None = None
    drift_minutes: float = 10

    @classmethod
    def from_config(cls, config: Any) -> Assumptions:
        """From a :class:`mlops.infra.config.StackConfig`."""
        serving = config.serving
        planned = None
        if not serving.model_package_arn:
            planned = PlannedEndpoint(
                serving.endpoint_type,
                serving.instance_type,
                serving.instance_count,
                serving.serverless_memory_mb,
            )
        return cls(
            config.budget.expected_requests_per_day,
            config.budget.expected_request_ms,
            config.budget.training_hours_per_month,
            dict(config.lake.storage_gb),
            planned,
            config.budget.drift_check_minutes,
        )


@dataclass(frozen=True)
class CostLine:
    """One priced item: USD a month idle and under the expected load."""

    category: str
    item: str
    basis: str
    idle: float
    load: float


@dataclass(frozen=True)
class CostReport:
    """A stack's estimate."""

    lines: tuple[CostLine, ...]
    region: str
    priced_as: str  # the region whose prices were used
    source: str
    notes: tuple[str, ...] = ()

    @property
    def idle(self) -> float:
        """USD a month with nothing running."""
        return round(sum(line.idle for line in self.lines), 2)

    @property
    def load(self) -> float:
        """USD a month under the expected load."""
        return round(sum(line.load for line in self.lines), 2)

    @property
    def idle_compute(self) -> float:
        """The idle cost of endpoints and training alone."""
        return round(sum(line.idle for line in self.lines if line.category in COMPUTE), 2)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "currency": "USD/month",
            "idle": self.idle,
            "load": self.load,
            "idle_compute": self.idle_compute,
            "region": self.region,
            "priced_as": self.priced_as,
            "source": self.source,
            "notes": list(self.notes),
            "lines": [line.__dict__ for line in self.lines],
        }


def estimate(stack: Stack, assumptions: Assumptions, region: str) -> CostReport:
    """Price every billable resource of an AWS stack."""
    table = price_table()
    prices = table.for_region(region)
    notes: list[str] = []
    if prices.region != region:
        notes.append(f"no prices for {region} in the table: {prices.region}'s are used")
    unknown: set[str] = set()
    lines = [
        *_endpoints(stack, assumptions, prices, table.hours_per_month, unknown),
        *_training(stack, assumptions, prices, unknown),
        *_drift_checks(stack, assumptions, unknown),
        *_storage(stack, assumptions, prices),
        *_fixed(stack, prices),
    ]
    planned = assumptions.planned_endpoint
    if planned is not None and not any(line.category in COMPUTE[:2] for line in lines):
        lines.append(_planned(planned, assumptions, prices, table.hours_per_month, unknown))
        notes.append(
            "no model is approved yet, so the stack declares no endpoint: it is priced from"
            " the serving settings, as the first approval will deploy it"
        )
    if unknown:
        notes.append(f"no price for {', '.join(sorted(unknown))}: counted as $0")
    catalogue = instance_catalogue()
    source = (
        f"instances: {catalogue.price_source} ({catalogue.price_as_of});"
        f" the rest: {prices.source} ({prices.as_of})"
    )
    rounded = tuple(
        CostLine(line.category, line.item, line.basis, round(line.idle, 2), round(line.load, 2))
        for line in lines
    )
    return CostReport(rounded, region, prices.region, source, tuple(notes))


def _price(instance_type: Any, unknown: set[str]) -> float:
    known = instance_catalogue().types.get(str(instance_type))
    if known is None:
        unknown.add(str(instance_type))
        return 0.0
    return known.price_per_hour


def _endpoints(
    stack: Stack, assumptions: Assumptions, prices: RegionPrices, hours: int, unknown: set[str]
) -> Iterator[CostLine]:
    for config in stack.of(readers.ENDPOINT_CONFIG):
        for v in readers.variants(config):
            name = f"{config.name} / {v.get('variantName')}"
            if readers.is_serverless(v):
                memory_gb = float((v.get("serverlessConfig") or {}).get("memorySizeInMb", 0)) / 1024
                seconds = (
                    assumptions.requests_per_day * DAYS_PER_MONTH * assumptions.request_ms / 1000
                )
                basis = (
                    f"{assumptions.requests_per_day:,} req/day x {assumptions.request_ms} ms"
                    f" x {memory_gb:g} GB"
                )
                usd = seconds * memory_gb * prices.serverless_gb_second
                yield CostLine("serverless", name, basis, 0.0, usd)
                continue
            itype, count = v.get("instanceType"), float(v.get("initialInstanceCount") or 1)
            usd = _price(itype, unknown) * count * hours
            yield CostLine("endpoint", name, f"{int(count)} x {itype} x {hours} h", usd, usd)


def _planned(
    planned: PlannedEndpoint,
    assumptions: Assumptions,
    prices: RegionPrices,
    hours: int,
    unknown: set[str],
) -> CostLine:
    item = "endpoint (planned: no model approved yet)"
    if planned.endpoint_type == "serverless":
        memory_gb = planned.serverless_memory_mb / 1024
        seconds = assumptions.requests_per_day * DAYS_PER_MONTH * assumptions.request_ms / 1000
        basis = (
            f"{assumptions.requests_per_day:,} req/day x {assumptions.request_ms} ms"
            f" x {memory_gb:g} GB"
        )
        usd = seconds * memory_gb * prices.serverless_gb_second
        return CostLine("serverless", item, basis, 0.0, usd)
    usd = _price(planned.instance_type, unknown) * planned.instance_count * hours
    basis = f"{planned.instance_count} x {planned.instance_type} x {hours} h"
    return CostLine("endpoint", item, basis, usd, usd)


def _training(
    stack: Stack, assumptions: Assumptions, prices: RegionPrices, unknown: set[str]
) -> Iterator[CostLine]:
    for pipeline in stack.of(readers.PIPELINE):
        for job in readers.pipeline_jobs(pipeline):
            if job["kind"] != "Training":
                continue
            itype, count = job["instance_type"], float(job["count"])
            discount = prices.spot_discount if job["spot"] else 0.0
            usd = _price(itype, unknown) * count * assumptions.training_hours * (1 - discount)
            spot = f", spot -{discount:.0%}" if job["spot"] else ""
            basis = f"{int(count)} x {itype} x {assumptions.training_hours:g} h{spot}"
            yield CostLine("training", f"{pipeline.name} / {job['name']}", basis, 0.0, usd)


def _drift_checks(stack: Stack, assumptions: Assumptions, unknown: set[str]) -> Iterator[CostLine]:
    """The scheduled drift check: it runs whether or not there is traffic, so idle = load."""
    schedules = {
        str(s.props.get("name")): str(s.props.get("scheduleExpression") or "")
        for s in stack.of(SCHEDULE)
    }
    for pipeline in stack.of(readers.PIPELINE):
        expression = schedules.get(str(pipeline.props.get("pipelineName")))
        if not expression:
            continue
        for job in readers.pipeline_jobs(pipeline):
            if job["kind"] != "Processing" or job["name"] != DRIFT_STEP:
                continue
            itype, count = job["instance_type"], int(job["count"])
            runs = runs_per_month(expression)
            hours = runs * assumptions.drift_minutes / 60
            usd = _price(itype, unknown) * count * hours
            basis = f"{count} x {itype} x {runs:,.0f} runs x {assumptions.drift_minutes:g} min"
            yield CostLine("drift", f"{pipeline.name} / {DRIFT_STEP}", basis, usd, usd)


_UNITS = {"minute": 1.0, "hour": 60.0, "day": 1440.0}
_DAYS = {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}


def runs_per_month(expression: str) -> float:
    """How often an EventBridge Scheduler expression fires in an average month.

    ``rate(N unit)`` exactly; ``cron(...)`` by counting each field's values (``*``, lists,
    ranges, steps; ``L``, ``W`` and ``#`` count as one), days of the month and of the week
    as shares of an average month. ``at(...)``: once.
    """
    body = expression.strip()
    minutes_a_month = DAYS_PER_MONTH * 1440
    if body.startswith("rate(") and body.endswith(")"):
        number, unit = body[5:-1].split()
        return minutes_a_month / (float(number) * _UNITS[unit.rstrip("s")])
    if not (body.startswith("cron(") and body.endswith(")")):
        return 1.0
    minute, hour, dom, month, dow, _year = body[5:-1].split()
    days = DAYS_PER_MONTH
    if dom not in ("*", "?"):
        days *= _count(dom, 1, 31) / 31
    if dow not in ("*", "?"):
        days *= _count(dow, 1, 7) / 7
    months = 1.0 if month in ("*", "?") else _count(month, 1, 12) / 12
    return _count(minute, 0, 59) * _count(hour, 0, 23) * days * months


def _count(field_: str, low: int, high: int) -> int:
    """Values a cron field takes in [low, high]."""
    total = 0
    for part in field_.split(","):
        base, _, step = part.partition("/")
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, low), _value(b, low)
        elif any(c in base for c in "LW#"):
            total += 1
            continue
        else:
            start = _value(base, low)
            end = high if step else start
        total += len(range(start, end + 1, int(step) if step else 1))
    return max(total, 1)


def _value(text: str, low: int) -> int:
    text = text.upper()
    return _DAYS[text] if text in _DAYS else int(text) if text.isdigit() else low


def _storage(stack: Stack, assumptions: Assumptions, prices: RegionPrices) -> Iterator[CostLine]:
    for _bucket, name in readers.buckets(stack):
        zone = next((z for z in assumptions.storage_gb if name.endswith(f"-lake-{z}")), None)
        if zone is not None:
            gb = assumptions.storage_gb[zone]
            usd = gb * prices.s3_gb_month
            yield CostLine("storage", name, f"{gb:g} GB (S3 Standard)", usd, usd)


def _fixed(stack: Stack, prices: RegionPrices) -> Iterator[CostLine]:
    fixed = (
        ("alarms", readers.ALARM, prices.cloudwatch_alarm_month, "alarm"),
        ("dashboards", DASHBOARD, prices.cloudwatch_dashboard_month, "dashboard"),
        ("kms", readers.KMS_KEY, prices.kms_key_month, "key"),
    )
    for category, type_, price, unit in fixed:
        count = len(stack.of(type_))
        if count:
            usd = count * price
            item = f"{count} {unit}{'' if count == 1 else 's'}"
            yield CostLine(category, item, f"{count} x ${price:g}", usd, usd)
