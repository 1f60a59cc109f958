"""Waste findings: idle workloads, unmounted claims, scaled-to-zero deployments that still hold
storage, over-provisioned nodes and over-requested namespaces. Pure; no Django.

Findings only: nothing here changes a cluster (a finding may become a cost plan, which becomes
governed Actions elsewhere). Units: CPU in millicores (`_m`), memory and storage in bytes;
prices carry their unit in their names; a month is 730 hours. Costs are rounded to cents.

Rules and defaults:
- Idle workload: replicas > 0, CPU p95 below 5m per replica and memory flat (p95 at most 10%
  above the mean) over a window of at least 24 h; with a shorter window, no finding. Traffic
  is judged from CPU because request counts are not collected. Cost: all its requests.
- Unmounted claim: no pod mounts it. Cost: size * storage price. Claims of a deployment scaled
  to zero are reported once, under that deployment ("scaled to zero, still holds storage").
- Over-provisioned node: its pods request less than 30% of allocatable for both CPU and memory,
  and they fit on the other nodes' free capacity (first-fit decreasing by CPU then memory,
  nodes in name order; DaemonSet pods stay behind). Nodes are taken most expensive first; a
  removed node takes no pods, and moved pods count on the nodes that receive them.
  Control-plane nodes (by label) are neither removed nor used as destinations. Cost:
  allocatable * prices. `node_removal_plans` also gives the reason when pods do not fit.
- Over-requested namespace: the sum over its running workloads of p95 use (per replica *
  replicas) is below 40% of the sum of requests, for CPU or memory. Cost: the unused share of
  the requests for each resource below the threshold. `find_waste` leaves out workloads it
  already reported as idle so no money is counted twice.

Prices: a workload or node may carry its own `prices` (the row its node's labels select, spot or
on-demand; for a workload, the node most of its samples ran on); without them, the `prices`
passed in (the sheet's default row) apply. Storage is priced at the default row.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from .prices import HOURS_PER_MONTH as HOURS_PER_MONTH
from .prices import GiB as GIB
from .prices import Prices as Prices

MIB = 2**20
IDLE_CPU_P95_M = 5.0
IDLE_MEMORY_SPREAD = 0.10
MIN_WINDOW_HOURS = 24.0
NODE_REQUEST_SHARE = 0.30
NAMESPACE_USE_SHARE = 0.40
CONTROL_PLANE_LABELS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
TRAFFIC_NOTE = "Traffic is judged from CPU because request counts are not collected."


class Kind(StrEnum):
    IDLE_WORKLOAD = "idle_workload"
    UNMOUNTED_PVC = "unmounted_pvc"
    SCALED_TO_ZERO_STORAGE = "scaled_to_zero_storage"
    OVER_PROVISIONED_NODE = "over_provisioned_node"
    OVER_REQUESTED_NAMESPACE = "over_requested_namespace"


@dataclass(frozen=True)
class WorkloadUsage:
    """Requests and usage are per replica; usage is over the last `window_hours`."""

    namespace: str
    name: str
    replicas: int
    request_cpu_m: float
    request_memory: int
    cpu_p95_m: float
    cpu_mean_m: float
    memory_p95: int
    memory_mean: int
    window_hours: float
    kind: str = "Deployment"
    prices: Prices | None = None  # of the node it runs on; None: the default row


def _price(item, default: Prices) -> Prices:
    return item.prices if item.prices is not None else default


@dataclass(frozen=True)
class PvcInfo:
    namespace: str
    name: str
    size_bytes: int
    storage_class: str
    mounted_by: tuple[str, ...] = ()
    owner_workload: str | None = None  # a workload name in the same namespace


@dataclass(frozen=True)
class PodRequest:
    namespace: str
    name: str
    request_cpu_m: float
    request_memory: int
    daemonset: bool = False  # goes away with its node; never needs a new place


@dataclass(frozen=True)
class NodeInfo:
    name: str
    allocatable_cpu_m: float
    allocatable_memory: int
    pods: tuple[PodRequest, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    prices: Prices | None = None  # the row its labels select; None: the default row


@dataclass(frozen=True)
class Finding:
    kind: Kind
    target: str
    monthly_cost: float
    evidence: str
    suggestion: str


@dataclass(frozen=True)
class NodeRemovalPlan:
    node: str
    fits: bool
    reason: str
    placements: tuple[tuple[str, str], ...] = ()  # ("namespace/pod", destination node)
    usage: str = ""
    monthly_cost: float = 0.0


def cents(amount: float) -> float:
    return float(Decimal(repr(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _cpu(cpu_m: float) -> str:
    return f"{cpu_m:g}m"


def _mem(size: float) -> str:
    return f"{size / GIB:.3g} GiB" if size >= GIB else f"{size / MIB:.4g} MiB"


def _share(part: float, whole: float) -> float:
    """part / whole; nothing requested counts as fully used (no waste to report)."""
    return part / whole if whole else 1.0


def idle_workloads(
    workloads: Iterable[WorkloadUsage],
    prices: Prices,
    *,
    cpu_p95_m: float = IDLE_CPU_P95_M,
    memory_spread: float = IDLE_MEMORY_SPREAD,
    min_window_hours: float = MIN_WINDOW_HOURS,
) -> list[Finding]:
    """Running workloads with near-zero CPU and flat memory over a long enough window."""
    return [
        _idle_finding(w, prices, cpu_p95_m)
        for w in workloads
        if w.replicas > 0
        and w.window_hours >= min_window_hours
        and w.cpu_p95_m < cpu_p95_m
        and w.memory_p95 <= w.memory_mean * (1 + memory_spread)
    ]


def _idle_finding(w: WorkloadUsage, prices: Prices, threshold_m: float) -> Finding:
    prices = _price(w, prices)
    per_replica = prices.cpu_month(w.request_cpu_m) + prices.memory_month(w.request_memory)
    evidence = (
        f"CPU p95 {_cpu(w.cpu_p95_m)} per replica (below {_cpu(threshold_m)}) and memory flat "
        f"(p95 {_mem(w.memory_p95)}, mean {_mem(w.memory_mean)}) over {w.window_hours:g} h; "
        f"{w.replicas} replicas request {_cpu(w.request_cpu_m)} CPU and "
        f"{_mem(w.request_memory)} each. {TRAFFIC_NOTE}"
    )
    return Finding(
        kind=Kind.IDLE_WORKLOAD,
        target=f"{w.namespace}/{w.name}",
        monthly_cost=cents(w.replicas * per_replica),
        evidence=evidence,
        suggestion=f"scale to 0 (or delete {w.kind} {w.name} if it is retired)",
    )


def _scaled_to_zero(workloads: Iterable[WorkloadUsage]) -> dict[tuple[str, str], WorkloadUsage]:
    return {(w.namespace, w.name): w for w in workloads if w.replicas == 0}


def unmounted_pvcs(
    pvcs: Iterable[PvcInfo], prices: Prices, *, workloads: Iterable[WorkloadUsage] = ()
) -> list[Finding]:
    """Claims no pod mounts, except those of deployments scaled to zero (reported there)."""
    zero = _scaled_to_zero(workloads)
    return [
        Finding(
            kind=Kind.UNMOUNTED_PVC,
            target=f"{p.namespace}/{p.name}",
            monthly_cost=cents(prices.storage_month(p.size_bytes)),
            evidence=f"{_mem(p.size_bytes)} claim (storage class {p.storage_class}) "
            "that no pod mounts",
            suggestion="delete the claim after a backup",
        )
        for p in pvcs
        if not p.mounted_by and (p.namespace, p.owner_workload) not in zero
    ]


def scaled_to_zero_storage(
    workloads: Iterable[WorkloadUsage], pvcs: Iterable[PvcInfo], prices: Prices
) -> list[Finding]:
    """Workloads at 0 replicas whose claims (owned, mounted by nobody) still cost money."""
    held: dict[tuple[str, str], list[PvcInfo]] = {}
    zero = _scaled_to_zero(workloads)
    for p in pvcs:
        if not p.mounted_by and (p.namespace, p.owner_workload) in zero:
            held.setdefault((p.namespace, p.owner_workload or ""), []).append(p)
    return [_zero_finding(zero[key], claims, prices) for key, claims in held.items()]


def _zero_finding(w: WorkloadUsage, claims: list[PvcInfo], prices: Prices) -> Finding:
    listed = ", ".join(f"{p.name} ({_mem(p.size_bytes)})" for p in claims)
    names = ", ".join(p.name for p in claims)
    return Finding(
        kind=Kind.SCALED_TO_ZERO_STORAGE,
        target=f"{w.namespace}/{w.name}",
        monthly_cost=cents(sum(prices.storage_month(p.size_bytes) for p in claims)),
        evidence=f"{w.kind} scaled to 0 replicas still holds {len(claims)} "
        f"claim(s) that no pod mounts: {listed}",
        suggestion=f"delete the claim(s) {names} after a backup, or the {w.kind} if it is retired",
    )


def _control_plane(node: NodeInfo) -> bool:
    return any(label in node.labels for label in CONTROL_PLANE_LABELS)


def _node_cost(node: NodeInfo, prices: Prices) -> float:
    return _price(node, prices).compute_month(node.allocatable_cpu_m, node.allocatable_memory)


def _requested(pods: Iterable[PodRequest]) -> tuple[float, float]:
    pods = list(pods)
    return sum(p.request_cpu_m for p in pods), sum(p.request_memory for p in pods)


def node_removal_plans(
    nodes: Sequence[NodeInfo],
    prices: Prices,
    *,
    request_share: float = NODE_REQUEST_SHARE,
) -> list[NodeRemovalPlan]:
    """For each under-used node, most expensive first: can its pods go elsewhere, and where."""
    pods = {n.name: list(n.pods) for n in nodes}
    removed: set[str] = set()
    plans = []
    for node in sorted(nodes, key=lambda n: (-_node_cost(n, prices), n.name)):
        usage = _under_used(node, pods[node.name], request_share)
        if usage is None or _control_plane(node):
            continue
        others = [n for n in nodes if n.name not in {*removed, node.name}]
        plan = _place(node, pods, [n for n in others if not _control_plane(n)])
        plan = replace(plan, usage=usage, monthly_cost=cents(_node_cost(node, prices)))
        plans.append(plan)
        if plan.fits:
            removed.add(node.name)
            moving = {_key(p): p for p in pods.pop(node.name)}
            for pod_key, dest in plan.placements:
                pods[dest].append(moving[pod_key])
    return plans


def _under_used(node: NodeInfo, pods: list[PodRequest], share: float) -> str | None:
    """Words for the node's requests when both are below `share` of allocatable, else None."""
    cpu, memory = _requested(pods)
    cpu_share = _share(cpu, node.allocatable_cpu_m)
    memory_share = _share(memory, node.allocatable_memory)
    if cpu_share >= share or memory_share >= share:
        return None
    return (
        f"{len(pods)} pod(s) request {cpu_share:.0%} of CPU ({_cpu(cpu)} of "
        f"{_cpu(node.allocatable_cpu_m)}) and {memory_share:.0%} of memory ({_mem(memory)} of "
        f"{_mem(node.allocatable_memory)}), below {share:.0%}"
    )


