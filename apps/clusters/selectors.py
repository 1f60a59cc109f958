"""Reads for the cluster pages and the API."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from apps.core.errors import NotFound
from apps.core.models import MODE_STRICTNESS, Mode, SafetyMode
from apps.core.selectors import safety_state_get

from .models import Cluster, ClusterEvent, Node, NodeSample, Pod, Workload


def cluster_list() -> QuerySet[Cluster]:
    return Cluster.objects.order_by("name")


def cluster_named(name: str) -> Cluster | None:
    """For API filters: "" is every cluster (None); an unknown name is a 404 naming the field
    (as it is wherever a request names a cluster)."""
    if not name:
        return None
    cluster = Cluster.objects.filter(name=name).first()
    if cluster is None:
        raise NotFound(f"no cluster named {name!r}", field="cluster")
    return cluster


def halted_clusters() -> list[dict]:
    """Clusters whose own mode is halted (e.g. by the storm brake), for the banner."""
    now = timezone.now()
    out = []
    for row in SafetyMode.objects.filter(scope__startswith="cluster:", mode=Mode.HALTED):
        if row.expires_at and row.expires_at <= now:
            continue
        name = (
            Cluster.objects.filter(pk=int(row.scope.split(":", 1)[1]))
            .values_list("name", flat=True)
            .first()
        )
        if name:
            out.append({"name": name, "reason": row.reason, "by": row.changed_by})
    return out


def cluster_modes() -> list[dict]:
    """Each enabled cluster's own safety mode (the Safety page): its row, if anyone set one,
    and the mode that applies, the stricter of the global mode and its own."""
    overall = safety_state_get()
    out = []
    for c in Cluster.objects.filter(enabled=True).order_by("name"):
        own = safety_state_get(scope=f"cluster:{c.pk}")
        stricter = MODE_STRICTNESS[Mode(own.mode)] > MODE_STRICTNESS[Mode(overall.mode)]
        out.append(
            {
                "cluster": c,
                "own": own,
                "set": own.changed_by not in ("", "system:install"),
                "effective": own.mode if stricter else overall.mode,
                "stricter": stricter,
            }
        )
    return out


def cluster_get(name: str) -> Cluster | None:
    return Cluster.objects.filter(name=name).first()


def cluster_nodes(cluster: Cluster) -> QuerySet[Node]:
    return Node.objects.filter(cluster=cluster).order_by("name")


def cluster_workloads(cluster: Cluster) -> list[Workload]:
    workloads = list(Workload.objects.filter(cluster=cluster).order_by("namespace", "name"))
    rows = (
        Pod.objects.filter(cluster=cluster)
        .values("namespace", "workload")
        .annotate(n=Sum("restarts"))
    )
    restarts = {(r["namespace"], r["workload"]): r["n"] for r in rows}
    for w in workloads:
        w.restarts = restarts.get((w.namespace, w.name), 0)
    return workloads


def cluster_warnings(cluster: Cluster, limit: int = 30) -> QuerySet[ClusterEvent]:
    return ClusterEvent.objects.filter(cluster=cluster, type="Warning").order_by("-last_seen")[
        :limit
    ]


def cluster_problem_pods(cluster: Cluster) -> QuerySet[Pod]:
    return (
        Pod.objects.filter(cluster=cluster)
        .filter(Q(ready=False) | ~Q(reason=""))
        .order_by("namespace", "name")[:50]
    )


@dataclass(frozen=True)
class UsagePoint:
    ts: datetime
    cpu_m: float
    memory: int
    allocatable_cpu_m: int
    allocatable_memory: int
    nodes_ready: int


def cluster_usage(cluster: Cluster, hours: int = 6) -> list[UsagePoint]:
    """Cluster-wide usage per collection, for the last `hours` of the cluster's clock."""
    end = cluster.last_cluster_time
    if end is None:
        return []
    rows = (
        NodeSample.objects.filter(cluster=cluster, ts__gte=end - timedelta(hours=hours))
        .values("ts")
        .annotate(
            cpu=Sum("cpu_m"),
            mem=Sum("memory"),
            acpu=Sum("allocatable_cpu_m"),
            amem=Sum("allocatable_memory"),
            ready=Count("pk", filter=Q(ready=True)),
        )
        .order_by("ts")
    )
    return [
        UsagePoint(
            r["ts"], r["cpu"] or 0.0, r["mem"] or 0, r["acpu"] or 0, r["amem"] or 0, r["ready"]
        )
        for r in rows
    ]


def cluster_summaries() -> list[dict]:
    """For /ai/status and the overview."""
    return [
        {
            "name": c.name,
            "health": c.state,
            "failing_workloads": c.failing_workloads,
            "simulated": c.simulated,
            "environment": c.environment,
            "server_version": c.server_version,
            "nodes": c.node_count,
            "pods": c.pod_count,
            "last_collected_at": c.last_collected_at,
            "last_error": c.last_error,
        }
        for c in cluster_list()
    ]


def cluster_names() -> list[tuple[int, str]]:
    """(id, name) of every cluster, for pages of apps that know clusters only by id (core's
    notification rules)."""
    return list(Cluster.objects.order_by("name").values_list("pk", "name"))
