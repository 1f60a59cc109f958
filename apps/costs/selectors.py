"""Reads: the price sheet of each cluster, as the pure sheets that cost math takes, and the
cost allocation of a cluster over a time range."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db.models import Prefetch, Sum

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster, ContainerSample, Node, NodeSample, Pod, Workload

from . import allocation, billing, forecast, histogram, hours, prices, rollups, waste
from .hours import HOUR
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


# --- Allocation -------------------------------------------------------------------------------


def allocation_bucket(since: datetime, until: datetime) -> timedelta:
    """The series' bucket for a range: 5 minutes up to 3 hours (read raw), else an hour."""
    return timedelta(minutes=5) if until - since <= timedelta(hours=3) else HOUR


def allocation_for(
    cluster: Cluster,
    *,
    since: datetime,
    until: datetime,
    idle: str = "none",
    bucket: timedelta = timedelta(hours=1),
) -> allocation.Allocation:
    """Cost by container, pod, workload and namespace from `since` to `until` (inclusive), at
    the cluster's prices per node (spot or on-demand by its labels). Whole hours already
    rolled up are read from the cost rollups when the buckets are whole hours; the rest, and
    every range without rollups, from the samples."""
    sheet = prices_for_cluster(cluster)
    labels = dict(Node.objects.filter(cluster_id=cluster.pk).values_list("name", "labels"))
    node_prices = {name: prices.price_for_node(lbl or {}, sheet) for name, lbl in labels.items()}
    bills, rolled = billing.allocation_read(cluster, since, until, bucket)
    a = allocation.combine(
        bills,
        node_prices,
        default=sheet.default.prices,
        idle=idle,
        bucket=bucket,
        since=since,
        until=until,
    )
    if rolled is None:
        return a
    first, end = allocation.when_ns(rolled.first), allocation.when_ns(rolled.end)
    return replace(a, notes=(*a.notes, f"{first} to {end} read from the hourly cost rollups"))


def allocation_samples_estimate(cluster: Cluster, since: datetime, until: datetime) -> int:
    """About how many container samples a read of [since, until] (in `allocation_bucket`s)
    takes: the containers of the latest collection times the collections in the part of the
    range that is not rolled up (one indexed count)."""
    if cluster.last_cluster_time is None:
        return 0
    raw = until - since
    hourly = allocation_bucket(since, until) == HOUR
    if hourly and (span := billing.rolled_span(cluster, since, until)):
        # The part before the rollups counts from the oldest sample (pruned hours hold none).
        oldest = ContainerSample.objects.filter(cluster_id=cluster.pk).order_by("ts").first()
        head = span[0] - max(since, oldest.ts) if oldest else timedelta(0)
        raw = max(head, timedelta(0)) + (until - span[1])
    # The last interval's samples (not those stamped at the cluster's clock: Prometheus
    # samples sit on its step times, and a collection without metrics stores none).
    interval = timedelta(seconds=max(1, cluster.collect_interval_seconds))
    newest = ContainerSample.objects.filter(cluster_id=cluster.pk).order_by("-ts").first()
    if newest is None:
        return 0
    per = ContainerSample.objects.filter(
        cluster_id=cluster.pk, ts__gt=newest.ts - interval, ts__lte=newest.ts
    ).count()
    return int(per * raw / interval)


def node_price_rows(cluster: Cluster) -> tuple[prices.PriceSheet, dict[str, prices.PriceRow]]:
    """The cluster's sheet and the row each of its current nodes is priced by."""
    sheet = prices_for_cluster(cluster)
    labels = Node.objects.filter(cluster_id=cluster.pk).values_list("name", "labels")
    return sheet, {name: prices.row_for_node(lbl or {}, sheet) for name, lbl in labels}


# --- Waste and the capacity forecast: the inputs of the pure `waste.find_waste` and
# `forecast.forecast`, read from the stored samples (and, for claims, live from the cluster).

