"""Writes: the cluster registry (admin, audited) and the collector's inventory and samples."""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.errors import Conflict, ValidationFailed
from apps.core.roles import Cap, require
from apps.core.services import audit_record

from . import collector, promql
from .connect import gateway_for, kubeconfig_refusal
from .gateway import errors
from .models import Cluster, ClusterEvent, ContainerSample, Node, NodeSample, Pod, Workload
from .promql import PrometheusError

log = logging.getLogger(__name__)
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
EDITABLE = (
    "connection",
    "kubeconfig_path",
    "context",
    "environment",
    "protected_namespaces",
    "collect_interval_seconds",
    "prometheus_url",
    "enabled",
)


def _snapshot(c: Cluster) -> dict:
    return {"name": c.name, **{f: getattr(c, f) for f in EDITABLE}}


def _validate(data: dict) -> dict:
    clean = dict(data)
    if clean.get("connection") not in Cluster.Connection.values:
        raise ValidationFailed(
            f"connection must be one of {', '.join(Cluster.Connection.values)}", field="connection"
        )
    if clean["connection"] != Cluster.Connection.IN_CLUSTER and not clean.get("kubeconfig_path"):
        raise ValidationFailed(
            "a kubeconfig path is required for this connection", field="kubeconfig_path"
        )
    if clean.get("kubeconfig_path") and (refused := kubeconfig_refusal(clean["kubeconfig_path"])):
        raise ValidationFailed(refused, field="kubeconfig_path")
    if clean.get("environment", "development") not in Cluster.Environment.values:
        raise ValidationFailed("unknown environment", field="environment")
    namespaces = clean.get("protected_namespaces", [])
    if not isinstance(namespaces, list) or not all(
        isinstance(n, str) and NAMESPACE.match(n) for n in namespaces
    ):
        raise ValidationFailed(
            "protected namespaces must be valid namespace names", field="protected_namespaces"
        )
    interval = clean.get("collect_interval_seconds", 30)
    if not isinstance(interval, int) or not 5 <= interval <= 3600:
        raise ValidationFailed(
            "the collection interval must be 5 to 3600 seconds", field="collect_interval_seconds"
        )
    url = clean.get("prometheus_url", "")
    if url and not re.match(r"^https?://[^\s/$.?#].[^\s]*$", url):
        raise ValidationFailed("the Prometheus URL must be http(s)://…", field="prometheus_url")
    return clean


@transaction.atomic
def cluster_create(
    *, actor: AbstractBaseUser | str, name: str, reason: str = "", **data
) -> Cluster:
    if not isinstance(actor, str):
        require(actor, Cap.MANAGE_POLICY)
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,59}$", name or ""):
        raise ValidationFailed("name: lowercase letters, digits and dashes", field="name")
    if Cluster.objects.filter(name=name).exists():
        raise Conflict(f"a cluster named {name!r} exists")
    cluster = Cluster.objects.create(name=name, **_validate(data))
    audit_record(
        actor=actor,
        verb="cluster.registered",
        target_type="cluster",
        target_id=str(cluster.pk),
        target_repr=f"cluster {name}",
        after=_snapshot(cluster),
        reason=reason,
    )
    return cluster


@transaction.atomic
def cluster_update(
    *, actor: AbstractBaseUser | str, cluster: Cluster, reason: str = "", **data
) -> Cluster:
    if not isinstance(actor, str):
        require(actor, Cap.MANAGE_POLICY)
    row = Cluster.objects.select_for_update().get(pk=cluster.pk)
    before = _snapshot(row)
    clean = _validate({**before, **data})
    for key in EDITABLE:
        setattr(row, key, clean.get(key, getattr(row, key)))
    if _snapshot(row) != before:
        row.save(update_fields=list(EDITABLE))
        audit_record(
            actor=actor,
            verb="cluster.updated",
            target_type="cluster",
            target_id=str(row.pk),
            target_repr=f"cluster {row.name}",
            before=before,
            after=_snapshot(row),
            reason=reason,
        )
    return row