def _key(pod: PodRequest) -> str:
    return f"{pod.namespace}/{pod.name}"


def _place(
    node: NodeInfo, pods: Mapping[str, list[PodRequest]], others: list[NodeInfo]
) -> NodeRemovalPlan:
    """First-fit decreasing (CPU, then memory) of `node`'s pods onto `others` in name order."""
    if not others:
        return NodeRemovalPlan(node.name, False, "no other node can take its pods")
    free = {}
    for n in sorted(others, key=lambda n: n.name):
        cpu, memory = _requested(pods[n.name])
        free[n.name] = [n.allocatable_cpu_m - cpu, n.allocatable_memory - memory]
    placements = []
    movable = [p for p in pods[node.name] if not p.daemonset]
    for pod in sorted(movable, key=lambda p: (-p.request_cpu_m, -p.request_memory)):
        fitting = (
            n for n, (c, m) in free.items() if c >= pod.request_cpu_m and m >= pod.request_memory
        )
        dest = next(fitting, None)
        if dest is None:
            return NodeRemovalPlan(node.name, False, _no_room(pod, free))
        free[dest][0] -= pod.request_cpu_m
        free[dest][1] -= pod.request_memory
        placements.append((_key(pod), dest))
    where = ", ".join(f"{pod} → {dest}" for pod, dest in placements)
    reason = f"its pods fit on the other nodes: {where}" if where else "it has no pods to move"
    return NodeRemovalPlan(node.name, True, reason, tuple(placements))


