"""Reads for healing: the cluster's state as the pure detectors want it, and the incidents
pages and the API show."""

import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Count, Q, QuerySet

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import (
    Cluster,
    ClusterEvent,
    ContainerSample,
    Node,
    NodeSample,
    Pod,
    Workload,
)
from apps.predictions.models import Anomaly, RiskScore

from . import signals as sg
from .alert_selectors import alert_states
from .figures import summary
from .models import ACTIVE, Incident, Status
from .state import FORECAST_DOUBT, RISK_N, risk_persists

log = logging.getLogger(__name__)
RECENT = timedelta(minutes=10)  # restarts and anomalies this recent count
HISTORY = timedelta(minutes=30)  # samples read for "since when" and memory trends
TREND_WINDOW = timedelta(minutes=8)  # memory trends are fitted on each run's last minutes
MIN_TREND_POINTS = 5  # samples in a run before its memory trend says anything
CPU_WINDOW = timedelta(minutes=5)  # CPU at the limit for most of this: throttled now
SAMPLE_COLUMNS = (
    "ts",
    "namespace",
    "workload",
    "pod",
    "container",
    "memory",
    "limit_memory",
    "restarts",
    "ready",
    "waiting_reason",
    "cpu_m",
    "limit_cpu_m",
)


def cluster_state(cluster: Cluster, *, live: bool = True) -> sg.ClusterState:
    """The state the detectors read, at the cluster's last collection. `live` also reads
    claims, autoscalers and Jobs from the API (the collector does not store them)."""
    now = cluster.last_cluster_time
    state = sg.ClusterState(now=now, environment=cluster.environment)
    samples = list(
        ContainerSample.objects.filter(cluster=cluster, ts__gte=now - HISTORY, ts__lte=now)
        .order_by("ts")
        .values_list(*SAMPLE_COLUMNS)
    )
    since, restarts = _pod_history(samples, now)
    state.pods = [
        sg.PodState(
            namespace=p.namespace,
            name=p.name,
            workload=p.workload,
            node=p.node,
            phase=p.phase,
            ready=p.ready,
            restarts=p.restarts,
            reason=p.reason,
            containers=tuple(p.containers),
            created=p.created,
            failing_since=since.get((p.namespace, p.name)),
            recent_restarts=restarts.get((p.namespace, p.name), (0, None))[0],
            restarted_at=restarts.get((p.namespace, p.name), (0, None))[1],
        )
        for p in Pod.objects.filter(cluster=cluster)
    ]
    state.workloads = [
        sg.WorkloadState(
            namespace=w.namespace,
            name=w.name,
            replicas=w.replicas,
            available_replicas=w.available_replicas,
            revision=w.revision,
            conditions=tuple(w.conditions),
            last_rollout_at=w.last_rollout_at,
            user_facing=w.user_facing,
        )
        for w in Workload.objects.filter(cluster=cluster)
    ]
    state.nodes = _nodes(cluster, now)
    state.events = [
        sg.EventState(
            e.namespace, e.reason, e.message, e.object_kind, e.object_name, e.count, e.last_seen
        )
        for e in ClusterEvent.objects.filter(
            cluster=cluster, type="Warning", last_seen__gte=now - RECENT
        )
    ]
    state.risks = _risks(cluster)
    state.anomalies = [
        sg.AnomalyState(
            a.entity_kind,
            a.namespace,
            a.name,
            a.start,
            a.peak_score,
            tuple(m.get("metric", "") for m in a.metrics),
        )
        # A detector still learning its entity's normal is shown on the pages, never acted on.
        for a in Anomaly.objects.filter(cluster=cluster, start__gte=now - RECENT, learning=False)
    ]
    state.memory = memory_states(samples)
    state.cpu = _cpu(samples, now)
    state.alerts = alert_states(cluster)  # firing, from Alertmanager
    if live:
        _live_objects(cluster, state)
    return state