# A week: an idle workload is judged on at least a day of samples (waste.MIN_WINDOW_HOURS),
# which a one-day window could never hold (its samples span a collection interval less).
WASTE_WINDOW = timedelta(days=7)
FORECAST_HISTORY = timedelta(days=28)  # two weeks of points give weekly seasonality
WASTE_FIELDS = (
    "ts",
    "namespace",
    "workload",
    "pod",
    "node",
    "cpu_m",
    "memory",
    "request_cpu_m",
    "request_memory",
)


@dataclass(frozen=True)
class WasteReport:
    findings: list  # list[waste.Finding], most expensive first
    total: float  # $ a month
    covered_hours: float  # how much of the window the samples cover
    window: timedelta
    notes: list[str]  # what could not be judged, and why
    prices: prices.Prices


def waste_for(cluster: Cluster, *, window: timedelta = WASTE_WINDOW) -> list:
    """Waste findings of `cluster` over the `window` before its last collection."""
    return waste_report(cluster, window=window).findings


def waste_report(cluster: Cluster, *, window: timedelta = WASTE_WINDOW) -> WasteReport:
    """The findings with their total and notes on what could not be judged."""
    sheet = prices_for_cluster(cluster)
    price, notes = sheet.default.prices, []
    node_prices = _node_prices(cluster, sheet)
    until = cluster.last_cluster_time
    if until is None:
        notes.append(f"cluster {cluster.name} has not been collected yet: nothing to judge")
        return WasteReport([], 0.0, 0.0, window, notes, price)
    samples, rolled = _waste_read(cluster, until - window, until)
    covered = _covered_hours(samples, rolled)
    if covered < waste.MIN_WINDOW_HOURS:
        notes.append(
            f"idle workloads need {waste.MIN_WINDOW_HOURS:g} h of samples; "
            f"this cluster has {covered:.3g} h"
        )
    pvcs, pvc_notes = _waste_pvcs(cluster)
    findings = waste.find_waste(
        workloads=_waste_workloads(cluster, samples, node_prices, rolled),
        pvcs=pvcs,
        nodes=_waste_nodes(cluster, samples, node_prices),
        prices=price,
    )
    total = waste.cents(sum(f.monthly_cost for f in findings))
    return WasteReport(findings, total, covered, window, notes + pvc_notes, price)


def idle_for(
    cluster: Cluster, *, namespace: str = "", window: timedelta = WASTE_WINDOW
) -> list[tuple["waste.WorkloadUsage", "waste.Finding"]]:
    """The idle workloads of `cluster` (or one namespace) with their usage: what the cost plan
    proposes to scale to zero. The same rule as the waste report's."""
    until = cluster.last_cluster_time
    if until is None:
        return []
    sheet = prices_for_cluster(cluster)
    samples, rolled = _waste_read(cluster, until - window, until, namespace=namespace)
    out = []
    for w in _waste_workloads(cluster, samples, _node_prices(cluster, sheet), rolled):
        if namespace and w.namespace != namespace:
            continue
        for finding in waste.idle_workloads([w], sheet.default.prices):
            out.append((w, finding))
    return out


def _node_prices(cluster: Cluster, sheet) -> dict:
    labels = Node.objects.filter(cluster_id=cluster.pk).values_list("name", "labels")
    return {name: prices.price_for_node(lbl or {}, sheet) for name, lbl in labels}


def _waste_read(
    cluster: Cluster, since: datetime, until: datetime, *, namespace: str = ""
) -> tuple[pd.DataFrame, dict]:
    """Raw samples of the window, or, when hours of it are rolled up, their whole-pod rollups
    (per workload) and the raw samples after them."""
    cut = rollups.boundary(cluster, since, until)
    if cut is None:
        return _waste_samples(cluster, since, until, namespace=namespace), {}
    rolled = rollups.read(cluster, since, cut, pods=True, namespace=namespace)
    return _waste_samples(cluster, cut, until, namespace=namespace, from_incl=True), rolled