def _no_room(pod: PodRequest, free: Mapping[str, list[float]]) -> str:
    name, (cpu, mem) = max(free.items(), key=lambda item: (item[1][0], item[1][1]))
    return (
        f"{_key(pod)} ({_cpu(pod.request_cpu_m)} CPU, {_mem(pod.request_memory)}) fits on no "
        f"other node (most free CPU: {name} with {_cpu(cpu)} and {_mem(mem)})"
    )


def over_provisioned_nodes(
    nodes: Sequence[NodeInfo], prices: Prices, *, request_share: float = NODE_REQUEST_SHARE
) -> list[Finding]:
    """Under-used nodes whose pods fit elsewhere; see `node_removal_plans` for the others."""
    return [
        Finding(
            kind=Kind.OVER_PROVISIONED_NODE,
            target=plan.node,
            monthly_cost=plan.monthly_cost,
            evidence=f"{plan.usage}; {plan.reason}",
            suggestion=f"drain and remove {plan.node}",
        )
        for plan in node_removal_plans(nodes, prices, request_share=request_share)
        if plan.fits
    ]


def over_requested_namespaces(
    workloads: Iterable[WorkloadUsage],
    prices: Prices,
    *,
    use_share: float = NAMESPACE_USE_SHARE,
    exclude: Collection[str] = (),
) -> list[Finding]:
    """Namespaces whose p95 use is below `use_share` of requests, for CPU or memory.

    `exclude` holds "namespace/name" targets already reported (idle workloads).
    """
    totals: dict[str, list[float]] = {}
    for w in workloads:
        if w.replicas > 0 and f"{w.namespace}/{w.name}" not in exclude:
            t = totals.setdefault(w.namespace, [0.0] * 6)
            p = _price(w, prices)
            t[0] += w.replicas * w.request_cpu_m
            t[1] += w.replicas * w.cpu_p95_m
            t[2] += w.replicas * w.request_memory
            t[3] += w.replicas * w.memory_p95
            # The unused part in dollars, each workload at its own node's prices.
            t[4] += p.cpu_month(w.replicas * (w.request_cpu_m - w.cpu_p95_m))
            t[5] += p.memory_month(w.replicas * (w.request_memory - w.memory_p95))
    findings = (_namespace_finding(ns, t, use_share) for ns, t in totals.items())
    return [f for f in findings if f is not None]