def cluster_register_sandbox(
    *, kubeconfig_path: str, interval: int, name: str = "sandbox", context: str = "sandbox"
) -> Cluster:
    """Register (or point again) the sandbox cluster; used by `sandbox --register` and demo."""
    data = {
        "connection": Cluster.Connection.SANDBOX,
        "kubeconfig_path": kubeconfig_path,
        "context": context,
        "environment": Cluster.Environment.DEVELOPMENT,
        "collect_interval_seconds": interval,
    }
    existing = Cluster.objects.filter(name=name).first()
    if existing is None:
        return cluster_create(actor="system:sandbox", name=name, reason="sandbox started", **data)
    return cluster_update(
        actor="system:sandbox", cluster=existing, reason="sandbox started", **data
    )


# --- Collection -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectResult:
    ok: bool
    message: str
    pods: int = 0
    samples: int = 0
    events: int = 0


LEASE = timedelta(seconds=180)  # longer than the task's hard time limit


def cluster_collect(*, cluster: Cluster) -> CollectResult:
    """Read the cluster and store inventory, samples and new events. Never raises for a
    cluster's own failures: it marks the cluster unhealthy with the reason instead. At most
    one collection of a cluster runs at a time (a lease on the row)."""
    now = timezone.now()
    leased = (
        Cluster.objects.filter(pk=cluster.pk)
        .filter(Q(collecting_until__isnull=True) | Q(collecting_until__lt=now))
        .update(collecting_until=now + LEASE)
    )
    if not leased:
        return CollectResult(False, "another collection of this cluster is running")
    try:
        return _collect(cluster, now)
    except Exception as exc:  # last resort: a bug or the database; record it, never crash
        log.exception("collection of %s failed", cluster.name)
        message = f"collection failed: {type(exc).__name__}: {exc}"[:2000]
        Cluster.objects.filter(pk=cluster.pk).update(last_error=message, last_error_at=now)
        return CollectResult(False, message)
    finally:
        Cluster.objects.filter(pk=cluster.pk).update(collecting_until=None)


def _collect(cluster: Cluster, now) -> CollectResult:
    since = cluster.last_cluster_time - timedelta(minutes=2) if cluster.last_cluster_time else None
    try:
        gw = gateway_for(cluster)
        try:
            result = collector.collect(cluster, gw, events_since=since)
        finally:
            gw.close()
    except errors.GatewayError as exc:
        reachable = not isinstance(exc, errors.Unreachable | errors.ConfigInvalid)
        message = f"{type(exc).__name__}: {exc.message}"
        Cluster.objects.filter(pk=cluster.pk).update(
            reachable=reachable, last_error=message[:2000], last_error_at=now, last_checked_at=now
        )
        log.warning("collection of %s failed: %s", cluster.name, message)
        return CollectResult(False, message)
    if cluster.prometheus_url:
        try:
            _samples_from_prometheus(cluster, result, now)
        except PrometheusError as exc:
            result.warnings.append(f"Prometheus: {exc}")
            result.container_samples, result.node_samples = [], []
    _store(cluster, result, now)
    return CollectResult(
        True,
        "; ".join(result.warnings) or "ok",
        len(result.pods),
        len(result.container_samples),
        len(result.events),
    )


