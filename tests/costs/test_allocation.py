"""Cost allocation on hand-made samples with answers worked out by hand.

Two nodes: `od` on-demand (2 vCPU, 4 GiB at $0.04 per vCPU-hour and $0.004 per GiB-hour: $0.096
an hour) and `spot` (1 vCPU, 2 GiB at $0.01 and $0.001: $0.012 an hour). Collections every hour
at 00:00, 01:00, 02:00, then a gap to 06:00, then 07:00: the median interval is 1 h, so the gap
is billed as 2 h and the last collection as 1 h: 6 hours in all.

- shop/web-1 on od: requests 500m and 1 GiB, uses 250m and 0.5 GiB -> $0.024 an hour
- shop/web-2 on spot: requests 500m and 1 GiB, uses 800m (above its request) and 0.5 GiB
  -> 0.8 x 0.01 + 1 x 0.001 = $0.009 an hour
- batch/job-1 on od: no requests, uses 100m and 0.25 GiB -> 0.004 + 0.001 = $0.005 an hour
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from apps.costs.allocation import allocate, bill, combine
from apps.costs.prices import GiB, Prices
from tests.support.costs import allocation_summary

T0 = datetime(2026, 1, 5, tzinfo=UTC)
HOURS = [0, 1, 2, 6, 7]
ON_DEMAND = Prices(Decimal("0.04"), Decimal("0.004"), Decimal("0.10"))
SPOT = Prices(Decimal("0.01"), Decimal("0.001"), Decimal("0.10"))
PRICES = {"od": ON_DEMAND, "spot": SPOT}
CENT = 1e-9


def _at(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def _containers(rows=None, hours=HOURS) -> pd.DataFrame:
    rows = rows or [
        ("shop", "web", "web-1", "app", "od", 250, 0.5 * GiB, 500, GiB),
        ("shop", "web", "web-2", "app", "spot", 800, 0.5 * GiB, 500, GiB),
        ("batch", "", "job-1", "main", "od", 100, 0.25 * GiB, None, None),
    ]
    cols = [
        "namespace",
        "workload",
        "pod",
        "container",
        "node",
        "cpu_m",
        "memory",
        "request_cpu_m",
        "request_memory",
    ]
    return pd.DataFrame(
        [{"ts": _at(h), **dict(zip(cols, r, strict=True))} for h in hours for r in rows]
    )


def _nodes(hours=HOURS, nodes=(("od", 2000, 4 * GiB), ("spot", 1000, 2 * GiB))) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"ts": _at(h), "node": n, "allocatable_cpu_m": cpu, "allocatable_memory": mem}
            for h in hours
            for n, cpu, mem in nodes
        ]
    )


def _by_name(items) -> dict:
    return {i.name: i for i in items}


def test_it_bills_max_of_request_and_usage_at_each_nodes_price():
    a = allocate(_containers(), _nodes(), PRICES)
    pods = _by_name(a.pods)
    assert pods["shop/web-1"].total == pytest.approx(0.024 * 6, abs=CENT)
    assert pods["shop/web-2"].cpu == pytest.approx(0.8 * 0.01 * 6, abs=CENT)  # usage > request
    assert pods["shop/web-2"].total == pytest.approx(0.009 * 6, abs=CENT)
    assert pods["batch/job-1"].total == pytest.approx(0.005 * 6, abs=CENT)
    ns = _by_name(a.namespaces)
    assert ns["shop"].total == pytest.approx(0.198, abs=CENT)
    assert ns["batch"].total == pytest.approx(0.03, abs=CENT)
    assert [n.name for n in a.namespaces] == ["shop", "batch"]  # most expensive first
    assert a.allocated == pytest.approx(0.228, abs=CENT)
    assert a.node_cost == pytest.approx((0.096 + 0.012) * 6, abs=CENT)


def test_it_rolls_containers_up_to_workloads_and_a_bare_pod_is_its_own_workload():
    a = allocate(_containers(), _nodes(), PRICES)
    workloads = _by_name(a.workloads)
    assert set(workloads) == {"shop/web", "batch/job-1"}
    assert workloads["shop/web"].total == pytest.approx(0.198, abs=CENT)
    assert {c.name for c in a.containers} == {
        "shop/web-1/app",
        "shop/web-2/app",
        "batch/job-1/main",
    }
    assert sum(c.total for c in a.containers) == pytest.approx(a.allocated, abs=CENT)


def test_it_caps_a_gap_at_twice_the_median_interval_and_says_so():
    a = allocate(_containers(), _nodes(), PRICES)
    assert a.interval == timedelta(hours=1)
    assert _by_name(a.pods)["shop/web-1"].hours == pytest.approx(6)  # not 2 + 4 + 1 + 1
    assert a.missing == (
        "no samples from 2026-01-05 02:00:00 UTC to 2026-01-05 06:00:00 UTC "
        "(4.0 h; billed as 2.0 h)",
    )
    assert (a.covered_from, a.covered_until) == (_at(0), _at(8))


def test_it_reports_the_range_it_could_not_cover_and_stops_billing_at_until():
    a = allocate(_containers(), _nodes(), PRICES, since=_at(-5), until=_at(7.5))
    assert a.missing[0] == "no samples before 2026-01-05 00:00:00 UTC"
    assert a.covered_until == _at(7.5)
    assert _by_name(a.pods)["shop/web-1"].hours == pytest.approx(5.5)


def test_idle_is_node_cost_minus_allocated_per_resource():
    a = allocate(_containers(), _nodes(), PRICES)
    nodes = _by_name_node(a.nodes)
    # od: CPU 0.08 - (0.02 + 0.004), memory 0.016 - (0.004 + 0.001) = $0.067 an hour
    assert nodes["od"].idle == pytest.approx(0.067 * 6, abs=CENT)
    # spot: CPU 0.01 - 0.008, memory 0.002 - 0.001 = $0.003 an hour
    assert nodes["spot"].idle == pytest.approx(0.003 * 6, abs=CENT)
    assert a.idle == pytest.approx(0.42, abs=CENT)
    assert a.allocated + a.idle == pytest.approx(a.node_cost, abs=CENT)
    assert a.total == pytest.approx(0.648, abs=CENT)
    assert a.idle_share == pytest.approx(0.42 / 0.648)
    assert a.over_allocated == 0 and a.notes == ()
    assert a.idle_unshared == pytest.approx(0.42, abs=CENT)  # none: its own line


def _by_name_node(nodes) -> dict:
    return {n.node: n for n in nodes}


def test_idle_is_never_negative_and_over_allocation_is_reported():
    rows = [("shop", "web", "web-1", "app", "spot", 100, 0.5 * GiB, 1500, 0.5 * GiB)]
    a = allocate(_containers(rows), _nodes(nodes=(("spot", 1000, 2 * GiB),)), PRICES)
    spot = a.nodes[0]
    # CPU: 1.5 vCPU billed on a 1-vCPU node: 0.005 an hour over, no CPU idle;
    # memory: 2 GiB - 0.5 GiB = 1.5 x 0.001 = 0.0015 an hour idle
    assert spot.idle == pytest.approx(0.0015 * 6, abs=CENT)
    assert spot.over_allocated == pytest.approx(0.005 * 6, abs=CENT)
    assert a.allocated + a.idle - a.over_allocated == pytest.approx(a.node_cost, abs=CENT)
    assert "node spot: requests and usage exceeded its allocatable capacity" in a.notes[0]


@pytest.mark.parametrize("mode", ["even", "weighted"])
def test_shared_idle_adds_up_to_the_idle_total(mode):
    a = allocate(_containers(), _nodes(), PRICES, idle=mode)
    assert sum(n.idle for n in a.namespaces) == pytest.approx(a.idle, abs=CENT)
    assert sum(n.total for n in a.namespaces) == pytest.approx(a.total, abs=CENT)
    assert a.idle_unshared == pytest.approx(0, abs=CENT)
    ns = _by_name(a.namespaces)
    if mode == "even":
        assert ns["shop"].idle == pytest.approx(0.21, abs=CENT)
        assert ns["batch"].idle == pytest.approx(0.21, abs=CENT)
    else:
        assert ns["shop"].idle == pytest.approx(0.42 * 0.198 / 0.228, abs=CENT)
        assert ns["batch"].idle == pytest.approx(0.42 * 0.03 / 0.228, abs=CENT)


def test_efficiency_is_usage_over_request_and_none_without_requests():
    a = allocate(_containers(), _nodes(), PRICES)
    web = _by_name(a.workloads)["shop/web"]
    assert web.cpu_efficiency == pytest.approx((250 + 800) / 1000)
    assert web.memory_efficiency == pytest.approx(0.5)
    assert web.flags == ()
    job = _by_name(a.workloads)["batch/job-1"]
    assert job.cpu_efficiency is None and job.memory_efficiency is None
    assert job.flags == ("no requests",)


def test_the_series_is_cost_by_namespace_per_hourly_bucket_with_idle_apart():
    a = allocate(_containers(), _nodes(), PRICES)
    s = a.series
    assert s.starts == tuple(_at(h) for h in HOURS)
    assert s.hours == pytest.approx((1, 1, 2, 1, 1))
    assert s.per_hour(s.namespaces["shop"]) == pytest.approx([0.033] * 5)
    assert s.per_hour(s.idle) == pytest.approx([0.07] * 5)
    assert sum(s.namespaces["batch"]) == pytest.approx(0.03, abs=CENT)
    wide = allocate(_containers(), _nodes(), PRICES, bucket=timedelta(hours=4))
    assert wide.series.starts == (_at(0), _at(4))
    assert sum(wide.series.idle) == pytest.approx(a.idle, abs=CENT)


def test_unscheduled_containers_are_not_billed_and_unknown_nodes_take_the_default():
    rows = [
        ("shop", "web", "web-1", "app", "od", 250, 0.5 * GiB, 500, GiB),
        ("shop", "web", "web-3", "app", "", None, None, 500, GiB),
    ]
    a = allocate(_containers(rows), _nodes(), {"spot": SPOT}, default=ON_DEMAND)
    assert a.allocated == pytest.approx(0.024 * 6, abs=CENT)
    assert "5 sample(s) of containers without a node are not billed" in a.notes
    assert "priced at the default row (labels unknown): od" in a.notes
    with pytest.raises(ValueError, match="no prices for node od"):
        allocate(_containers(rows), _nodes(), {"spot": SPOT})


def test_only_unscheduled_samples_bill_nothing_and_say_so():
    rows = [("shop", "web", "web-3", "app", "", None, None, 500, GiB)]
    a = allocate(_containers(rows), _nodes().iloc[:0], {})
    assert a.total == 0 and a.nodes == () and a.workloads == ()
    assert a.notes == ("5 sample(s) of containers without a node are not billed",)


def test_no_samples_says_so():
    empty_c = _containers().iloc[:0]
    a = allocate(empty_c, _nodes().iloc[:0], PRICES, since=_at(0), until=_at(1))
    assert a.empty and a.total == 0
    assert a.missing == ("no samples from 2026-01-05 00:00:00 UTC to 2026-01-05 01:00:00 UTC",)


def test_categorical_columns_give_the_same_answer():
    c = _containers()
    for col in ("namespace", "workload", "pod", "container", "node"):
        c[col] = c[col].astype("category")
    a, b = allocate(c, _nodes(), PRICES), allocate(_containers(), _nodes(), PRICES)
    assert [(x.name, round(x.total, 9)) for x in a.pods] == [
        (x.name, round(x.total, 9)) for x in b.pods
    ]


# --- Bills of consecutive hours add up to the bill of the whole range ---------------------------


def _busy_range(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seven hours of 5-minute collections: pods that come and go, a node that is over-allocated
    at times and missing for a while, a 105-minute gap, unscheduled samples."""
    rng = np.random.default_rng(seed)
    times = [T0 + timedelta(minutes=5 * i + 2) for i in range(84) if not 30 <= i < 50]
    c_rows, n_rows = [], []
    for i, ts in enumerate(times):
        for n, cpu, mem in (("od", 2000, 4 * GiB), ("spot", 1000, 2 * GiB)):
            if n == "spot" and 10 <= i < 14:
                continue  # pods ran on it without a sample of the node
            n_rows.append((ts, n, cpu, mem))
        for p in range(6):
            if (p + i) % 9 == 0:
                continue  # churn: each pod misses some collections
            node = ("od", "spot", "")[p % 3] if p != 5 else "spot"
            use = rng.uniform(0, 900), rng.uniform(0.1, 1.5) * GiB
            req = (500, GiB) if p % 2 else (None, None)
            c_rows.append(
                (
                    ts,
                    ("shop", "batch")[p % 2],
                    f"w{p // 2}",
                    f"w{p // 2}-{p}",
                    "app",
                    node,
                    *use,
                    *req,
                )
            )
    containers = pd.DataFrame(
        c_rows,
        columns=[
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
        ],
    )
    nodes = pd.DataFrame(n_rows, columns=["ts", "node", "allocatable_cpu_m", "allocatable_memory"])
    return containers, nodes