def _pod_history(samples, now: datetime) -> tuple[dict, dict]:
    """Per pod: when its current bad stretch began (the first unhealthy sample after the last
    healthy one), and (restarts in the last RECENT minutes, when the first of them was seen)."""
    last_good: dict[tuple, datetime] = {}
    first_bad: dict[tuple, datetime] = {}
    first_restarts: dict[tuple, int] = {}
    last_restarts: dict[tuple, int] = {}
    restarted_at: dict[tuple, datetime] = {}
    for ts, ns, _wl, pod, _c, _m, _l, restarts, ready, waiting, *_ in samples:
        key = (ns, pod)
        if ts >= now - RECENT and key in last_restarts and restarts > last_restarts[key]:
            restarted_at.setdefault(key, ts)
        bad = not ready or (waiting and waiting != "ContainerCreating")
        if bad:
            if key not in first_bad or (key in last_good and last_good[key] > first_bad[key]):
                first_bad[key] = ts
        else:
            last_good[key] = ts
        if ts >= now - RECENT:
            first_restarts.setdefault(key, restarts)
            last_restarts[key] = restarts
    since = {k: v for k, v in first_bad.items() if k not in last_good or last_good[k] < v}
    recent = {k: last_restarts[k] - first_restarts[k] for k in last_restarts}
    return since, {k: (v, restarted_at.get(k)) for k, v in recent.items() if v > 0}


def memory_states(samples) -> dict[tuple[str, str], sg.MemoryState]:
    """Per workload, its worst container: peak, limit, and how steadily memory climbs between
    restarts (slope of memory/limit in % per minute and the fit's r^2)."""
    runs: dict[tuple, list[tuple[float, float, int | None]]] = defaultdict(list)
    for ts, ns, wl, pod, container, memory, limit, restarts, _ready, _w, *_ in samples:
        if wl and memory is not None:
            runs[(ns, wl, pod, container, restarts)].append((ts.timestamp(), memory, limit))
    out: dict[tuple[str, str], sg.MemoryState] = {}
    rank: dict[tuple[str, str], tuple] = {}
    latest: dict[tuple[str, str, str], tuple[float, int | None]] = {}  # each container's now
    chosen: dict[tuple[str, str], str] = {}  # the container of the run that says how it climbs
    for (ns, wl, _pod, container, _restarts), points in runs.items():
        peak = max(m for _, m, _ in points)
        limit = points[-1][2]
        seen = latest.get((ns, wl, container))
        if seen is None or points[-1][0] >= seen[0]:
            latest[(ns, wl, container)] = (points[-1][0], limit)
        slope, r2 = _trend(points, limit)
        growth = slope / 100 * (limit or peak)
        current = out.get((ns, wl))
        # The steepest run long enough to judge says how memory climbs (a run just restarted
        # is still warming up: steep, but too short to tell a leak); the peak is the highest.
        key = (len(points) >= MIN_TREND_POINTS, slope, peak)
        best = current is None or key > rank[(ns, wl)]
        steady = r2 >= 0.8 and len(points) >= MIN_TREND_POINTS
        run = sg.MemoryState(peak, limit, slope, steady, growth)
        if best:
            rank[(ns, wl)], chosen[(ns, wl)] = key, container
        out[(ns, wl)] = replace(
            run if best else current, peak_bytes=max(peak, current.peak_bytes if current else 0)
        )
    # The limit a fix starts from is the one the newest pods run with, not an older run's.
    return {k: replace(m, limit_bytes=latest[(*k, chosen[k])][1]) for k, m in out.items()}


def _cpu(samples, now: datetime) -> dict[tuple[str, str], sg.CpuState]:
    """Per workload: which pods ran at >= 90% of their CPU limit in most recent samples, and
    since when the hottest stretch has lasted."""
    shares: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    hot_since: dict[tuple[str, str], datetime] = {}  # (workload key, pod) -> stretch start
    for ts, ns, wl, pod, *_rest, cpu_m, limit_cpu_m in samples:
        if not wl or cpu_m is None or not limit_cpu_m:
            continue
        share = cpu_m / limit_cpu_m
        if share >= 0.9:
            hot_since.setdefault((ns, wl, pod), ts)
        else:
            hot_since.pop((ns, wl, pod), None)
        if ts >= now - CPU_WINDOW:
            shares[(ns, wl)][pod].append(share)
    out = {}
    for (ns, wl), pods in shares.items():
        hot = tuple(sorted(p for p, v in pods.items() if np.mean(np.array(v) >= 0.9) >= 0.6))
        median = float(np.median([x for v in pods.values() for x in v])) * 100
        starts = [hot_since[(ns, wl, p)] for p in hot if (ns, wl, p) in hot_since]
        out[(ns, wl)] = sg.CpuState(
            pods_at_limit=hot,
            pods=len(pods),
            median_pct_of_limit=median,
            since=min(starts) if starts else None,
        )
    return out


