"""Reads: each Deployment container's usage history as `rightsizing.ContainerUsage`.

One `values_list` query over ContainerSample, then pandas/numpy: the rows become columns once
and each (namespace, workload, container) is a slice of them. Only the few events (OOM kills,
restarts, new pods) are turned into Python objects one by one. Bare pods (no workload) and pods
of Jobs (no Deployment `Workload` row) are left out: a Job's pods come and go and are sized by
the Job's own requests. HPAs are read live from the cluster; when it cannot be reached the plan
goes on without them and says so in `notes`.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster, ContainerSample, Workload

from . import hours, rollups
from .rightsizing import ContainerUsage, Hpa, Resources

HISTORY = timedelta(days=14)
FIELDS = (
    "ts",
    "namespace",
    "workload",
    "pod",
    "container",
    "cpu_m",
    "memory",
    "request_cpu_m",
    "limit_cpu_m",
    "request_memory",
    "limit_memory",
    "restarts",
    "oom_killed",
)
KEY = ["namespace", "workload", "container"]
EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True)
class HpaInfo:
    name: str
    hpa: Hpa
    metrics: tuple[dict, ...] = ()  # its spec.metrics, for a patch that keeps the others


@dataclass
class Usage:
    containers: list[ContainerUsage]
    since: datetime | None = None
    until: datetime | None = None
    hpas: dict[tuple[str, str], HpaInfo] = field(default_factory=dict)  # (namespace, workload)
    notes: list[str] = field(default_factory=list)


def container_usage(
    cluster: Cluster, *, since: datetime | None = None, namespace: str = ""
) -> list[ContainerUsage]:
    return usage_read(cluster, since=since, namespace=namespace).containers


def usage_read(cluster: Cluster, *, since: datetime | None = None, namespace: str = "") -> Usage:
    """The usage of every Deployment container of `cluster` from `since` (default: 14 days
    before its last collection) to its last collection, with live HPAs and notes."""
    until = cluster.last_cluster_time
    if until is None:
        return Usage([], notes=[f"cluster {cluster.name} has not been collected yet"])
    since = since or until - HISTORY
    cut = rollups.boundary(cluster, since, until)  # rollups before it, raw samples from it
    known = _deployments(cluster, namespace)
    start = max(since, cut - hours.lookback(cluster)) if cut else since
    df = _frame(cluster, start, until, known, namespace)
    rolled = {}
    if cut is not None:
        rolled = rollups.read(cluster, since, cut, pods=False, namespace=namespace)
        rolled = {k: r for k, r in rolled.items() if k[:2] in known}
    if df.empty and not rolled:
        return Usage([], since, until)
    hpas, notes = _hpas(cluster)
    containers = _containers(df, {k: h.hpa for k, h in hpas.items()}, rolled, cut)
    return Usage(containers, since, until, hpas, notes)


def _deployments(cluster: Cluster, namespace: str) -> set[tuple[str, str]]:
    deployments = Workload.objects.filter(cluster=cluster, kind="Deployment")
    if namespace:
        deployments = deployments.filter(namespace=namespace)
    return set(deployments.values_list("namespace", "name"))


def _frame(
    cluster: Cluster, since: datetime, until: datetime, known: set, namespace: str
) -> pd.DataFrame:
    qs = ContainerSample.objects.filter(cluster=cluster, ts__gt=since, ts__lte=until).exclude(
        workload=""
    )
    if namespace:
        qs = qs.filter(namespace=namespace)
    df = hours.frame(qs, FIELDS)
    if df.empty:
        return df
    index = pd.MultiIndex.from_tuples(sorted(known) or [("", "")])
    df = df[pd.MultiIndex.from_frame(df[["namespace", "workload"]]).isin(index)]
    df = df.sort_values(["ts", "pod"], kind="stable").reset_index(drop=True)
    for col in ("cpu_m", "memory"):
        df[col] = df[col].astype(float)  # None -> NaN: a gap rightsizing drops
    return df


def _containers(
    df: pd.DataFrame, hpas: dict[tuple[str, str], Hpa], rolled: dict, cut: datetime | None
) -> list[ContainerUsage]:
    """Raw samples as arrays, joined by each key's rollups (before `cut`) when there are any:
    the newest samples say what the container requests now and how many replicas run."""
    ooms, starts = rollups.container_events(df) if not df.empty else ({}, {})
    if cut is not None and not df.empty:  # the look-back before the cut only showed events
        cut_s = (pd.Timestamp(cut) - EPOCH).total_seconds()
        # Starts in the look-back stay: they still mask start-up samples after the cut (they
        # are counted in the rollups, and rightsizing counts only those within the arrays).
        ooms = {k: [o for o in v if o.at >= cut_s] for k, v in ooms.items()}
        df = df[df["ts_s"] >= cut_s].reset_index(drop=True)
    out = []
    if not df.empty:
        latest = df.drop_duplicates(KEY, keep="last").set_index(KEY)
        last_ts = df.groupby(["namespace", "workload"])["ts"].transform("max")
        replicas = df[df["ts"] == last_ts].groupby(KEY)["pod"].nunique()
        ts, cpu, mem = (df[c].to_numpy() for c in ("ts_s", "cpu_m", "memory"))
        for key, idx in df.groupby(KEY, sort=True).indices.items():
            ns, workload, container = key
            now, r = latest.loc[key], rolled.get(key)
            out.append(
                ContainerUsage(
                    namespace=ns,
                    workload=workload,
                    container=container,
                    timestamps=ts[idx],
                    cpu_millis=cpu[idx],
                    memory_bytes=mem[idx],
                    current=_resources(now),
                    replicas=int(replicas.get(key, 1)),
                    oom_kills=[*(r.ooms if r else ()), *ooms.get(key, ())],
                    starts=starts.get(key, ()),
                    hpa=hpas.get((ns, workload)),
                    history=r.history if r else None,
                )
            )
    seen = {(c.namespace, c.workload, c.container) for c in out}
    empty = np.zeros(0)
    for key in sorted(set(rolled) - seen):  # no samples since the cut: as last rolled up
        r = rolled[key]
        out.append(
            ContainerUsage(
                namespace=key[0],
                workload=key[1],
                container=key[2],
                timestamps=empty,
                cpu_millis=empty,
                memory_bytes=empty,
                current=_resources(r.latest),
                replicas=max(1, r.latest["pods_at_last"]),
                oom_kills=r.ooms,
                hpa=hpas.get(key[:2]),
                history=r.history,
            )
        )
    return sorted(out, key=lambda c: (c.namespace, c.workload, c.container))


def _resources(now) -> Resources:
    return Resources(
        _int(now["request_cpu_m"]),
        _int(now["limit_cpu_m"]),
        _int(now["request_memory"]),
        _int(now["limit_memory"]),
    )


def _int(value) -> int | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)


def _hpas(cluster: Cluster) -> tuple[dict[tuple[str, str], HpaInfo], list[str]]:
    """CPU-utilization HPAs on Deployments, read live; on a gateway error none, and a note."""
    try:
        gw = gateway_for(cluster)
    except gw_errors.GatewayError as exc:
        return {}, [_unreachable(cluster, exc)]
    try:
        found = gw.hpas()
    except gw_errors.GatewayError as exc:
        return {}, [_unreachable(cluster, exc)]
    finally:
        gw.close()
    return {
        (h.namespace, h.target_name): HpaInfo(
            h.name, Hpa(h.min_replicas, h.max_replicas, h.target_cpu_utilization), h.metrics
        )
        for h in found
        if h.target_kind == "Deployment" and h.target_cpu_utilization
    }, []


def _unreachable(cluster: Cluster, exc: gw_errors.GatewayError) -> str:
    # The class, not the message: a message may carry a kubeconfig path.
    return (
        f"HPAs of {cluster.name} could not be read ({type(exc).__name__}): "
        "workloads with an HPA are planned as if they had none, with no new CPU target"
    )
