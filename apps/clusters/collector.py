"""One collection cycle: read a cluster through the gateway and turn it into rows.

`collect()` only reads and builds unsaved model instances; services.cluster_collect writes
them in bulk in one transaction. Every gateway failure is typed and handled by the caller.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from .gateway import Gateway, errors
from .gateway.types import ContainerUsage, Pod
from .limits import MAX_COUNT, MAX_CPU_M, MAX_MEMORY, out_of_range
from .models import Cluster, ClusterEvent, ContainerSample, NodeSample
from .models import Node as NodeRow
from .models import Pod as PodRow
from .models import Workload as WorkloadRow


@dataclass
class Collection:
    ts: datetime
    version: str
    nodes: list[NodeRow] = field(default_factory=list)
    workloads: list[WorkloadRow] = field(default_factory=list)
    pods: list[PodRow] = field(default_factory=list)
    container_samples: list[ContainerSample] = field(default_factory=list)
    node_samples: list[NodeSample] = field(default_factory=list)
    events: list[ClusterEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # partial failures (e.g. no metrics)
    # Objects the cluster reported that could not be stored as they were: skipped, or with a
    # value stored as unknown (or a count clamped). Shown on the cluster page.
    skipped: list[str] = field(default_factory=list)
    history_until: datetime | None = None  # set when samples came from Prometheus


MAX_SKIPPED = 50  # named on the cluster page; the rest are counted


def _fit(out: Collection, where: str, name: str, value, hi: float):
    """The value, or None (unknown) with a note when no machine could report it."""
    if out_of_range(value, hi):
        shown = f"{value!r}"[:40]
        out.skipped.append(f"{where}: {name} {shown} is out of range; stored as unknown")
        return None
    return value


def _count(out: Collection, where: str, name: str, value: int) -> int:
    if not out_of_range(value, MAX_COUNT):
        return value
    shown = f"{value!r}"[:40]
    out.skipped.append(f"{where}: {name} {shown} is out of range; stored clamped")
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return MAX_COUNT if value > MAX_COUNT else 0  # compared as numbers: no float of a huge int


def _workload_of(pod: Pod, rs_owner: dict[tuple[str, str], str]) -> str:
    if pod.owner is None:
        return ""
    if pod.owner.kind == "ReplicaSet":
        return rs_owner.get((pod.namespace, pod.owner.name), pod.owner.name)
    return pod.owner.name


def collect(cluster: Cluster, gw: Gateway, *, events_since: datetime | None) -> Collection:
    version = gw.version()
    ts = version.server_time or timezone.now()  # the cluster's clock stamps its samples
    out = Collection(ts=ts, version=version.git_version)
    # Pods before nodes: on a cluster a node turns NotReady before the node controller marks
    # its pods, so a change landing between the two reads shows a lost node with pods not yet
    # marked (blamed on the node), never pods down on a node that still looks Ready.
    pods = gw.pods()
    nodes = gw.nodes()
    deployments = gw.deployments()
    replica_sets = gw.replica_sets()
    rs_owner = {
        (rs.namespace, rs.name): rs.owner.name
        for rs in replica_sets
        if rs.owner and rs.owner.kind == "Deployment"
    }
    rollout_at = {}
    for rs in replica_sets:
        if rs.owner and rs.owner.kind == "Deployment" and rs.created:
            key = (rs.namespace, rs.owner.name)
            rollout_at[key] = max(rollout_at.get(key, rs.created), rs.created)
    # Usage is optional: a cluster without a working metrics-server (404, 403, or a 503 from
    # a registered but broken one) is degraded, and its inventory is still collected.
    try:
        usage = gw.pod_usage()
    except errors.GatewayError as exc:
        usage = []
        out.warnings.append(f"pod metrics unavailable ({exc.message}): usage not collected")
    try:
        node_usage = {u.name: u for u in gw.node_usage()}
    except errors.GatewayError as exc:
        node_usage = {}
        out.warnings.append(f"node metrics unavailable ({exc.message})")
    by_container: dict[tuple[str, str, str], ContainerUsage] = {
        (u.namespace, u.pod, u.container): u for u in usage
    }
    _nodes(cluster, out, nodes, node_usage)
    _workloads(cluster, out, deployments, rollout_at)
    _pods(cluster, out, pods, rs_owner, by_container)
    for e in gw.events(since=events_since):
        out.events.append(
            ClusterEvent(
                cluster=cluster,
                uid=e.uid or f"{e.namespace}/{e.name}",
                namespace=e.namespace,
                type=e.type,
                reason=e.reason[:120],
                message=e.message,
                count=_count(out, f"event {e.namespace}/{e.name}", "count", e.count),
                object_kind=e.object_kind,
                object_name=e.object_name,
                object_namespace=e.object_namespace,
                first_seen=e.first_seen,
                last_seen=e.last_seen,
            )
        )
    out.skipped[:0] = gw.skipped_drain()
    _fit_text(out)
    _fit_json(out)
    return out


def _fit_json(out: Collection) -> None:
    """JSON columns (labels, conditions, containers) hold no Infinity or NaN: a database's JSON
    refuses them. Such a value is stored as null, with a note."""
    for rows in (out.nodes, out.workloads, out.pods, out.events):
        if not rows:
            continue
        fields = [
            f.attname for f in rows[0]._meta.concrete_fields if f.get_internal_type() == "JSONField"
        ]
        for row in rows:
            for name in fields:
                value = getattr(row, name)
                try:
                    json.dumps(value, allow_nan=False)
                except (ValueError, TypeError):
                    setattr(row, name, _finite(value))
                    out.skipped.append(
                        f"{type(row).__name__} {getattr(row, 'name', '')}: {name} held a value "
                        "JSON cannot store (Infinity or NaN); stored as null there"
                    )


def _finite(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    if isinstance(o, dict):
        return {str(k): _finite(v) for k, v in o.items()}
    if o is None or isinstance(o, str | int | float | bool):
        return o
    return str(o)


def _fit_text(out: Collection) -> None:
    """Strings longer than their column (a reason, an image, a name past Kubernetes' own
    limits) are cut to fit, with a note, instead of failing the cycle's insert."""
    for rows in (out.nodes, out.workloads, out.pods, out.container_samples, out.events):
        if not rows:
            continue
        fields = [
            (f.attname, f.max_length)
            for f in rows[0]._meta.concrete_fields
            if f.max_length and f.get_internal_type() == "CharField"
        ]
        for row in rows:
            for name, limit in fields:
                value = getattr(row, name)
                if value is not None and not isinstance(value, str):
                    value = str(value)  # a number where text belongs
                    setattr(row, name, value)
                if isinstance(value, str) and len(value) > limit:
                    setattr(row, name, value[:limit])
                    out.skipped.append(
                        f"{type(row).__name__} {value[:60]!r}…: {name} longer than "
                        f"{limit} characters; stored cut"
                    )


