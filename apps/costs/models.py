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
