"""Price sheets: one per cluster at most; a cluster without one is priced at the defaults in
prices.py. The sheet is replaced wholesale; the audit log keeps each before and after."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.clusters.models import Cluster

from . import prices


class PriceSheet(models.Model):
    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="price_sheet")
    source = models.CharField(max_length=300)  # "CSV upload by adam", "edited by adam"
    updated_by = models.CharField(max_length=150)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"prices of {self.cluster}"


def _price_field() -> models.DecimalField:
    return models.DecimalField(max_digits=14, decimal_places=prices.PLACES)


class PriceRow(models.Model):
    """One row of a sheet. Order matters: a node takes the first label row it matches."""

    class Kind(models.TextChoices):
        DEFAULT = prices.Kind.DEFAULT.value, "Default"
        NODE_LABEL = prices.Kind.NODE_LABEL.value, "Node label"

    class CapacityType(models.TextChoices):
        ON_DEMAND = prices.CapacityType.ON_DEMAND.value, "On-demand"
        SPOT = prices.CapacityType.SPOT.value, "Spot"

    sheet = models.ForeignKey(PriceSheet, on_delete=models.CASCADE, related_name="rows")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    selector = models.CharField(max_length=400, blank=True)  # key=value; empty on the default
    capacity_type = models.CharField(max_length=20, choices=CapacityType.choices)
    cpu_per_vcpu_hour = _price_field()
    memory_per_gib_hour = _price_field()
    storage_per_gib_month = _price_field()

    class Meta:
        ordering = ["sheet", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(cpu_per_vcpu_hour__gt=0), name="costs_price_cpu_positive"
            ),
            models.CheckConstraint(
                condition=Q(memory_per_gib_hour__gt=0), name="costs_price_memory_positive"
            ),
            models.CheckConstraint(
                condition=Q(storage_per_gib_month__gt=0), name="costs_price_storage_positive"
            ),
            models.CheckConstraint(
                condition=(Q(kind="default") & Q(selector=""))
                | (Q(kind="node_label") & ~Q(selector="")),
                name="costs_price_selector_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["sheet"], condition=Q(kind="default"), name="costs_price_one_default"
            ),
            models.UniqueConstraint(fields=["sheet", "selector"], name="costs_price_selector"),
            models.UniqueConstraint(fields=["sheet", "position"], name="costs_price_position"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.selector}".strip()

    def as_pure(self) -> prices.PriceRow:
        return prices.PriceRow(
            kind=prices.Kind(self.kind),
            selector=self.selector,
            capacity_type=prices.CapacityType(self.capacity_type),
            prices=prices.Prices(
                cpu_per_vcpu_hour=prices.clean(self.cpu_per_vcpu_hour),
                memory_per_gib_hour=prices.clean(self.memory_per_gib_hour),
                storage_per_gib_month=prices.clean(self.storage_per_gib_month),
            ),
        )


# --- Usage rollups --------------------------------------------------------------------------


class UsageRollup(models.Model):
    """One hour (or one UTC day) of one Deployment container's samples (or, with `container`
    "", of its pods' sums over their containers: what the idle rule judges), kept so a 14-day
    plan reads ~40 rows per container instead of 40,320 samples. Written by
    `rollups.rollup_cluster` once an hour is complete, and a day's 24 hours merged once the day
    is; derived data, like the samples it summarises (not audited)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()  # its start; it covers [hour, hour + `hours` h)
    hours = models.PositiveSmallIntegerField(default=1)  # 1, or 24: a whole UTC day merged
    namespace = models.CharField(max_length=253)
    workload = models.CharField(max_length=253)
    container = models.CharField(max_length=253, blank=True)  # "": whole pods
    samples = models.IntegerField()  # with both CPU and memory reported
    first_ts = models.DateTimeField()
    last_ts = models.DateTimeField()
    cpu_sum = models.FloatField()  # millicores, summed over samples
    cpu_max = models.FloatField()
    memory_sum = models.FloatField()  # bytes, summed over samples
    memory_max = models.BigIntegerField()
    cpu_hist = models.BinaryField()  # histogram.encode: steady samples (start-up left out)
    cpu_startup_hist = models.BinaryField()
    memory_hist = models.BinaryField()  # every sample
    startup_samples = models.IntegerField(default=0)
    startup_cpu_max = models.FloatField(default=0)
    startup_memory_max = models.BigIntegerField(default=0)
    starts = models.IntegerField(default=0)
    ooms = models.JSONField(default=list)  # [[unix seconds, memory limit then], ...]
    nodes = models.JSONField(default=dict)  # {node: samples}, whole-pod rows
    # At last_ts: requests and limits (whole-pod rows: per pod, the mean over its pods).
    request_cpu_m = models.FloatField(null=True)
    limit_cpu_m = models.FloatField(null=True)
    request_memory = models.BigIntegerField(null=True)
    limit_memory = models.BigIntegerField(null=True)
    pods_at_last = models.IntegerField(default=0)  # pods sampled at the workload's last_ts

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "hours", "hour", "namespace", "workload", "container"],
                name="costs_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=["cluster", "hours", "hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.namespace}/{self.workload}/{self.container}"