def _trend(points, limit: int | None) -> tuple[float, float]:
    """Slope (% of the limit per minute) and r^2 over the run's last TREND_WINDOW: a leak
    that starts mid-run is a straight climb there, whatever came before."""
    end = points[-1][0] if points else 0
    points = [p for p in points if p[0] >= end - TREND_WINDOW.total_seconds()]
    if len(points) < 3:
        return 0.0, 0.0
    t = np.array([p[0] for p in points]) / 60.0
    m = np.array([p[1] for p in points], dtype=float)
    scale = float(limit) if limit else float(max(m.max(), 1.0))
    y = m / scale * 100
    if np.ptp(t) == 0:
        return 0.0, 0.0
    slope, intercept = np.polyfit(t - t[0], y, 1)
    fitted = slope * (t - t[0]) + intercept
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - fitted) ** 2).sum()) / total if total > 0 else 0.0
    return float(slope), r2


def _nodes(cluster: Cluster, now: datetime) -> list[sg.NodeState]:
    bad_since: dict[str, datetime] = {}
    history = NodeSample.objects.filter(cluster=cluster, ts__gte=now - HISTORY).order_by("ts")
    for ts, node, ready, mp, dp, pp in history.values_list(
        "ts", "node", "ready", "memory_pressure", "disk_pressure", "pid_pressure"
    ):
        if ready and not (mp or dp or pp):
            bad_since.pop(node, None)
        else:
            bad_since.setdefault(node, ts)
    return [
        sg.NodeState(n.name, n.ready, tuple(n.pressure), n.unschedulable, bad_since.get(n.name))
        for n in Node.objects.filter(cluster=cluster)
    ]


def _risks(cluster: Cluster) -> list[sg.RiskState]:
    runs = list(
        RiskScore.objects.filter(cluster=cluster)
        .order_by("-scored_at")
        .values_list("scored_at", flat=True)
        .distinct()[:RISK_N]
    )
    if not runs:
        return []
    rows = RiskScore.objects.filter(
        cluster=cluster, scored_at__in=runs, risk__isnull=False
    ).order_by("scored_at")
    levels: dict[tuple, list[str]] = defaultdict(list)
    latest = []
    for r in rows:
        levels[(r.entity_kind, r.namespace, r.name)].append(r.level)
        if r.scored_at == runs[0]:
            latest.append(r)
    held, doubted = _preventive_open(cluster), _forecasts_doubted(cluster, runs[0])
    return [
        sg.RiskState(
            r.entity_kind,
            r.namespace,
            r.name,
            r.risk,
            r.level,
            tuple(r.reasons),
            r.lead_minutes,
            r.lead_basis,
            persistent=risk_persists(
                levels[(r.entity_kind, r.namespace, r.name)],
                r.risk,
                held=(r.entity_kind, r.namespace, r.name) in held,
                doubted=(r.entity_kind, r.namespace, r.name) in doubted,
            ),
        )
        for r in latest
    ]


def _forecasts_doubted(cluster: Cluster, now: datetime) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of targets whose forecast cleared by itself within
    FORECAST_DOUBT: preventive to the end, resolved with no fix of ours and no person's."""
    rows = Incident.objects.filter(
        cluster=cluster,
        preventive=True,
        status=Status.RESOLVED,
        healed_by_zerotouch=False,
        human_involved=False,
        resolved_at__gte=now - FORECAST_DOUBT,
    ).values_list("scope", "namespace", "name")
    return set(rows)