def _nodes(cluster, out: Collection, nodes, node_usage) -> None:
    for n in nodes:
        pressure = n.pressure()
        where = f"node {n.name}"
        cpu = _fit(out, where, "allocatable cpu (millicores)", n.allocatable_cpu_m, MAX_CPU_M)
        mem = _fit(out, where, "allocatable memory (bytes)", n.allocatable_memory, MAX_MEMORY)
        u = node_usage.get(n.name)
        used_cpu = _fit(out, where, "cpu usage (millicores)", u.cpu_m, MAX_CPU_M) if u else None
        used_mem = _fit(out, where, "memory usage (bytes)", u.memory, MAX_MEMORY) if u else None
        out.nodes.append(
            NodeRow(
                cluster=cluster,
                name=n.name,
                ready=n.ready,
                unschedulable=n.unschedulable,
                pressure=pressure,
                taints=[{"key": t.key, "effect": t.effect} for t in n.taints],
                labels=n.labels,
                allocatable_cpu_m=cpu or 0,
                allocatable_memory=mem or 0,
                kubelet_version=n.kubelet_version,
                updated_at=out.ts,
            )
        )
        out.node_samples.append(
            NodeSample(
                cluster=cluster,
                ts=out.ts,
                node=n.name,
                cpu_m=used_cpu,
                memory=used_mem,
                allocatable_cpu_m=cpu or 0,
                allocatable_memory=mem or 0,
                ready=n.ready,
                memory_pressure="MemoryPressure" in pressure,
                disk_pressure="DiskPressure" in pressure,
                pid_pressure="PIDPressure" in pressure,
                unschedulable=n.unschedulable,
            )
        )


