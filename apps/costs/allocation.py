"""Cost allocation: what each container, pod, workload and namespace cost over a time range, and
what the nodes cost that nobody asked for (idle). Pure; no Django. Dollars as floats, times UTC.

Rules:
- Every collection bills the time until the next one, capped at twice the median interval, so
  a gap in collection is not billed as hours (it is reported). The last collection bills one
  median interval, never past `until`.
- A container is billed max(request, usage) per resource (a missing request or usage counts as
  0) at the prices of the node it runs on. Samples without a node (pending pods) are not billed.
- A node costs its allocatable CPU and memory at its prices. Idle, per node, collection and
  resource, is node cost - allocated cost, never below 0; what is allocated beyond the node's
  cost is reported as over-allocated.
- Idle may be shared across namespaces per bucket of the series: "even" (equal parts among the
  namespaces with cost in that bucket) or "weighted" (by their allocated cost). The shares
  always add up to the idle of the bucket; a bucket with no namespace keeps its idle unshared.
- Efficiency = time-weighted usage / request per resource, over samples with a request; None
  when there is none ("no requests").
- A container without a workload (a bare pod) is its own workload, named after the pod.

Input: two DataFrames (string columns may be categorical, which is faster on big inputs):
containers (ts, namespace, workload, pod, container, node, cpu_m, memory, request_cpu_m,
request_memory) and nodes (ts, node, allocatable_cpu_m, allocatable_memory).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import pandas as pd

from .prices import GiB, Prices

IDLE_MODES = ("none", "even", "weighted")
HOUR_NS = 3_600 * 10**9
CONTAINER_COLUMNS = (
    "ts",
    "namespace",
    "workload",
    "pod",
    "container",
    "node",
    "cpu_m",
    "memory",
    "request_cpu_m",
    "request_memory",
)
NODE_COLUMNS = ("ts", "node", "allocatable_cpu_m", "allocatable_memory")


@dataclass(frozen=True)
class Cost:
    """Cost of one container, pod, workload or namespace over the range, in dollars."""

    level: str  # container | pod | workload | namespace
    namespace: str
    workload: str = ""
    pod: str = ""
    container: str = ""
    cpu: float = 0.0  # allocated: max(request, usage) x price x time
    memory: float = 0.0
    idle: float = 0.0  # the share of idle cost it carries (namespaces, when shared)
    cpu_efficiency: float | None = None  # usage / request
    memory_efficiency: float | None = None
    hours: float = 0.0  # billed container-hours

    @property
    def allocated(self) -> float:
        return self.cpu + self.memory

    @property
    def total(self) -> float:
        return self.allocated + self.idle

    @property
    def name(self) -> str:
        parts = {
            "namespace": (self.namespace,),
            "workload": (self.namespace, self.workload),
            "pod": (self.namespace, self.pod),
            "container": (self.namespace, self.pod, self.container),
        }[self.level]
        return "/".join(parts)

    @property
    def flags(self) -> tuple[str, ...]:
        if self.cpu_efficiency is None and self.memory_efficiency is None:
            return ("no requests",)
        if self.cpu_efficiency is None:
            return ("no CPU requests",)
        if self.memory_efficiency is None:
            return ("no memory requests",)
        return ()


@dataclass(frozen=True)
class NodeCost:
    node: str
    prices: Prices
    cost: float  # allocatable x price x time
    allocated: float
    idle: float
    over_allocated: float  # allocated beyond the node's cost (or while it had no sample)
    priced_by_default: bool = False


@dataclass(frozen=True)
class Series:
    """Cost by namespace per bucket, in dollars per bucket; `hours` is the time each bucket
    covers, so cost / hours is dollars per hour. Namespaces include their idle share."""

    bucket: timedelta
    starts: tuple[datetime, ...] = ()
    hours: tuple[float, ...] = ()
    namespaces: Mapping[str, tuple[float, ...]] | None = None
    idle: tuple[float, ...] = ()  # idle not shared

    def per_hour(self, values) -> list[float]:
        return [v / h if h else 0.0 for v, h in zip(values, self.hours, strict=True)]


@dataclass(frozen=True)
class Allocation:
    idle_mode: str
    containers: tuple[Cost, ...]
    pods: tuple[Cost, ...]
    workloads: tuple[Cost, ...]  # most expensive first, as every level
    namespaces: tuple[Cost, ...]
    nodes: tuple[NodeCost, ...]
    series: Series
    node_cost: float  # what the nodes cost over the range
    allocated: float  # what the containers were billed
    idle: float  # node cost nobody was billed for
    idle_unshared: float  # the part of it left as its own line
    over_allocated: float  # billed beyond node cost: allocated + idle - over = node cost
    covered_from: datetime | None
    covered_until: datetime | None
    interval: timedelta | None  # the median collection interval
    missing: tuple[str, ...] = ()  # "no samples before ...", gaps
    notes: tuple[str, ...] = ()  # over-allocation, unscheduled pods, default prices

    @property
    def total(self) -> float:
        return self.allocated + self.idle

    @property
    def idle_share(self) -> float:
        return self.idle / self.total if self.total else 0.0

    @property
    def empty(self) -> bool:
        return self.covered_from is None


def allocate(
    containers: pd.DataFrame,
    nodes: pd.DataFrame,
    prices: Mapping[str, Prices],
    *,
    default: Prices | None = None,
    idle: str = "none",
    bucket: timedelta = timedelta(hours=1),
    since: datetime | None = None,
    until: datetime | None = None,
    interval: timedelta = timedelta(seconds=30),
) -> Allocation:
    """Allocate node cost to containers over the samples given. `prices` maps node names to
    their prices; nodes missing from it take `default` (an error without one). `interval` is
    the collection interval assumed when there is only one collection."""
    _check(idle, bucket)
    got = bill(containers, nodes, slot=bucket, interval=interval, until=until)
    return combine(
        [got], prices, default=default, idle=idle, bucket=bucket, since=since, until=until
    )


def _check(idle: str, bucket: timedelta) -> None:
    if idle not in IDLE_MODES:
        raise ValueError(f"idle must be one of {', '.join(IDLE_MODES)}, not {idle!r}")
    if bucket <= timedelta(0):
        raise ValueError("bucket must be positive")


# --- Bills: usage in resource units, before prices ----------------------------------------------

SUMS = ["cpu", "memory", "cpu_use", "cpu_req", "mem_use", "mem_req", "hours"]
NODE_SUMS = [
    "cpu",
    "memory",
    "alloc_cpu",
    "alloc_memory",
    "idle_cpu",
    "idle_memory",
    "over_cpu",
    "over_memory",
    "over_full",
    "over_absent",
]


@dataclass(frozen=True)
class Bill:
    """Collections billed in resource units, before prices: millicore-hours and byte-hours.
    A node's price is the same for the whole range, so pricing a bill later gives what
    pricing each sample gives; bills of consecutive spans add up (`combine`), which is how
    hourly rollups stand in for their samples.

    containers: namespace, workload, pod, container, node and SUMS (max(request, usage) x
    time; usage x time and request x time over samples with a request; hours billed).
    namespaces: per slot, namespace and node, cpu and memory billed. nodes: per slot and node,
    NODE_SUMS (allocatable x time; allocated; idle and over-allocated per collection, never
    netted within a slot; collections over capacity with and without a node sample). slots:
    slot start (ns) and hours billed."""

    containers: pd.DataFrame
    namespaces: pd.DataFrame
    nodes: pd.DataFrame
    slots: pd.DataFrame
    first: int  # first collection, ns
    last: int  # last collection, ns
    end: int  # last collection + the time it billed, ns
    nominal: float  # median collection interval, ns
    after: int | None = None  # the next collection after `last`, when it was seen
    gaps: tuple[tuple[int, int], ...] = ()  # (from, to) ns: longer than twice the interval
    unscheduled: int = 0  # container samples without a node, not billed

    @property
    def cap(self) -> float:
        return 2 * self.nominal


def bill(
    containers: pd.DataFrame,
    nodes: pd.DataFrame,
    *,
    slot: timedelta,
    interval: timedelta = timedelta(seconds=30),
    until: datetime | None = None,
    end: datetime | None = None,
    after: datetime | None = None,
) -> Bill | None:
    """Bill the collections of the samples given, per `slot` of time (UTC-aligned). With `end`,
    only collections before it are billed, and `after` is the next collection (else the first
    one given at or after `end`, if any): the last one bills up to it, capped, so an hour
    billed alone bills as it does within a longer range collected at a steady interval. The
    cap is twice the median interval between the collections given; with only one, twice
    `interval` (pass the one the cluster collects at). `until` stops billing there. None
    without collections."""
    next_ns = None if after is None else int(_as_ns([after])[0])
    if end is not None:
        end_ns = int(_as_ns([end])[0])
        c_ns, n_ns = _as_ns(containers["ts"]), _as_ns(nodes["ts"])
        later = np.concatenate([c_ns[c_ns >= end_ns], n_ns[n_ns >= end_ns]])
        if next_ns is None and len(later):
            next_ns = int(later.min())
        containers = containers[c_ns < end_ns].reset_index(drop=True)
        nodes = nodes[n_ns < end_ns].reset_index(drop=True)
    if len(containers) == 0 and len(nodes) == 0:
        return None
    t = _Times.of(containers["ts"], nodes["ts"], interval, until, next_ns)
    names, c_node, n_node, unscheduled = _nodes(containers["node"], nodes["node"])
    c = _container_usage(containers, t, c_node, unscheduled, names)
    cells = _node_cells(nodes, t, n_node, len(names))
    cells.add_allocated(c, t.n)
    width = int(slot.total_seconds() * 1e9)
    starts, of_col = np.unique(t.uniq // width * width, return_inverse=True)
    gaps = [(int(t.uniq[i]), int(t.uniq[i + 1])) for i in t.gaps]
    if next_ns is not None and next_ns - t.uniq[-1] > t.cap:
        gaps.append((int(t.uniq[-1]), next_ns))
    return Bill(
        containers=c.frame,
        namespaces=_namespace_slots(c, of_col, len(starts), names, starts),
        nodes=_node_slots(cells, of_col, len(starts), names, starts),
        slots=pd.DataFrame(
            {"slot": starts, "hours": np.bincount(of_col, weights=t.hours, minlength=len(starts))}
        ),
        first=int(t.uniq[0]),
        last=int(t.uniq[-1]),
        end=int(t.uniq[-1] + t.dt[-1]),
        nominal=t.nominal,
        after=next_ns,
        gaps=tuple(gaps),
        unscheduled=c.unscheduled,
    )


def _namespace_slots(c: "_Containers", of_col, n_slots, names, starts) -> pd.DataFrame:
    n_ns, n_nodes = len(c.ns_names), max(len(names), 1)
    cell = (of_col[c.col] * n_ns + c.ns) * n_nodes + c.node
    size = n_slots * n_ns * n_nodes
    cpu = np.bincount(cell, weights=c.cpu_alloc, minlength=size)
    mem = np.bincount(cell, weights=c.mem_alloc, minlength=size)
    used = np.flatnonzero(np.bincount(cell, minlength=size))
    s, rest = np.divmod(used, n_ns * n_nodes)
    ns, node = np.divmod(rest, n_nodes)
    return pd.DataFrame(
        {
            "slot": starts[s],
            "namespace": np.array(c.ns_names, dtype=object)[ns] if len(used) else [],
            "node": np.array(names, dtype=object)[node] if len(used) else [],
            "cpu": cpu[used],
            "memory": mem[used],
        }
    )


def _node_slots(cells: "_Cells", of_col, n_slots, names, starts) -> pd.DataFrame:
    """Per slot and node, NODE_SUMS, for every node named (zeros included)."""
    n = cells.n_nodes
    if n == 0:  # no node at all: every container sample was unscheduled
        return pd.DataFrame(columns=["slot", "node", *NODE_SUMS])
    over = (cells.alloc_cpu - cells.cpu > _TOL * np.maximum(cells.cpu, 1)) | (
        cells.alloc_mem - cells.mem > _TOL * np.maximum(cells.mem, 1)
    )
    columns = {
        "cpu": cells.cpu,
        "memory": cells.mem,
        "alloc_cpu": cells.alloc_cpu,
        "alloc_memory": cells.alloc_mem,
        "idle_cpu": np.maximum(cells.cpu - cells.alloc_cpu, 0),
        "idle_memory": np.maximum(cells.mem - cells.alloc_mem, 0),
        "over_cpu": np.maximum(cells.alloc_cpu - cells.cpu, 0),
        "over_memory": np.maximum(cells.alloc_mem - cells.mem, 0),
        "over_full": (over & cells.present).astype(float),
        "over_absent": (over & ~cells.present).astype(float),
    }
    out = {"slot": np.repeat(starts, n), "node": np.tile(np.array(names, dtype=object), n_slots)}
    first_of_slot = np.flatnonzero(np.r_[True, np.diff(of_col) != 0])  # collections are sorted
    for name, values in columns.items():
        out[name] = np.add.reduceat(values.reshape(-1, n), first_of_slot, axis=0).ravel()
    return pd.DataFrame(out)


_TOL = 1e-9  # relative: allocated above capacity by more than this is over-allocated


# --- Combining bills at prices ------------------------------------------------------------------


def chain(bills: Sequence[Bill | None]) -> Bill | None:
    """Bills of consecutive spans as one (None for none): gaps between them included where the
    earlier one did not see the next collection (one that did says so itself)."""
    bills = sorted((b for b in bills if b is not None), key=lambda b: b.first)
    if not bills:
        return None
    if len(bills) == 1:
        return bills[0]
    nominal = float(np.median([b.nominal for b in bills]))
    gaps = [g for b in bills for g in b.gaps]
    gaps += [
        (prev.last, nxt.first)
        for prev, nxt in pairwise(bills)
        if prev.after is None and nxt.first - prev.last > 2 * nominal
    ]
    last = max(bills, key=lambda b: b.end)

    def joined(part: str) -> pd.DataFrame:
        return pd.concat([getattr(b, part) for b in bills], ignore_index=True)

    return Bill(
        containers=joined("containers"),
        namespaces=joined("namespaces"),
        nodes=joined("nodes"),
        slots=joined("slots"),
        first=bills[0].first,
        last=last.last,
        end=last.end,
        nominal=nominal,
        after=last.after,
        gaps=tuple(sorted(gaps)),
        unscheduled=sum(b.unscheduled for b in bills),
    )


def combine(
    bills: Sequence[Bill | None],
    prices: Mapping[str, Prices],
    *,
    default: Prices | None = None,
    idle: str = "none",
    bucket: timedelta = timedelta(hours=1),
    since: datetime | None = None,
    until: datetime | None = None,
) -> Allocation:
    """Price bills of consecutive spans and allocate them as one range. A bill's slots must not
    straddle two buckets (hourly slots for hourly or daily buckets)."""
    _check(idle, bucket)
    b = chain(bills)
    if b is None:
        return _nothing(idle, bucket, since, until)
    names = list(dict.fromkeys([*b.nodes["node"], *b.containers["node"]]))
    cpu_price, mem_price, by_default = _prices(names, prices, default)
    cpu_p = pd.Series(cpu_price, index=names, dtype=float)
    mem_p = pd.Series(mem_price, index=names, dtype=float)

    def at(frame: pd.DataFrame, column: str, price: pd.Series) -> np.ndarray:
        return frame[column].to_numpy(dtype=float) * price.reindex(frame["node"]).to_numpy()

    def priced(frame: pd.DataFrame, cpu: str, mem: str) -> np.ndarray:
        return at(frame, cpu, cpu_p) + at(frame, mem, mem_p)

    ctrs = b.containers.assign(
        cpu_cost=at(b.containers, "cpu", cpu_p), mem_cost=at(b.containers, "memory", mem_p)
    )
    ns = b.namespaces.assign(cost=priced(b.namespaces, "cpu", "memory"))
    nd = b.nodes.assign(
        cost=priced(b.nodes, "cpu", "memory"),
        allocated=priced(b.nodes, "alloc_cpu", "alloc_memory"),
        idle=priced(b.nodes, "idle_cpu", "idle_memory"),
        over=priced(b.nodes, "over_cpu", "over_memory"),
    )
    slots = b.slots.groupby("slot")["hours"].sum()
    ns_names = list(dict.fromkeys(ctrs["namespace"]))
    matrix = (
        ns.groupby(["slot", "namespace"])["cost"]
        .sum()
        .unstack("namespace")
        .reindex(index=slots.index, columns=ns_names)
        .fillna(0.0)
    )
    idle_slot = nd.groupby("slot")["idle"].sum().reindex(slots.index).fillna(0.0)
    series, shares = _series(
        slots.index.to_numpy(dtype=np.int64),
        slots.to_numpy(dtype=float),
        bucket,
        ns_names,
        matrix.to_numpy(),
        idle_slot.to_numpy(),
        idle,
    )
    per_node = (
        nd.groupby("node")[["cost", "allocated", "idle", "over", "over_full", "over_absent"]]
        .sum()
        .reindex(names)
        .fillna(0.0)
    )
    return Allocation(
        idle_mode=idle,
        **_levels(ctrs, ns_names, shares),
        nodes=_node_costs(per_node, prices, default, by_default),
        series=series,
        node_cost=float(nd["cost"].sum()),
        allocated=float(ctrs["cpu_cost"].sum() + ctrs["mem_cost"].sum()),
        idle=float(nd["idle"].sum()),
        idle_unshared=float(sum(series.idle)),
        over_allocated=float(nd["over"].sum()),
        covered_from=_utc(b.first),
        covered_until=_utc(b.end),
        interval=timedelta(microseconds=b.nominal / 1000),
        missing=tuple(_missing(b, since, until)),
        notes=tuple(_notes(per_node, b.unscheduled, by_default)),
    )


def _missing(b: Bill, since, until) -> list[str]:
    out = []
    if since is not None and b.first - _as_ns([since])[0] > b.cap:
        out.append(f"no samples before {_when(_utc(b.first))}")
    for start, stop in b.gaps:
        out.append(
            f"no samples from {_when(_utc(start))} to {_when(_utc(stop))} "
            f"({_duration((stop - start) / 1e9)}; billed as {_duration(b.cap / 1e9)})"
        )
    if until is not None and _as_ns([until])[0] - b.end > b.cap:
        out.append(f"no samples after {_when(_utc(b.last))}")
    return out


# --- Times -----------------------------------------------------------------------------------


def _as_ns(values) -> np.ndarray:
    """Timestamps as int64 nanoseconds since the epoch, UTC (naive values are taken as UTC)."""
    index = pd.DatetimeIndex(pd.to_datetime(pd.Series(values), utc=True))
    return index.as_unit("ns").asi8


def _utc(ns: int) -> datetime:
    return pd.Timestamp(ns, unit="ns", tz=UTC).to_pydatetime()


@dataclass
class _Times:
    uniq: np.ndarray  # collection times, sorted, ns
    c_col: np.ndarray  # each container sample's collection
    n_col: np.ndarray  # each node sample's collection
    dt: np.ndarray  # ns billed per collection
    nominal: float
    cap: float
    gaps: np.ndarray  # collections followed by a gap longer than the cap

    @property
    def n(self) -> int:
        return len(self.uniq)

    @property
    def hours(self) -> np.ndarray:
        return self.dt / HOUR_NS

    @classmethod
    def of(
        cls,
        c_ts,
        n_ts,
        interval: timedelta,
        until: datetime | None,
        after: int | None = None,
    ) -> "_Times":
        """`after`: the next collection after these, if known: the last one bills up to it,
        capped. The median interval is taken between these collections only (with none, it
        is `interval`): a gap to `after` must not make the cap as long as the gap."""
        both = np.concatenate([_as_ns(c_ts), _as_ns(n_ts)])
        codes, uniq = pd.factorize(both, sort=True)
        uniq = np.asarray(uniq, dtype=np.int64)
        diffs = np.diff(uniq)
        nominal = float(np.median(diffs)) if len(diffs) else interval.total_seconds() * 1e9
        cap = 2 * nominal
        last = nominal if after is None else min(after - uniq[-1], cap)
        dt = np.append(np.minimum(diffs, cap), last).astype(float)
        if until is not None:
            dt = np.clip(np.minimum(dt, _as_ns([until])[0] - uniq), 0, None)
        split = len(c_ts)
        gaps = np.flatnonzero(diffs > cap)
        return cls(uniq, codes[:split], codes[split:], dt, nominal, cap, gaps)


def when_ns(ns: int) -> str:
    """Unix nanoseconds (a bill's times) as the notes write times."""
    return _when(_utc(ns))


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- Nodes and prices ------------------------------------------------------------------------


def _codes(values) -> tuple[np.ndarray, list[str]]:
    """Integer codes and the names they stand for; a missing value is ""."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy(dtype=np.int64)
        names = [str(c) for c in s.cat.categories]
        if (codes < 0).any():
            codes = np.where(codes < 0, len(names), codes)
            names.append("")
        return codes, names
    codes, uniques = pd.factorize(s.fillna(""))
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]


def _nodes(c_nodes, n_nodes) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """One list of node names for both inputs; the containers' "" (unscheduled) is not one."""
    c_codes, c_names = _codes(c_nodes)
    n_codes, n_names = _codes(n_nodes)
    names = [n for n in dict.fromkeys(n_names + c_names) if n]
    index = {name: i for i, name in enumerate(names)}
    c_map = np.array([index.get(n, -1) for n in c_names] or [-1], dtype=np.int64)
    n_map = np.array([index.get(n, -1) for n in n_names] or [-1], dtype=np.int64)
    c_node = c_map[c_codes] if len(c_codes) else c_codes
    n_node = n_map[n_codes] if len(n_codes) else n_codes
    return names, c_node, n_node, c_node < 0


def _prices(
    names: list[str], prices: Mapping[str, Prices], default: Prices | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """$ per millicore-hour and $ per byte-hour for each node."""
    by_default = [n for n in names if n not in prices]
    if by_default and default is None:
        raise ValueError(f"no prices for node {by_default[0]} and no default")
    chosen = [prices.get(n, default) for n in names]
    cpu = np.array([float(p.cpu_per_vcpu_hour) / 1000 for p in chosen], dtype=float)
    mem = np.array([float(p.memory_per_gib_hour) / GiB for p in chosen], dtype=float)
    return cpu, mem, by_default


# --- Containers ------------------------------------------------------------------------------


@dataclass
class _Containers:
    """Per-sample columns needed later, and per-container sums."""

    col: np.ndarray  # collection of each billed sample
    node: np.ndarray  # node of each billed sample
    ns: np.ndarray  # namespace code of each billed sample
    cpu_alloc: np.ndarray  # millicore-hours billed per sample: max(request, usage) x time
    mem_alloc: np.ndarray  # byte-hours
    frame: pd.DataFrame  # per container and node: its keys and SUMS
    ns_names: list[str]
    unscheduled: int  # samples not billed


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    return np.nan_to_num(pd.to_numeric(frame[column]).to_numpy(dtype=float, na_value=np.nan))


def _dense(combined: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..n-1 for the distinct values of `combined` (all below `space`), and the values:
    by counting when the space is small (much faster than hashing), else by factorize."""
    if space > 20_000_000 or len(combined) == 0:
        key, uniq = pd.factorize(combined)
        return key, np.asarray(uniq, dtype=np.int64)
    uniq = np.flatnonzero(np.bincount(combined, minlength=space))
    remap = np.zeros(space, dtype=np.int64)
    remap[uniq] = np.arange(len(uniq))
    return remap[combined], uniq


def _container_usage(frame, t: _Times, node, unscheduled, names) -> _Containers:
    keep = ~unscheduled

    def take(values: np.ndarray) -> np.ndarray:
        return values if not unscheduled.any() else values[keep]

    col, node = take(t.c_col), take(node)
    hours = t.hours[col]
    use_c, use_m = take(_num(frame, "cpu_m")), take(_num(frame, "memory"))
    req_c, req_m = take(_num(frame, "request_cpu_m")), take(_num(frame, "request_memory"))
    cpu_alloc = np.maximum(use_c, req_c) * hours
    mem_alloc = np.maximum(use_m, req_m) * hours
    (ns, ns_names), (pod, pods), (ctr, ctrs), (wl, wls) = (
        (take(codes), names)
        for codes, names in map(
            _codes, (frame[c] for c in ("namespace", "pod", "container", "workload"))
        )
    )
    n_pod, n_ctr, n_node = max(len(pods), 1), max(len(ctrs), 1), max(len(names), 1)
    key, uniq = _dense(
        ((ns * n_pod + pod) * n_ctr + ctr) * n_node + node,
        len(ns_names) * n_pod * n_ctr * n_node,
    )
    n = len(uniq)
    workload_of = np.zeros(n, dtype=np.int64)
    workload_of[key] = wl
    ctr_of, node_of = np.divmod(uniq, n_node)
    pod_of = ctr_of // n_ctr
    keys = pd.DataFrame(
        {
            "namespace": np.array(ns_names, dtype=object)[pod_of // n_pod],
            "workload": np.array(wls, dtype=object)[workload_of],
            "pod": np.array(pods, dtype=object)[pod_of % n_pod],
            "container": np.array(ctrs, dtype=object)[ctr_of % n_ctr],
            "node": np.array(names or [""], dtype=object)[node_of],
        }
    )

    def total(weights):
        return np.bincount(key, weights=weights, minlength=n)

    has_c, has_m = req_c > 0, req_m > 0
    sums = keys.assign(
        cpu=total(cpu_alloc),
        memory=total(mem_alloc),
        cpu_use=total(np.where(has_c, use_c * hours, 0)),
        cpu_req=total(req_c * hours),
        mem_use=total(np.where(has_m, use_m * hours, 0)),
        mem_req=total(req_m * hours),
        hours=total(hours),
    )
    return _Containers(
        col=col,
        node=node,
        ns=ns,
        cpu_alloc=cpu_alloc,
        mem_alloc=mem_alloc,
        frame=sums,
        ns_names=ns_names,
        unscheduled=int(unscheduled.sum()),
    )


# --- Node cells: one per collection and node ---------------------------------------------------


@dataclass
class _Cells:
    n_nodes: int
    cpu: np.ndarray  # allocatable x time per cell: millicore-hours
    mem: np.ndarray  # byte-hours
    present: np.ndarray  # the node had a sample at that collection
    alloc_cpu: np.ndarray | None = None
    alloc_mem: np.ndarray | None = None

    def add_allocated(self, c: _Containers, n_collections: int) -> None:
        cell = c.col * self.n_nodes + c.node
        size = n_collections * self.n_nodes
        self.alloc_cpu = np.bincount(cell, weights=c.cpu_alloc, minlength=size)
        self.alloc_mem = np.bincount(cell, weights=c.mem_alloc, minlength=size)


def _node_cells(frame, t: _Times, node, n_nodes) -> _Cells:
    hours = t.hours[t.n_col]
    cell = t.n_col * n_nodes + node
    size = t.n * n_nodes
    cpu = _num(frame, "allocatable_cpu_m") * hours
    mem = _num(frame, "allocatable_memory") * hours
    present = np.bincount(cell, minlength=size) > 0
    return _Cells(
        n_nodes,
        np.bincount(cell, weights=cpu, minlength=size),
        np.bincount(cell, weights=mem, minlength=size),
        present,
    )


# --- Namespaces over time, idle sharing ----------------------------------------------------------


def _series(starts, hours, bucket, ns_names, matrix, idle_slot, mode) -> tuple[Series, np.ndarray]:
    """Slots (start ns, hours billed, cost per namespace, idle) summed into buckets."""
    width = int(bucket.total_seconds() * 1e9)
    bucket_starts, b = np.unique(starts // width * width, return_inverse=True)
    n_b = len(bucket_starts)

    def per_bucket(values: np.ndarray) -> np.ndarray:
        out = np.zeros((n_b, *values.shape[1:]))
        np.add.at(out, b, values)
        return out

    alloc, idle_b, hours = per_bucket(matrix), per_bucket(idle_slot), per_bucket(hours)
    shares = _shares(alloc, idle_b, mode)
    left = idle_b - shares.sum(axis=1)
    with_idle = alloc + shares
    series = Series(
        bucket=bucket,
        starts=tuple(_utc(int(s)) for s in bucket_starts),
        hours=tuple(hours.tolist()),
        namespaces={
            ns: tuple(with_idle[:, i].tolist())
            for i, ns in enumerate(ns_names)
            if with_idle[:, i].any()
        },
        idle=tuple(np.where(np.abs(left) < 1e-12, 0.0, left).tolist()),
    )
    return series, shares.sum(axis=0)


def _shares(alloc: np.ndarray, idle_b: np.ndarray, mode: str) -> np.ndarray:
    """Idle per bucket and namespace: none, even among those with cost, or by their cost."""
    if mode == "none" or alloc.shape[1] == 0:
        return np.zeros_like(alloc)
    if mode == "even":
        weights = (alloc > 0).astype(float)
    else:
        weights = alloc
    totals = weights.sum(axis=1, keepdims=True)
    return np.divide(weights * idle_b[:, None], totals, out=np.zeros_like(alloc), where=totals > 0)


# --- Levels ------------------------------------------------------------------------------------


def _ratio(use: float, req: float) -> float | None:
    return float(use / req) if req > 0 else None


def _items(frame: pd.DataFrame, level: str, by: list[str], idle: Mapping[str, float]) -> tuple:
    sums = ["cpu_cost", "mem_cost", "cpu_use", "cpu_req", "mem_use", "mem_req", "hours"]
    grouped = frame.groupby(by, sort=False)[sums].sum().reset_index()
    out = []
    for row in grouped.itertuples(index=False):
        r = row._asdict()
        share = idle.get(r["namespace"], 0.0) if level == "namespace" else 0.0
        out.append(
            Cost(
                level=level,
                namespace=r["namespace"],
                workload=r.get("workload", ""),
                pod=r.get("pod", ""),
                container=r.get("container", ""),
                cpu=float(r["cpu_cost"]),
                memory=float(r["mem_cost"]),
                idle=float(share),
                cpu_efficiency=_ratio(r["cpu_use"], r["cpu_req"]),
                memory_efficiency=_ratio(r["mem_use"], r["mem_req"]),
                hours=float(r["hours"]),
            )
        )
    return tuple(sorted(out, key=lambda x: (-x.total, x.name)))


def _levels(frame: pd.DataFrame, ns_names: list[str], shares: np.ndarray) -> dict:
    """Containers (priced: cpu_cost, mem_cost) summed per container, pod, workload and
    namespace; `shares` is each namespace's part of idle."""
    frame = frame.assign(workload=frame["workload"].where(frame["workload"] != "", frame["pod"]))
    idle = dict(zip(ns_names, shares.tolist(), strict=True))
    return {
        "containers": _items(frame, "container", ["namespace", "pod", "container", "workload"], {}),
        "pods": _items(frame, "pod", ["namespace", "pod", "workload"], {}),
        "workloads": _items(frame, "workload", ["namespace", "workload"], {}),
        "namespaces": _items(frame, "namespace", ["namespace"], idle),
    }


def _node_costs(per_node: pd.DataFrame, prices, default, by_default) -> tuple:
    out = [
        NodeCost(
            node=name,
            prices=prices.get(name, default),
            cost=float(r.cost),
            allocated=float(r.allocated),
            idle=float(r.idle),
            over_allocated=float(r.over),
            priced_by_default=name in by_default,
        )
        for name, r in zip(per_node.index, per_node.itertuples(index=False), strict=True)
    ]
    return tuple(sorted(out, key=lambda n: (-n.cost, n.node)))


def _notes(per_node: pd.DataFrame, unscheduled: int, by_default) -> list[str]:
    notes = []
    for name, r in zip(per_node.index, per_node.itertuples(index=False), strict=True):
        if full := round(r.over_full):
            notes.append(
                f"node {name}: requests and usage exceeded its allocatable capacity at {full} "
                "collection(s); the excess is billed to the containers but is not node cost"
            )
        if gone := round(r.over_absent):
            notes.append(
                f"node {name}: pods ran on it at {gone} collection(s) without a sample of the "
                "node; their cost counts, the node's does not"
            )
    if unscheduled:
        notes.append(f"{unscheduled} sample(s) of containers without a node are not billed")
    if by_default:
        notes.append(f"priced at the default row (labels unknown): {', '.join(by_default)}")
    return notes


def _nothing(idle: str, bucket: timedelta, since, until) -> Allocation:
    where = ""
    if since is not None and until is not None:
        where = f" from {_when(since.astimezone(UTC))} to {_when(until.astimezone(UTC))}"
    return Allocation(
        idle_mode=idle,
        containers=(),
        pods=(),
        workloads=(),
        namespaces=(),
        nodes=(),
        series=Series(bucket=bucket, namespaces={}),
        node_cost=0.0,
        allocated=0.0,
        idle=0.0,
        idle_unshared=0.0,
        over_allocated=0.0,
        covered_from=None,
        covered_until=None,
        interval=None,
        missing=(f"no samples{where}",),
    )