def _preventive_open(cluster: Cluster) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of the targets of preventive incidents not over."""
    rows = Incident.objects.filter(cluster=cluster, status__in=ACTIVE, preventive=True)
    return {(i.scope, i.namespace, i.name) for i in rows}


def _live_objects(cluster: Cluster, state: sg.ClusterState) -> None:
    try:
        gw = gateway_for(cluster)
    except gw_errors.GatewayError as exc:
        log.warning("healing: %s unreachable for claims, autoscalers and Jobs: %s", cluster, exc)
        return
    try:
        state.pvcs = [
            sg.PvcState(c.namespace, c.name, c.phase, c.storage_class, c.mounted_by)
            for c in gw.pvcs()
        ]
        state.hpas = [
            sg.HpaState(
                h.namespace,
                h.name,
                h.target_name,
                h.current_replicas,
                h.max_replicas,
                h.current_cpu_utilization,
                h.target_cpu_utilization,
            )
            for h in gw.hpas()
        ]
        state.jobs = [
            sg.JobState(
                j.namespace,
                j.name,
                j.owner,
                j.started_at,
                j.succeeded,
                j.failed,
                j.backoff_limit,
                j.failed_reason,
                j.failed_message,
                j.failed_at,
                j.image,
            )
            for j in gw.jobs()
        ]
    except gw_errors.GatewayError as exc:
        log.warning("healing: reading claims, autoscalers and Jobs of %s failed: %s", cluster, exc)
    finally:
        gw.close()


# --- incidents --------------------------------------------------------------------------------


@dataclass
class IncidentFilter:
    cluster: Cluster | None = None
    status: str = ""  # a Status, or "active"
    severity: str = ""
    namespace: str = ""


def _filtered(f: IncidentFilter, *, status: bool = True) -> QuerySet[Incident]:
    qs = Incident.objects.all()
    if f.cluster is not None:
        qs = qs.filter(cluster=f.cluster)
    if status and f.status == "active":
        qs = qs.filter(status__in=ACTIVE)
    elif status and f.status:
        qs = qs.filter(status=f.status)
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.namespace:
        qs = qs.filter(namespace=f.namespace)
    return qs


def incident_list(f: IncidentFilter, limit: int = 200) -> QuerySet[Incident]:
    qs = _filtered(f).select_related("cluster", "action")
    return qs.order_by("status", "severity", "-detected_at")[:limit]


def incident_counts(f: IncidentFilter) -> list[tuple[str, str, int]]:
    """(status, its label, how many) for the filter's other fields, whatever its status: what
    the list shows against what there is."""
    counts = dict(_filtered(f, status=False).values_list("status").annotate(n=Count("pk")))
    return [(s.value, s.label, counts[s.value]) for s in Status if counts.get(s.value)]


def incident_get(pk: int) -> Incident | None:
    return Incident.objects.select_related("cluster", "action").filter(pk=pk).first()


def incidents_active(cluster: Cluster) -> QuerySet[Incident]:
    return Incident.objects.filter(cluster=cluster, status__in=ACTIVE).select_related("action")


def incidents_open_count() -> int:
    return Incident.objects.exclude(status=Status.RESOLVED).count()


def overview_panel() -> dict:
    """The Overview's healing panel: the open incidents, most urgent first; the last ones
    whose fix restored service (how, and how fast); and the figures."""
    open_ = Incident.objects.filter(status__in=ACTIVE).select_related("cluster")
    healed = Incident.objects.filter(recovered_at__isnull=False, action__isnull=False)
    return {
        "incidents": list(open_.order_by("severity", "-detected_at")[:8]),
        "healed": list(healed.select_related("action").order_by("-updated_at")[:5]),
        "figures": summary(),
    }


def workloads_in_incident(cluster) -> dict[tuple[str, str], str]:
    """Workloads with an incident not yet over: {(namespace, workload): why}, for the cost
    plan (registered in core's WORKLOAD_HOLDS)."""
    rows = Incident.objects.filter(cluster=cluster, status__in=ACTIVE, scope="workload")
    return {
        (i.namespace, i.name): f"has incident #{i.pk} ({i.cause_label}, {i.status}) not over"
        for i in rows.order_by("pk")
    }


def incidents_about(cluster_id: int, namespace: str, workload: str, since, until) -> list[dict]:
    """Incidents about a workload (or its pods) detected in [since, until], cluster time
    (registered in core's WORKLOAD_INCIDENTS: chaos grades the self-healer with them)."""
    rows = (
        Incident.objects.filter(
            cluster_id=cluster_id,
            namespace=namespace,
            detected_at__gte=since,
            detected_at__lte=until,
        )
        # the workload's own, and those of its pods (a pod-scoped incident names the pod)
        .filter(Q(name=workload) | Q(scope="pod", name__startswith=f"{workload}-"))
        .select_related("action")
        .order_by("detected_at", "pk")
    )
    out = []
    for i in rows:
        a = i.action
        approved_by = (
            list(a.approvals.filter(decision="approve").values_list("approver", flat=True))
            if a
            else []
        )
        out.append(
            {
                "id": i.pk,
                "cause": i.cause,
                "severity": i.severity,
                "preventive": i.preventive,
                "status": i.status,
                "started_at": i.started_at,
                "detected_at": i.detected_at,
                "recovered_at": i.recovered_at,
                "resolved_at": i.resolved_at,
                "healed_by_zerotouch": i.healed_by_zerotouch,
                "action": {
                    "id": a.pk,
                    "kind": a.kind,
                    "status": a.status,
                    "approved_by": approved_by,
                }
                if a
                else None,
            }
        )
    return out
