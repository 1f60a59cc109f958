"""Waste findings on hand-made inventories, with exact dollars.

Prices: $0.04 per vCPU-hour, $0.005 per GiB-hour of memory, $0.10 per GiB-month of storage;
730 hours a month. So 1 vCPU costs $29.20 a month, 1 GiB of memory $3.65, 1 GiB of disk $0.10.
"""

from dataclasses import replace

from apps.costs.waste import (
    Kind,
    NodeInfo,
    PodRequest,
    Prices,
    PvcInfo,
    WorkloadUsage,
    find_waste,
    idle_workloads,
    node_removal_plans,
    over_provisioned_nodes,
    over_requested_namespaces,
    scaled_to_zero_storage,
    unmounted_pvcs,
)

GIB = 2**30
MIB = 2**20
PRICES = Prices(cpu_per_vcpu_hour=0.04, memory_per_gib_hour=0.005, storage_per_gib_month=0.10)

# shop/cart: 2 replicas of 250m and 512 MiB, CPU p95 2m, memory flat, 72 h of data.
CART = WorkloadUsage(
    namespace="shop",
    name="cart",
    replicas=2,
    request_cpu_m=250,
    request_memory=512 * MIB,
    cpu_p95_m=2,
    cpu_mean_m=1,
    memory_p95=130 * MIB,
    memory_mean=128 * MIB,
    window_hours=72,
)
# batch/etl: 2 replicas of 1 vCPU and 2 GiB; uses 200m and 1.5 GiB at p95.
ETL = WorkloadUsage(
    namespace="batch",
    name="etl",
    replicas=2,
    request_cpu_m=1000,
    request_memory=2 * GIB,
    cpu_p95_m=200,
    cpu_mean_m=120,
    memory_p95=3 * GIB // 2,
    memory_mean=GIB,
    window_hours=168,
)
REPORTS = replace(CART, namespace="finance", name="reports", replicas=0, cpu_p95_m=0)
PVCS = (
    PvcInfo("shop", "old-uploads", 50 * GIB, "gp3"),
    PvcInfo("shop", "uploads", 100 * GIB, "gp3", mounted_by=("shop/web-0",)),
    PvcInfo("finance", "reports-data", 20 * GIB, "gp3", owner_workload="reports"),
    PvcInfo("finance", "reports-cache", 5 * GIB, "standard", owner_workload="reports"),
)


def pod(name: str, cpu_m: float, memory_gib: float, **kwargs: bool) -> PodRequest:
    return PodRequest("shop", name, cpu_m, int(memory_gib * GIB), **kwargs)


def node(name: str, *pods: PodRequest, **labels: str) -> NodeInfo:
    """4 vCPU, 16 GiB: $116.80 + $58.40 = $175.20 a month."""
    return NodeInfo(name, 4000, 16 * GIB, pods, labels)


NODES = [
    node("node-1", pod("a", 2000, 8)),
    node("node-2", pod("b", 2500, 9)),
    node("node-7", pod("c", 500, 1), pod("d", 300, 2), pod("proxy", 100, 0.125, daemonset=True)),
]


def test_it_reports_an_idle_workload_with_the_cost_of_its_requests() -> None:
    [finding] = idle_workloads([CART, ETL], PRICES)

    assert finding.kind == Kind.IDLE_WORKLOAD
    assert finding.target == "shop/cart"
    assert finding.monthly_cost == 18.25  # 2 x (0.25 x 29.20 + 0.5 x 3.65)
    assert finding.evidence.startswith("CPU p95 2m per replica (below 5m) and memory flat")
    assert "over 72 h" in finding.evidence
    assert "judged from CPU because request counts are not collected" in finding.evidence
    assert finding.suggestion.startswith("scale to 0")


def test_it_does_not_call_a_workload_idle_on_less_than_24_hours() -> None:
    assert idle_workloads([replace(CART, window_hours=23.5)], PRICES) == []
    assert len(idle_workloads([replace(CART, window_hours=24)], PRICES)) == 1


def test_it_does_not_call_a_workload_idle_when_cpu_or_memory_moves() -> None:
    busy = replace(CART, cpu_p95_m=5)
    growing = replace(CART, memory_p95=200 * MIB)
    stopped = replace(CART, replicas=0)

    assert idle_workloads([busy, growing, stopped], PRICES) == []


def test_it_reports_claims_that_no_pod_mounts() -> None:
    [finding] = unmounted_pvcs(PVCS, PRICES, workloads=[REPORTS])

    assert finding.kind == Kind.UNMOUNTED_PVC
    assert finding.target == "shop/old-uploads"
    assert finding.monthly_cost == 5.00  # 50 GiB x $0.10
    assert finding.evidence == "50 GiB claim (storage class gp3) that no pod mounts"
    assert finding.suggestion == "delete the claim after a backup"


def test_it_reports_a_deployment_scaled_to_zero_that_still_holds_storage() -> None:
    [finding] = scaled_to_zero_storage([REPORTS, CART], PVCS, PRICES)

    assert finding.kind == Kind.SCALED_TO_ZERO_STORAGE
    assert finding.target == "finance/reports"
    assert finding.monthly_cost == 2.50  # 25 GiB x $0.10
    assert "reports-data (20 GiB), reports-cache (5 GiB)" in finding.evidence
    assert finding.suggestion.startswith("delete the claim(s) reports-data, reports-cache after")


