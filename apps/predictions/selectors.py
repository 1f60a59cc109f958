"""Reads for predictions: stored samples as frames for the pure feature code, and the scores,
anomalies and model versions that pages and the API show."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from django.db.models import QuerySet
from django.utils import timezone

from apps.clusters.models import Cluster, ClusterEvent, ContainerSample, NodeSample, Workload
from apps.core.clock import chart_json
from apps.governance.action_models import Action

from .charts import anomaly_bands, cluster_timeline
from .features import CONTAINER_COLUMNS, EVENT_COLUMNS, NODE_COLUMNS, WORKLOAD_COLUMNS, Frames
from .models import Anomaly, ModelVersion, RiskScore
from .series import node_series, workload_series

LEVELS = list(RiskScore.RANKED)


def _frame(qs: QuerySet, columns: list[str]) -> pd.DataFrame:
    rows = list(qs.values_list(*columns))
    df = pd.DataFrame(rows, columns=columns)
    for col in ("ts", "first_seen", "last_seen", "last_rollout_at"):
        if col in df:
            df[col] = pd.to_datetime(df[col], utc=True)
    return df


def samples_frames(*, cluster: Cluster, since: datetime, until: datetime) -> Frames:
    """The collector's rows in [since, until] with the columns the features package expects."""
    window = {"cluster": cluster, "ts__gte": since, "ts__lte": until}
    containers = _frame(ContainerSample.objects.filter(**window).order_by("ts"), CONTAINER_COLUMNS)
    nodes = _frame(NodeSample.objects.filter(**window).order_by("ts"), NODE_COLUMNS)
    events = _frame(
        ClusterEvent.objects.filter(cluster=cluster, last_seen__gte=since, last_seen__lte=until),
        EVENT_COLUMNS,
    )
    # Workloads are inventory (the latest state), stamped with the time they were read.
    wl_cols = [c for c in WORKLOAD_COLUMNS if c != "ts"]
    workloads = _frame(Workload.objects.filter(cluster=cluster), [*wl_cols, "updated_at"])
    workloads = workloads.rename(columns={"updated_at": "ts"})
    workloads["ts"] = pd.to_datetime(workloads["ts"], utc=True)
    return Frames(containers, nodes, events, workloads[WORKLOAD_COLUMNS])


def samples_span(*, cluster: Cluster | None = None) -> tuple[datetime | None, datetime | None]:
    qs = ContainerSample.objects.all()
    if cluster is not None:
        qs = qs.filter(cluster=cluster)
    first = qs.order_by("ts").values_list("ts", flat=True).first()
    last = qs.order_by("-ts").values_list("ts", flat=True).first()
    return first, last


# --- scores ---------------------------------------------------------------------------------


@dataclass
class RiskFilter:
    cluster: Cluster | None = None
    namespace: str = ""
    min_level: str = ""
    kind: str = ""  # workload | node
    q: str = ""


def latest_runs() -> dict[int, datetime]:
    """Each cluster's most recent scoring time: one index lookup per cluster, not a scan of
    every stored score."""
    out = {}
    for cluster_id in Cluster.objects.values_list("pk", flat=True):
        last = (
            RiskScore.objects.filter(cluster_id=cluster_id)
            .order_by("-scored_at")
            .values_list("scored_at", flat=True)
            .first()
        )
        if last is not None:
            out[cluster_id] = last
    return out


def risk_list(f: RiskFilter) -> list[RiskScore]:
    """The latest score of every workload and node, riskiest first; unknown last."""
    runs = latest_runs()
    if f.cluster is not None:
        runs = {k: v for k, v in runs.items() if k == f.cluster.pk}
    out: list[RiskScore] = []
    for cluster_id, last in runs.items():
        qs = RiskScore.objects.filter(cluster_id=cluster_id, scored_at=last).select_related(
            "cluster", "model"
        )
        if f.namespace:
            qs = qs.filter(namespace=f.namespace)
        if f.kind:
            qs = qs.filter(entity_kind=f.kind)
        if f.q:
            qs = qs.filter(name__icontains=f.q)
        if f.min_level:
            qs = qs.filter(level__in=LEVELS[LEVELS.index(f.min_level) :])
        out.extend(qs)
    return sorted(out, key=lambda r: (r.risk is None, -(r.risk or 0), r.label))


def risk_history(
    *, cluster_id: int, kind: str, namespace: str, name: str, since: datetime
) -> list[tuple[datetime, int | None]]:
    rows = RiskScore.objects.filter(
        cluster_id=cluster_id,
        entity_kind=kind,
        namespace=namespace,
        name=name,
        scored_at__gte=since,
    ).order_by("scored_at")
    return list(rows.values_list("scored_at", "risk"))