def _waste_samples(
    cluster: Cluster,
    since: datetime,
    until: datetime,
    *,
    namespace: str = "",
    from_incl: bool = False,
) -> pd.DataFrame:
    after = {"ts__gte" if from_incl else "ts__gt": since}
    qs = ContainerSample.objects.filter(cluster_id=cluster.pk, ts__lte=until, **after)
    if namespace:
        qs = qs.filter(namespace=namespace)
    df = hours.frame(qs, WASTE_FIELDS)
    for col in ("cpu_m", "memory", "request_cpu_m", "request_memory"):
        df[col] = df[col].astype(float)
    return df


def _covered_hours(df: pd.DataFrame, rolled: dict) -> float:
    firsts = [r.history.first for r in rolled.values()]
    lasts = [r.history.last for r in rolled.values()]
    if not df.empty:
        firsts.append(df["ts"].min().timestamp())
        lasts.append(df["ts"].max().timestamp())
    return (max(lasts) - min(firsts)) / 3600 if firsts else 0.0


def _per_pod(df: pd.DataFrame) -> pd.DataFrame:
    """One row per pod and collection: usage and requests summed over its containers."""
    cols = ["cpu_m", "memory", "request_cpu_m", "request_memory"]
    keys = ["ts", "namespace", "workload", "pod", "node"]
    return df.groupby(keys, sort=False)[cols].sum(min_count=1).reset_index()


def _waste_workloads(
    cluster: Cluster, df: pd.DataFrame, node_prices: dict, rolled: dict | None = None
) -> list:
    """Every stored workload, usage per replica over the window; those at 0 replicas too
    (their claims), those with replicas but no samples are left out (nothing to judge). Each
    is priced at the node most of its samples ran on (spot or on-demand by its labels).
    `rolled`: whole-pod rollups before the raw samples, per (namespace, workload)."""
    rolled = rolled or {}
    pods = _per_pod(df[df["workload"] != ""]) if not df.empty else df
    # Row positions per workload, sliced only when needed: 2,000 sub-frames would cost seconds.
    idx = pods.groupby(["namespace", "workload"], sort=False).indices if not pods.empty else {}
    tail = _tail_arrays(pods) if rolled and not pods.empty else {}
    out = []
    for w in Workload.objects.filter(cluster_id=cluster.pk).order_by("namespace", "name"):
        i = idx.get((w.namespace, w.name))
        if (r := rolled.get((w.namespace, w.name))) is not None:
            t = None if i is None else {k: v[i] for k, v in tail.items()}
            out.append(_rolled_usage(w, t, r, node_prices))
            continue
        g = None if i is None else pods.iloc[i]
        if g is None:
            if w.replicas == 0:
                out.append(waste.WorkloadUsage(w.namespace, w.name, 0, 0, 0, 0, 0, 0, 0, 0, w.kind))
            continue
        latest = g[g["ts"] == g["ts"].max()]
        cpu, mem = g["cpu_m"].dropna(), g["memory"].dropna()
        out.append(
            waste.WorkloadUsage(
                w.namespace,
                w.name,
                w.replicas,
                request_cpu_m=float(latest["request_cpu_m"].fillna(0).mean()),
                request_memory=int(latest["request_memory"].fillna(0).mean()),
                cpu_p95_m=float(cpu.quantile(0.95)) if len(cpu) else 0.0,
                cpu_mean_m=float(cpu.mean()) if len(cpu) else 0.0,
                memory_p95=int(mem.quantile(0.95)) if len(mem) else 0,
                memory_mean=int(mem.mean()) if len(mem) else 0,
                window_hours=(g["ts"].max() - g["ts"].min()).total_seconds() / 3600,
                kind=w.kind,
                prices=_usual_node_prices(g, node_prices),
            )
        )
    return out