def test_it_counts_the_claims_of_a_scaled_down_deployment_as_unmounted_without_it() -> None:
    targets = {f.target for f in unmounted_pvcs(PVCS, PRICES)}

    assert targets == {"shop/old-uploads", "finance/reports-data", "finance/reports-cache"}


def test_it_reports_a_node_whose_pods_fit_elsewhere() -> None:
    [finding] = over_provisioned_nodes(NODES, PRICES)

    assert finding.kind == Kind.OVER_PROVISIONED_NODE
    assert finding.target == "node-7"
    assert finding.monthly_cost == 175.20  # 4 x 29.20 + 16 x 3.65
    assert "request 22% of CPU (900m of 4000m)" in finding.evidence
    assert finding.evidence.endswith("fit on the other nodes: shop/c → node-1, shop/d → node-1")
    assert finding.suggestion == "drain and remove node-7"


def test_it_does_not_report_a_node_whose_pods_fit_nowhere_and_says_why() -> None:
    nodes = [node("node-1", pod("a", 3800, 8)), node("node-2", pod("b", 3800, 9)), NODES[2]]

    [plan] = node_removal_plans(nodes, PRICES)

    assert over_provisioned_nodes(nodes, PRICES) == []
    assert plan.node == "node-7"
    assert not plan.fits
    assert plan.reason == (
        "shop/c (500m CPU, 1 GiB) fits on no other node (most free CPU: node-1 with 200m and 8 GiB)"
    )


def test_it_does_not_empty_two_nodes_onto_the_room_of_one() -> None:
    nodes = [node("node-1", pod("a", 3000, 8)), node("node-6", pod("e", 600, 1)), NODES[2]]

    plans = {plan.node: plan for plan in node_removal_plans(nodes, PRICES)}

    assert plans["node-6"].fits
    assert plans["node-6"].placements == (("shop/e", "node-1"),)
    assert not plans["node-7"].fits  # node-6 is gone and node-1 has 400m left


def test_it_never_removes_or_fills_a_control_plane_node() -> None:
    master = node("cp-1", **{"node-role.kubernetes.io/control-plane": ""})

    assert [p.node for p in node_removal_plans([master, node("node-9")], PRICES)] == ["node-9"]
    assert not node_removal_plans([master, node("node-9", pod("x", 100, 1))], PRICES)[0].fits


def test_it_reports_the_unused_share_of_a_namespaces_requests() -> None:
    [finding] = over_requested_namespaces([ETL], PRICES)

    assert finding.kind == Kind.OVER_REQUESTED_NAMESPACE
    assert finding.target == "batch"
    assert finding.monthly_cost == 46.72  # 1600m unused x $29.20; memory is at 75%
    assert finding.evidence == (
        "CPU p95 use is 20% of requests (400m of 2000m); the unused 1600m costs "
        "$46.72/month (threshold 40%)"
    )


def test_it_counts_both_resources_when_both_are_over_requested() -> None:
    [finding] = over_requested_namespaces([replace(ETL, memory_p95=GIB // 2)], PRICES)

    assert finding.monthly_cost == 57.67  # 46.72 + 3 GiB unused x $3.65
    assert "memory p95 use is 25% of requests (1 GiB of 4 GiB)" in finding.evidence


def test_it_finds_all_waste_most_expensive_first_without_counting_twice() -> None:
    findings = find_waste(workloads=[CART, ETL, REPORTS], pvcs=PVCS, nodes=NODES, prices=PRICES)

    assert [(f.kind, f.target, f.monthly_cost) for f in findings] == [
        (Kind.OVER_PROVISIONED_NODE, "node-7", 175.20),
        (Kind.OVER_REQUESTED_NAMESPACE, "batch", 46.72),
        (Kind.IDLE_WORKLOAD, "shop/cart", 18.25),
        (Kind.UNMOUNTED_PVC, "shop/old-uploads", 5.00),
        (Kind.SCALED_TO_ZERO_STORAGE, "finance/reports", 2.50),
    ]
    # Alone, shop/cart makes "shop" over-requested; find_waste reports it once, as idle.
    assert [f.target for f in over_requested_namespaces([CART], PRICES)] == ["shop"]


# A spot row at a quarter of the default: 1 vCPU costs $7.30 a month, 1 GiB of memory $0.9125.
SPOT = Prices(cpu_per_vcpu_hour=0.01, memory_per_gib_hour=0.00125, storage_per_gib_month=0.10)


def test_each_node_and_workload_is_priced_at_its_own_nodes_row_not_the_default() -> None:
    spot_node = replace(NODES[2], prices=SPOT)
    [finding] = over_provisioned_nodes([*NODES[:2], spot_node], PRICES)
    assert finding.target == "node-7" and finding.monthly_cost == 43.80  # 175.20 / 4

    [idle] = idle_workloads([replace(CART, prices=SPOT)], PRICES)
    assert idle.monthly_cost == 4.56  # 18.25 / 4 = 4.5625

    # One namespace, two workloads on differently priced nodes: each unused part at its own.
    etl_spot = replace(ETL, name="etl-spot", prices=SPOT)
    [ns] = over_requested_namespaces([ETL, etl_spot], PRICES)
    assert ns.monthly_cost == 58.40  # 1600m x $29.20 + 1600m x $7.30
    assert "(800m of 4000m)" in ns.evidence