def _samples_from_prometheus(cluster: Cluster, c: collector.Collection, now) -> None:
    """With a Prometheus URL, samples come from its history (query_range) instead of the
    metrics API. The history reaches PROMETHEUS_BACKFILL_DAYS back; each cycle reads one
    bounded slice of it (PROMETHEUS_SLICE_POINTS steps) and moves history_until on, so a long
    backfill takes several cycles, each committed, instead of one that never finishes.
    Timestamps already stored (e.g. from the metrics API) are not written again."""
    step = float(cluster.collect_interval_seconds)
    start = cluster.history_until
    if start is None:  # first time: from where Prometheus's history begins, at most N days
        oldest = now - timedelta(days=settings.PROMETHEUS_BACKFILL_DAYS)
        start = max(oldest, promql.earliest(cluster.prometheus_url, oldest, now) or now)
        start -= timedelta(seconds=step)
    end = min(now, start + timedelta(seconds=step * settings.PROMETHEUS_SLICE_POINTS))
    c.container_samples, c.node_samples = [], []
    if end - start < timedelta(seconds=step):
        return
    rows, nodes = promql.history(cluster.prometheus_url, start + timedelta(seconds=1), end, step)
    seen = set(
        ContainerSample.objects.filter(cluster=cluster, ts__gt=start, ts__lte=end)
        .values_list("ts", flat=True)
        .distinct()
    )
    rows["containers"] = {k: v for k, v in rows["containers"].items() if k[3] not in seen}
    nodes = {k: v for k, v in nodes.items() if k[1] not in seen}
    info = rows["info"]
    c.container_samples = [
        ContainerSample(
            cluster=cluster,
            ts=ts,
            namespace=ns,
            pod=pod,
            container=container,
            workload=promql.workload_of(info.get((ns, pod), {})),
            node=info.get((ns, pod), {}).get("node", ""),
            cpu_m=v.get("cpu_m"),
            memory=int(v["memory"]),
            request_cpu_m=_int(v.get("request_cpu")),
            limit_cpu_m=_int(v.get("limit_cpu")),
            request_memory=_int(v.get("request_memory")),
            limit_memory=_int(v.get("limit_memory")),
            restarts=int(v.get("restarts", 0)),
            ready=bool(v.get("ready")),
            state="running",
            oom_killed=bool(v.get("oom")),
        )
        for (ns, pod, container, ts), v in rows["containers"].items()
        if "memory" in v
    ]
    c.node_samples = [
        NodeSample(
            cluster=cluster,
            ts=ts,
            node=node,
            cpu_m=v.get("cpu_m"),
            memory=_int(v.get("memory")),
            ready=bool(v.get("ready")),
            allocatable_cpu_m=_int(v.get("allocatable_cpu")) or 0,
            allocatable_memory=_int(v.get("allocatable_memory")) or 0,
        )
        for (node, ts), v in nodes.items()
    ]
    c.history_until = end


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@transaction.atomic
def _store(cluster: Cluster, c: collector.Collection, now) -> None:
    _upsert(Node, c.nodes, ["cluster", "name"], cluster, "name")
    _upsert(
        Workload,
        c.workloads,
        ["cluster", "namespace", "kind", "name"],
        cluster,
        "namespace",
        "kind",
        "name",
    )
    _upsert(Pod, c.pods, ["cluster", "namespace", "name"], cluster, "namespace", "name")
    ContainerSample.objects.bulk_create(c.container_samples, batch_size=2000)
    NodeSample.objects.bulk_create(c.node_samples, batch_size=2000)
    ClusterEvent.objects.bulk_create(
        c.events,
        batch_size=1000,
        update_conflicts=True,
        unique_fields=["cluster", "uid"],
        update_fields=["count", "last_seen", "message", "type"],
    )
    Cluster.objects.filter(pk=cluster.pk).update(
        reachable=True,
        server_version=c.version,
        node_count=len(c.nodes),
        pod_count=len(c.pods),
        last_checked_at=now,
        last_collected_at=now,
        last_cluster_time=c.ts,
        metrics_available=not c.warnings,
        collect_warnings={"count": len(c.skipped), "first": c.skipped[: collector.MAX_SKIPPED]},
        last_error="; ".join(c.warnings),
        last_error_at=now if c.warnings else None,
        **({"history_until": c.history_until} if c.history_until else {}),
    )


def _upsert(model, rows: list, unique: list[str], cluster: Cluster, *key_fields: str) -> None:
    """Insert or update the current rows, then drop the ones the cluster no longer has."""
    update = [
        f.name for f in model._meta.concrete_fields if not f.primary_key and f.name not in unique
    ]
    model.objects.bulk_create(
        rows, batch_size=1000, update_conflicts=True, unique_fields=unique, update_fields=update
    )
    keep = {tuple(getattr(r, k) for k in key_fields) for r in rows}
    stale = [
        pk
        for pk, *key in model.objects.filter(cluster=cluster).values_list("pk", *key_fields)
        if tuple(key) not in keep
    ]
    for start in range(0, len(stale), 500):
        model.objects.filter(pk__in=stale[start : start + 500]).delete()


def samples_prune(*, now=None) -> int:
    """Drop samples and events older than SAMPLE_RETENTION_DAYS (default 14)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SAMPLE_RETENTION_DAYS)
    deleted = 0
    for model, field in ((ContainerSample, "ts"), (NodeSample, "ts"), (ClusterEvent, "last_seen")):
        while True:  # in batches: a big delete must not hold locks for minutes
            pks = list(
                model.objects.filter(**{f"{field}__lt": cutoff}).values_list("pk", flat=True)[:5000]
            )
            if not pks:
                break
            deleted += model.objects.filter(pk__in=pks).delete()[0]
    return deleted