def _tail_arrays(pods: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "ts": (pods["ts"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(),
        "cpu": pods["cpu_m"].to_numpy(dtype=float),
        "memory": pods["memory"].to_numpy(dtype=float),
        "request_cpu_m": pods["request_cpu_m"].to_numpy(dtype=float),
        "request_memory": pods["request_memory"].to_numpy(dtype=float),
        "node": pods["node"].to_numpy(dtype=object),
    }


def _rolled_usage(w: Workload, t: dict | None, r, node_prices: dict):
    """A workload's usage from its whole-pod rollups and the raw samples after them (`t`,
    its per-pod rows as arrays): p95s from the merged histograms (at most 1% generous), means
    and the window exact."""
    h = r.history
    cpu = t["cpu"][np.isfinite(t["cpu"])] if t is not None else np.zeros(0)
    mem = t["memory"][np.isfinite(t["memory"])] if t is not None else np.zeros(0)
    cpu_hist = histogram.add(h.cpu_steady, histogram.counts(cpu, histogram.CPU_FLOOR))
    mem_hist = histogram.add(h.memory, histogram.counts(mem, histogram.MEMORY_FLOOR))
    cpu_max = max(h.cpu_max, float(cpu.max()) if cpu.size else 0.0)
    mem_max = max(h.memory_max, float(mem.max()) if mem.size else 0.0)
    first, last = h.first, h.last
    nodes = dict(r.nodes)
    if t is not None:
        latest = t["ts"] == t["ts"].max()
        req_cpu = float(np.nan_to_num(t["request_cpu_m"][latest]).mean())
        req_mem = int(np.nan_to_num(t["request_memory"][latest]).mean())
        first, last = min(first, float(t["ts"].min())), max(last, float(t["ts"].max()))
        for node, count in zip(*np.unique(t["node"], return_counts=True), strict=True):
            if node:
                nodes[node] = nodes.get(node, 0) + int(count)
    else:
        req_cpu = float(r.latest["request_cpu_m"] or 0)
        req_mem = int(r.latest["request_memory"] or 0)
    # The node most samples ran on; on a tie the first by name, as pandas' mode() gives.
    usual = min(nodes.items(), key=lambda kv: (-kv[1], kv[0]))[0] if nodes else None
    return waste.WorkloadUsage(
        w.namespace,
        w.name,
        w.replicas,
        request_cpu_m=req_cpu,
        request_memory=req_mem,
        cpu_p95_m=histogram.quantile(cpu_hist, 0.95, histogram.CPU_FLOOR, cpu_max),
        cpu_mean_m=(h.cpu_sum + float(cpu.sum())) / max(1, h.samples + cpu.size),
        memory_p95=int(histogram.quantile(mem_hist, 0.95, histogram.MEMORY_FLOOR, mem_max)),
        memory_mean=int((h.memory_sum + float(mem.sum())) / max(1, h.samples + mem.size)),
        window_hours=(last - first) / 3600,
        kind=w.kind,
        prices=node_prices.get(usual) if usual else None,
    )


def _usual_node_prices(samples: pd.DataFrame, node_prices: dict):
    """The prices of the node a workload's samples ran on most (None: unknown, the default)."""
    nodes = samples["node"].replace("", pd.NA).dropna()
    return node_prices.get(nodes.mode().iloc[0]) if len(nodes) else None


def _waste_nodes(cluster: Cluster, df: pd.DataFrame, node_prices: dict) -> list:
    """Nodes at the latest collection: allocatable, the pods on them with their requests."""
    samples = _latest_node_samples(cluster).order_by("node")
    if not samples:
        return []
    labels = dict(Node.objects.filter(cluster_id=cluster.pk).values_list("name", "labels"))
    pods = _per_pod(df[df["ts"] == df["ts"].max()]) if not df.empty else df
    by_node: dict[str, list] = {}
    for p in pods.itertuples(index=False) if not pods.empty else ():
        by_node.setdefault(p.node, []).append(
            waste.PodRequest(p.namespace, p.pod, _num(p.request_cpu_m), int(_num(p.request_memory)))
        )
    return [
        waste.NodeInfo(
            s.node,
            s.allocatable_cpu_m,
            s.allocatable_memory,
            tuple(by_node.get(s.node, ())),
            labels.get(s.node) or {},
            node_prices.get(s.node),
        )
        for s in samples
    ]


def _num(value) -> float:
    return 0.0 if value is None or pd.isna(value) else float(value)


def _waste_pvcs(cluster: Cluster) -> tuple[list, list[str]]:
    """Claims read live, with who mounts them and the workload they belong to."""
    try:
        gw = gateway_for(cluster)
        try:
            claims = gw.pvcs()
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        # The class, not the message: a message may carry a kubeconfig path.
        return [], [
            f"claims (PVCs) could not be read ({type(exc).__name__}): unmounted claims and "
            "scaled-to-zero deployments that hold storage are not judged"
        ]
    pod_workload = dict(
        ((ns, name), wl)
        for ns, name, wl in Pod.objects.filter(cluster_id=cluster.pk).values_list(
            "namespace", "name", "workload"
        )
    )
    names = set(Workload.objects.filter(cluster_id=cluster.pk).values_list("namespace", "name"))
    out, notes = [], []
    for c in claims:
        if c.requested_bytes is None:
            notes.append(f"claim {c.namespace}/{c.name} has no readable size: costed at 0")
        out.append(
            waste.PvcInfo(
                c.namespace,
                c.name,
                c.requested_bytes or 0,
                c.storage_class or "(none)",
                c.mounted_by,
                _claim_owner(c, pod_workload, names),
            )
        )
    return out, notes


def _claim_owner(claim, pod_workload: dict, workloads: set) -> str | None:
    """The workload of a pod that mounts the claim, else the workload whose name the claim's
    starts with (`ledger-data` belongs to `ledger`), else None."""
    for pod in claim.mounted_by:
        if pod_workload.get((claim.namespace, pod)):
            return pod_workload[(claim.namespace, pod)]
    ns = claim.namespace
    prefixed = [n for w_ns, n in workloads if w_ns == ns and claim.name.startswith(n + "-")]
    return max(prefixed, key=len) if prefixed else None


def capacity_forecast_for(cluster: Cluster, *, horizon: timedelta = timedelta(days=14)) -> dict:
    """Cluster CPU and memory, usage and requests, projected `horizon` ahead against
    allocatable: hourly means of the per-collection sums over every container."""
    history, capacity = _capacity_history(cluster)
    out = {"history": history, "capacity": capacity, "horizon": horizon}
    for key, series in history.items():
        resource = key.split("_")[0]
        out[key] = forecast.forecast(series, capacity[resource], horizon=horizon)
    return out


def _capacity_history(cluster: Cluster) -> tuple[dict[str, pd.Series], dict[str, float]]:
    until = cluster.last_cluster_time
    scope = {"cluster_id": cluster.pk}
    if until is not None:
        scope |= {"ts__gt": until - FORECAST_HISTORY, "ts__lte": until}
    rows = (
        ContainerSample.objects.filter(**scope)
        .values("ts")
        .annotate(
            cpu_usage=Sum("cpu_m"),
            cpu_requests=Sum("request_cpu_m"),
            memory_usage=Sum("memory"),
            memory_requests=Sum("request_memory"),
        )
        .order_by("ts")
    )
    keys = ("cpu_usage", "cpu_requests", "memory_usage", "memory_requests")
    df = pd.DataFrame.from_records(list(rows), columns=["ts", *keys])
    history = {}
    for key in keys:
        s = pd.Series(df[key].astype(float).to_numpy(), index=pd.DatetimeIndex(df["ts"]))
        history[key] = s.resample("1h").mean().dropna() if len(s) else s
    sums = _latest_node_samples(cluster).aggregate(
        cpu=Sum("allocatable_cpu_m"), memory=Sum("allocatable_memory")
    )
    capacity = {k: float(v or 0) for k, v in sums.items()}
    return history, capacity


def _latest_node_samples(cluster: Cluster):
    """The cluster's nodes at its latest collection (none before the first)."""
    latest = NodeSample.objects.filter(cluster_id=cluster.pk).order_by("-ts").first()
    return NodeSample.objects.filter(cluster_id=cluster.pk, ts=latest.ts if latest else None)