def _namespace_finding(namespace: str, totals: list[float], share: float) -> Finding | None:
    cpu_req, cpu_use, mem_req, mem_use, cpu_unused, mem_unused = totals
    checks = [
        ("CPU", cpu_use, cpu_req, _cpu, cpu_unused),
        ("memory", mem_use, mem_req, _mem, mem_unused),
    ]
    parts = [_unused(*check) for check in checks if _share(check[1], check[2]) < share]
    if not parts:
        return None
    return Finding(
        kind=Kind.OVER_REQUESTED_NAMESPACE,
        target=namespace,
        monthly_cost=cents(sum(cost for _, cost in parts)),
        evidence="; ".join(words for words, _ in parts) + f" (threshold {share:.0%})",
        suggestion=f"lower requests in {namespace} toward p95 use (see rightsizing)",
    )


def _unused(
    resource: str,
    use: float,
    requested: float,
    show: Callable[[float], str],
    cost: float,
) -> tuple[str, float]:
    words = (
        f"{resource} p95 use is {use / requested:.0%} of requests ({show(use)} of "
        f"{show(requested)}); the unused {show(requested - use)} costs ${cents(cost):.2f}/month"
    )
    return words, cost


def find_waste(
    *,
    workloads: Sequence[WorkloadUsage] = (),
    pvcs: Sequence[PvcInfo] = (),
    nodes: Sequence[NodeInfo] = (),
    prices: Prices,
) -> list[Finding]:
    """Every finding with the default thresholds, most expensive first."""
    idle = idle_workloads(workloads, prices)
    findings = [
        *idle,
        *unmounted_pvcs(pvcs, prices, workloads=workloads),
        *scaled_to_zero_storage(workloads, pvcs, prices),
        *over_provisioned_nodes(nodes, prices),
        *over_requested_namespaces(workloads, prices, exclude={f.target for f in idle}),
    ]
    return sorted(findings, key=lambda f: (-f.monthly_cost, f.kind, f.target))