def risk_sparklines(scores: list[RiskScore], *, hours: int = 2) -> dict[int, list[int]]:
    """Risk over the last hours for each listed score (one query per cluster)."""
    out: dict[int, list[int]] = {}
    by_cluster: dict[int, list[RiskScore]] = {}
    for s in scores:
        by_cluster.setdefault(s.cluster_id, []).append(s)
    for cluster_id, items in by_cluster.items():
        since = items[0].scored_at - timedelta(hours=hours)
        hist = (
            RiskScore.objects.filter(cluster_id=cluster_id, scored_at__gte=since)
            .order_by("scored_at")
            .values_list("entity_kind", "namespace", "name", "risk")
        )
        series: dict[tuple, list[int]] = {}
        for kind, ns, name, risk in hist:
            if risk is not None:  # never draw a score that was not made
                series.setdefault((kind, ns, name), []).append(risk)
        for s in items:
            out[s.pk] = series.get((s.entity_kind, s.namespace, s.name), [])[-60:]
    return out


def namespaces_scored() -> list[str]:
    """Namespaces with workloads (the inventory, not the score history)."""
    return sorted(set(Workload.objects.values_list("namespace", flat=True).distinct()))


# --- anomalies ------------------------------------------------------------------------------


def anomaly_list(
    *,
    cluster: Cluster | None = None,
    namespace: str = "",
    name: str = "",
    kind: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Anomaly]:
    qs = Anomaly.objects.select_related("cluster").order_by("-start")
    if cluster is not None:
        qs = qs.filter(cluster=cluster)
    if namespace:
        qs = qs.filter(namespace=namespace)
    if name:
        qs = qs.filter(name=name)
    if kind:
        qs = qs.filter(entity_kind=kind)
    if since is not None:
        qs = qs.filter(end__gte=since)
    if until is not None:
        qs = qs.filter(start__lte=until)
    return qs


# --- models ---------------------------------------------------------------------------------


def model_versions(*, kind: str = "") -> QuerySet[ModelVersion]:
    qs = ModelVersion.objects.select_related("cluster").order_by("-created_at")
    return qs.filter(kind=kind) if kind else qs


def champion(kind: str, cluster: Cluster | None = None) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        kind=kind, cluster=cluster, status=ModelVersion.Status.CHAMPION
    ).first()


def training_now() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(status=ModelVersion.Status.TRAINING)


def entity_series(
    *, cluster: Cluster, kind: str, namespace: str, name: str, since: datetime, until: datetime
) -> pd.DataFrame:
    """One workload's or node's metric series for its timeline chart."""
    window = {"cluster": cluster, "ts__gte": since, "ts__lte": until}
    if kind == "node":
        return node_series(
            _frame(NodeSample.objects.filter(node=name, **window).order_by("ts"), NODE_COLUMNS)
        )
    qs = ContainerSample.objects.filter(namespace=namespace, **window)
    # A bare pod is its own workload (the features package names it by the pod).
    qs = qs.filter(workload=name) if qs.filter(workload=name).exists() else qs.filter(pod=name)
    return workload_series(_frame(qs.order_by("ts"), CONTAINER_COLUMNS))


def clusters_now(cluster: Cluster | None = None) -> datetime | None:
    """The newest cluster clock among the clusters shown: time ranges end there, so a
    cluster whose clock differs from ours (or a fast-forwarded sandbox) still shows."""
    ahead = clock_cluster(cluster)
    return ahead.last_cluster_time if ahead else None


def clock_cluster(cluster: Cluster | None = None) -> Cluster | None:
    """The cluster whose clock `clusters_now` reads (the one furthest ahead), to show the
    range on that clock."""
    qs = Cluster.objects.all() if cluster is None else Cluster.objects.filter(pk=cluster.pk)
    return qs.exclude(last_cluster_time=None).order_by("-last_cluster_time").first()


def overview_panel() -> dict:
    """The Overview's predictions panel: the riskiest five, and the last 6 hours' anomalies
    as the cluster-wide timeline."""
    risks = risk_list(RiskFilter(min_level="medium"))[:5]
    ahead = clock_cluster()
    until = ahead.last_cluster_time if ahead else timezone.now()
    since = until - timedelta(hours=6)
    rows = list(anomaly_list(since=since, until=until)[:300])
    bands = anomaly_bands(rows)
    chart = chart_json(cluster_timeline(bands, since, until), ahead) if bands else None
    return {"risks": risks, "chart": chart}


def action_outcomes(
    *, cluster: Cluster, since: datetime, until: datetime
) -> list[tuple[str, str, datetime, str]]:
    """Fixes whose verification found the target still unhealthy (failed or rolled back), as
    (entity, entity kind, when, what) for the labels: outcomes teach the model too."""
    rows = Action.objects.filter(
        cluster=cluster, status__in=("failed", "rolled_back"), finished_at__isnull=False
    ).values_list(
        "pk",
        "kind",
        "status",
        "namespace",
        "target_kind",
        "target_name",
        "workload",
        "finished_at",
        "result",
    )
    out = []
    for pk, kind, status, ns, target_kind, name, workload, finished, result in rows:
        # On the cluster's clock (recorded by the executor); the wall clock otherwise.
        stamp = (result or {}).get("cluster_time")
        at = datetime.fromisoformat(stamp) if stamp else finished
        if not since <= at <= until:
            continue
        if target_kind == "Node":
            out.append((name, "node", at, f"action #{pk} {kind} {status}"))
        elif workload or target_kind == "Deployment":
            out.append(
                (f"{ns}/{workload or name}", "workload", at, f"action #{pk} {kind} {status}")
            )
    return out
