"""The clusters' part of GET /metrics (apps/core/metrics.py): reachability and freshness."""

from prometheus_client.core import GaugeMetricFamily

from .models import Cluster


def prometheus_part() -> list:
    reachable = GaugeMetricFamily(
        "zerotouch_cluster_reachable",
        "1 when the last check reached the cluster's API server (0 unreachable, -1 unknown).",
        labels=["cluster"],
    )
    collected = GaugeMetricFamily(
        "zerotouch_cluster_last_collection_timestamp_seconds",
        "When the cluster was last collected successfully.",
        labels=["cluster"],
    )
    failed = GaugeMetricFamily(
        "zerotouch_cluster_last_error_timestamp_seconds",
        "When a collection of the cluster last failed.",
        labels=["cluster"],
    )
    for c in Cluster.objects.filter(enabled=True).order_by("name"):
        reachable.add_metric([c.name], -1 if c.reachable is None else int(c.reachable))
        if c.last_collected_at:
            collected.add_metric([c.name], c.last_collected_at.timestamp())
        if c.last_error_at:
            failed.add_metric([c.name], c.last_error_at.timestamp())
    return [reachable, collected, failed]
