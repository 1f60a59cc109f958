"""Reads: the price sheet of each cluster, as the pure sheets that cost math takes."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch

from apps.clusters.models import Cluster

from . import prices
from .models import PriceRow, PriceSheet


def _pure(sheet: PriceSheet) -> prices.PriceSheet:
    return prices.PriceSheet(rows=tuple(r.as_pure() for r in sheet.rows.all()), source=sheet.source)


def prices_for_cluster(cluster: Cluster) -> prices.PriceSheet:
    """The cluster's sheet, or the defaults when it has none."""
    sheet = (
        PriceSheet.objects.filter(cluster_id=cluster.pk)
        .prefetch_related(Prefetch("rows", PriceRow.objects.order_by("position")))
        .first()
    )
    return prices.DEFAULT_SHEET if sheet is None else _pure(sheet)


@dataclass(frozen=True)
class ClusterPrices:
    cluster: Cluster
    sheet: prices.PriceSheet
    custom: bool  # False: the defaults
    updated_by: str = ""
    updated_at: datetime | None = None


def price_sheet_list() -> list[ClusterPrices]:
    """Every cluster with the prices it is costed at, for the prices page."""
    stored = {
        s.cluster_id: s
        for s in PriceSheet.objects.prefetch_related(
            Prefetch("rows", PriceRow.objects.order_by("position"))
        )
    }
    out = []
    for cluster in Cluster.objects.order_by("name"):
        s = stored.get(cluster.pk)
        if s is None:
            out.append(ClusterPrices(cluster, prices.DEFAULT_SHEET, custom=False))
        else:
            out.append(ClusterPrices(cluster, _pure(s), True, s.updated_by, s.updated_at))
    return out