USER_FACING = ("zerotouch.dev/user-facing", "sandbox.zerotouch.dev/user-facing")


def _user_facing(annotations: dict) -> bool:
    return any(str(annotations.get(k, "")).lower() == "true" for k in USER_FACING)


def _workloads(cluster, out: Collection, deployments, rollout_at) -> None:
    for d in deployments:
        where = f"deployment {d.namespace}/{d.name}"
        counts = {
            name: _count(out, where, name, getattr(d, name))
            for name in (
                "replicas",
                "ready_replicas",
                "available_replicas",
                "updated_replicas",
                "revision",
            )
        }
        out.workloads.append(
            WorkloadRow(
                cluster=cluster,
                namespace=d.namespace,
                kind="Deployment",
                name=d.name,
                **counts,
                conditions=[
                    {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
                    for c in d.conditions
                ],
                last_rollout_at=rollout_at.get((d.namespace, d.name)),
                user_facing=_user_facing(d.annotations),
                updated_at=out.ts,
            )
        )


def _pods(cluster, out: Collection, pods, rs_owner, by_container) -> None:
    for p in pods:
        workload = _workload_of(p, rs_owner)
        where = f"pod {p.namespace}/{p.name}"
        reason = (
            "Terminating"
            if p.terminating
            # as kubectl's STATUS column
            else (
                next(
                    (
                        c.waiting_reason
                        for c in p.containers
                        if c.waiting_reason and c.waiting_reason != "ContainerCreating"
                    ),
                    "",
                )
                or p.reason
            )
        )
        out.pods.append(
            PodRow(
                cluster=cluster,
                namespace=p.namespace,
                name=p.name,
                uid=p.uid,
                workload=workload,
                node=p.node,
                phase=p.phase,
                ready=p.ready,
                restarts=_count(out, where, "restarts", p.restarts),
                reason=reason,
                containers=[
                    {
                        "name": c.name,
                        "image": c.image,
                        "ready": c.ready,
                        "restarts": c.restarts,
                        "state": c.state,
                        "waiting_reason": c.waiting_reason,
                        "last_terminated_reason": c.last_terminated_reason,
                    }
                    for c in p.containers
                ],
                created=p.created,
                updated_at=out.ts,
            )
        )
        # A pod being deleted is no longer its workload's: its replacement is sampled, and
        # costs and predictions count neither twice nor a lost node's stranded pod as down.
        for c in () if p.terminating else p.containers:
            u = by_container.get((p.namespace, p.name, c.name))
            at = f"{where} container {c.name}"
            out.container_samples.append(
                ContainerSample(
                    cluster=cluster,
                    ts=out.ts,
                    namespace=p.namespace,
                    workload=workload,
                    pod=p.name,
                    container=c.name,
                    node=p.node,
                    cpu_m=_fit(out, at, "cpu usage", u.cpu_m, MAX_CPU_M) if u else None,
                    memory=_fit(out, at, "memory usage", u.memory, MAX_MEMORY) if u else None,
                    request_cpu_m=_fit(out, at, "requests.cpu", c.request_cpu_m, MAX_CPU_M),
                    limit_cpu_m=_fit(out, at, "limits.cpu", c.limit_cpu_m, MAX_CPU_M),
                    request_memory=_fit(out, at, "requests.memory", c.request_memory, MAX_MEMORY),
                    limit_memory=_fit(out, at, "limits.memory", c.limit_memory, MAX_MEMORY),
                    restarts=_count(out, at, "restarts", c.restarts),
                    ready=c.ready,
                    state=c.state,
                    waiting_reason=c.waiting_reason,
                    last_terminated_reason=c.last_terminated_reason,
                    oom_killed=c.oom_killed,
                )
            )