def _hourly_bills(containers, nodes, hours: int, interval: timedelta, until=None) -> list:
    """Each hour from T0 billed on its own, as rollup_cluster bills it: its samples, and the
    time of the next collection after it."""
    bills = []
    for h in range(hours):
        start, end = T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)
        later = containers["ts"][containers["ts"] >= end]
        bills.append(
            bill(
                containers[(containers["ts"] >= start) & (containers["ts"] < end)],
                nodes[(nodes["ts"] >= start) & (nodes["ts"] < end)],
                slot=timedelta(hours=1),
                interval=interval,
                until=until,
                end=end,
                after=later.min() if len(later) else None,
            )
        )
    return bills


@pytest.mark.parametrize("idle", ["none", "even", "weighted"])
def test_hourly_bills_combined_give_the_allocation_of_the_whole_range(idle):
    containers, nodes = _busy_range()
    since, until = T0, T0 + timedelta(hours=7)
    whole = allocate(
        containers,
        nodes,
        PRICES,
        idle=idle,
        since=since,
        until=until,
        interval=timedelta(minutes=5),
    )
    bills = _hourly_bills(containers, nodes, 7, timedelta(minutes=5), until=until)
    assert sum(b is None for b in bills) == 1  # the hour inside the gap has no collection
    parts = combine(bills, PRICES, idle=idle, since=since, until=until)
    assert allocation_summary(parts) == allocation_summary(whole)
    assert len(whole.missing) == 1 and "(105 min; billed as 10 min)" in whole.missing[0]
    assert any("without a sample of the node" in n for n in whole.notes)
    assert whole.over_allocated > 0 and whole.idle > 0