class RollupMark(models.Model):
    """How far a cluster's samples are rolled up: every hour before `rolled_until` is (an hour
    without samples has no rows)."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="+")
    rolled_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} rolled until {self.rolled_until:%Y-%m-%d %H:%M}"


# --- Cost rollups: allocation's bills, an hour at a time ---------------------------------------


class CostRollup(models.Model):
    """One hour (or one UTC day) of one container's billing on one node, in resource units
    before prices (allocation.Bill.containers), so allocation over 14 days reads a row per
    container and day instead of every sample. Written with the usage rollups, in the same
    transaction as the mark; derived data (not audited)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    hours = models.PositiveSmallIntegerField(default=1)  # 1, or 24: a whole UTC day merged
    namespace = models.CharField(max_length=253)
    workload = models.CharField(max_length=253, blank=True)  # "": a bare pod
    pod = models.CharField(max_length=253)
    container = models.CharField(max_length=253)
    node = models.CharField(max_length=253)
    cpu = models.FloatField()  # millicore-hours billed: max(request, usage) x time
    memory = models.FloatField()  # byte-hours billed
    cpu_use = models.FloatField()  # millicore-hours used, over samples with a CPU request
    cpu_req = models.FloatField()  # millicore-hours requested
    mem_use = models.FloatField()  # byte-hours used, over samples with a memory request
    mem_req = models.FloatField()
    billed_hours = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "cluster",
                    "hours",
                    "hour",
                    "namespace",
                    "workload",
                    "pod",
                    "container",
                    "node",
                ],
                name="costs_cost_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=["cluster", "hours", "hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.namespace}/{self.pod}/{self.container}"


class CostHour(models.Model):
    """One hour of a cluster's billing apart from its containers (allocation.Bill): when its
    collections were, the gaps, and per namespace and per node what was billed, allocatable,
    idle and over-allocated, in resource units. Times are Unix nanoseconds, as the bills'."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    first_ns = models.BigIntegerField()  # first collection
    last_ns = models.BigIntegerField()  # last collection
    end_ns = models.BigIntegerField()  # last collection + the time it billed
    after_ns = models.BigIntegerField(null=True)  # the next collection, when it was seen
    nominal_ns = models.FloatField()  # the median collection interval
    billed_hours = models.FloatField()
    unscheduled = models.IntegerField(default=0)
    gaps = models.JSONField(default=list)  # [[from_ns, to_ns], ...]
    namespaces = models.JSONField(default=list)  # [[namespace, node, cpu, memory], ...]
    nodes = models.JSONField(default=list)  # [[node, *allocation.NODE_SUMS], ...]

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "hour"], name="costs_cost_hour_unique")
        ]

    def __str__(self) -> str:
        return f"{self.cluster} {self.hour:%Y-%m-%d %H}h"
