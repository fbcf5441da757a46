"""AWS facts: SageMaker instance types, regions and partitions, service principals.

One source of truth: the aws pack's answers model, the stack config and the cost estimator all
read these files, so a price or a region is fixed in exactly one place. Nothing here imports
Pulumi, so the scaffold can use it without slowing ``mlops init``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from mlops.core.text import suggest

_DATA = "mlops.infra.aws"


@dataclass(frozen=True)
class InstanceType:
    """One SageMaker ``ml.*`` instance type.

    Attributes:
        name: the API name, e.g. ``ml.g5.2xlarge``.
        vcpu: virtual CPUs.
        memory_gib: memory in GiB.
        gpus: GPU count (0 for CPU-only types).
        gpu_model: the GPU model, e.g. ``A10G``; ``None`` for CPU-only types.
        price_per_hour: on-demand USD per hour (see ``Catalogue.price_source``).
        local_nvme: volumes are local NVMe instance storage (hardware-encrypted; AWS refuses a
            KMS key for them).
    """

    name: str
    vcpu: int
    memory_gib: int
    gpus: int
    gpu_model: str | None
    price_per_hour: float
    local_nvme: bool = False

    @property
    def has_gpu(self) -> bool:
        """Whether the type carries at least one GPU."""
        return self.gpus > 0


@dataclass(frozen=True)
class Catalogue:
    """Instance types plus the provenance of their prices."""

    types: dict[str, InstanceType]
    price_source: str
    price_as_of: str


def _load_yaml(name: str) -> Any:
    import yaml  # only when a catalogue is read: `mlops init --help` stays light

    text = resources.files(_DATA).joinpath("data", name).read_text(encoding="utf-8")
    # libyaml's loader when present: the catalogues are read on every `mlops init`.
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def instance_catalogue() -> Catalogue:
    """Load the instance-type catalogue once per process."""
    raw = _load_yaml("instance_types.yaml")
    types = {name: InstanceType(name=name, **spec) for name, spec in raw["types"].items()}
    return Catalogue(types=types, price_source=raw["price_source"], price_as_of=raw["price_as_of"])


@dataclass(frozen=True)
class RegionPrices:
    """The non-instance prices of one region (``prices.yaml``), with their provenance."""

    region: str
    source: str
    as_of: str
    s3_gb_month: float
    cloudwatch_alarm_month: float
    cloudwatch_dashboard_month: float
    kms_key_month: float
    serverless_gb_second: float
    spot_discount: float


@dataclass(frozen=True)
class PriceTable:
    """Monthly prices by region; instance-hours come from :func:`instance_catalogue`."""

    hours_per_month: int
    regions: dict[str, RegionPrices]

    def for_region(self, region: str) -> RegionPrices:
        """The region's prices, or the first covered region's when it has none of its own."""
        return self.regions.get(region) or next(iter(self.regions.values()))


@cache
def price_table() -> PriceTable:
    """Load the price table once per process."""
    raw = _load_yaml("prices.yaml")
    regions_ = {name: RegionPrices(region=name, **spec) for name, spec in raw["regions"].items()}
    return PriceTable(hours_per_month=int(raw["hours_per_month"]), regions=regions_)


@cache
def regions() -> dict[str, str]:
    """Map each supported region to its partition (``aws``, ``aws-cn`` or ``aws-us-gov``)."""
    raw: dict[str, str] = _load_yaml("regions.yaml")["regions"]
    return dict(raw)


def volume_kms_allowed(instance_type: str) -> bool:
    """Whether AWS accepts a KMS key for ``instance_type``'s volumes.

    It refuses one on types with local NVMe storage (g4dn, g5, p4d...), whose volumes are
    hardware-encrypted; a type outside the catalogue is assumed to take one.
    """
    known = instance_catalogue().types.get(instance_type)
    return known is None or not known.local_nvme


def lookup_instance_type(name: str) -> InstanceType:
    """Return the catalogue entry for ``name``.

    Raises:
        ValueError: ``name`` is not in the catalogue; the message suggests a near match.
    """
    types = instance_catalogue().types
    if name in types:
        return types[name]
    hint = suggest(name, list(types))
    if not name.startswith("ml."):
        hint = hint or f" (SageMaker types start with 'ml.', e.g. 'ml.{name}')"
    raise ValueError(
        f"unknown instance type '{name}'{hint}; known types: {', '.join(sorted(types))}"
    )


DNS_SUFFIX = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


def service_principal(service: str, partition: str, region: str | None = None) -> str:
    """An AWS service principal, e.g. ``logs.us-east-1.amazonaws.com``."""
    host = f"{service}.{region}" if region else service
    return f"{host}.{DNS_SUFFIX[partition]}"


@cache
def model_monitor_image(region: str) -> str | None:
    """The SageMaker Model Monitor analyzer image for ``region``, if the catalogue knows it."""
    raw = _load_yaml("model_monitor_images.yaml")
    account = raw["accounts"].get(region)
    if account is None:
        return None
    suffix = DNS_SUFFIX[partition_of(region)]
    return f"{account}.dkr.ecr.{region}.{suffix}/sagemaker-model-monitor-analyzer"


# The Spark drift image: SageMaker's Spark processing image (Spark 3.5, Python 3.12) with the
# project's runtime and mlops-stack on it, pushed to the stack's repository as <tag>-spark. Its
# entry file sits at a fixed path: smspark-submit takes the application as a file.
SPARK_PROCESSING_TAG = "3.5-cpu-py312-v1.4"
SPARK_IMAGE_SUFFIX = "-spark"
SPARK_DRIFT_ENTRY = "/opt/program/drift_check_spark.py"


@cache
def spark_processing_registry(region: str) -> str | None:
    """The registry of SageMaker's Spark processing images in ``region``, if the table knows it."""
    raw = _load_yaml("spark_processing_images.yaml")
    account = raw["accounts"].get(region)
    if account is None:
        return None
    return f"{account}.dkr.ecr.{region}.{DNS_SUFFIX[partition_of(region)]}"


def partition_of(region: str) -> str:
    """Return the partition of ``region``.

    Raises:
        ValueError: the region is unknown; the message suggests a near match.
    """
    known = regions()
    if region in known:
        return known[region]
    raise ValueError(
        f"unknown region '{region}'{suggest(region, list(known))}; "
        f"regions with SageMaker: {', '.join(known)}"
    )