@pytest.mark.parametrize("before_outage", [1, 2])
def test_an_hour_cut_short_by_an_outage_bills_the_cap_not_the_outage(before_outage):
    """One or two collections, then nothing for 4 hours: the hour's bill caps its last
    collection at twice the interval and reports the gap, as the read of every sample does."""
    times = [T0 + timedelta(seconds=30 * i) for i in range(120)]  # 00:00 to 00:59:30
    times += [T0 + timedelta(hours=1, seconds=30 * i) for i in range(before_outage)]
    times += [T0 + timedelta(hours=5, seconds=30 * i) for i in range(120)]
    rows = [("shop", "web", "web-1", "app", "od", 250, 0.5 * GiB, 500, GiB)]
    containers = _containers(rows, hours=[(t - T0).total_seconds() / 3600 for t in times])
    nodes = _nodes(hours=[(t - T0).total_seconds() / 3600 for t in times])
    whole = allocate(containers, nodes, PRICES, interval=timedelta(seconds=30))
    bills = _hourly_bills(containers, nodes, 6, timedelta(seconds=30))
    parts = combine(bills, PRICES)
    assert allocation_summary(parts) == allocation_summary(whole)
    assert len(whole.missing) == 1 and "billed as 60 s" in whole.missing[0]
    assert whole.node_cost == pytest.approx(0.108 * (241 + before_outage) / 120, abs=CENT)
