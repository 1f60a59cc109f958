"""Hourly usage rollups: the histograms they keep, and plans, idle verdicts and events read from
them agree with the same reads over every raw sample. The raw samples before the rollups'
mark are deleted before the second read, so a read that ignored the rollups would fail."""

import math
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from django.db.models import Max, Min

from apps.clusters.models import ContainerSample, NodeSample
from apps.costs import billing, histogram, hours, rollups, selectors
from apps.costs.models import CostHour, CostRollup, RollupMark, UsageRollup
from apps.costs.plans import plan_build
from apps.costs.selectors import allocation_for, waste_report
from apps.costs.usage import usage_read
from apps.costs.waste import Kind as WasteKind
from tests.support.costs import allocation_summary
from tests.support.sandbox import collect_through, sandbox_cluster, start_sandbox
from tests.support.waiting import wait_for

# --- The histograms (pure) --------------------------------------------------------------------

SERIES = {
    "lognormal": np.random.default_rng(3).lognormal(3, 1, 5000),
    "small": np.random.default_rng(4).uniform(0, 5, 300),
    "idle then busy": np.r_[np.zeros(50), np.full(950, 250.0)],
    "memory": np.random.default_rng(5).uniform(200, 900, 2000) * 2**20,
}


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99, 1.0])
def test_a_quantile_is_never_below_its_sample_and_at_most_one_percent_above(name, q):
    values = SERIES[name]
    floor = histogram.MEMORY_FLOOR if name == "memory" else histogram.CPU_FLOOR
    dense = histogram.counts(values, floor)
    exact = np.percentile(values, q * 100)  # linear interpolation, as rightsizing's raw path
    got = histogram.quantile(dense, q, floor, values.max())
    assert exact * (1 - 1e-12) <= got <= max(exact * histogram.GROWTH, floor) * (1 + 1e-12)
    if q == 1.0:
        assert got == values.max()  # capped at the largest sample seen


def test_share_above_counts_at_least_the_samples_above_and_at_most_one_bucket_more():
    values = SERIES["lognormal"]
    dense = histogram.counts(values, histogram.CPU_FLOOR)
    for value in (5.0, 20.0, 100.0, 1e6):
        exact = np.count_nonzero(values > value) / values.size
        band = np.count_nonzero((values > value / histogram.GROWTH) & (values <= value))
        got = histogram.share_above(dense, value, histogram.CPU_FLOOR)
        assert exact <= got <= exact + band / values.size
    assert histogram.share_above(dense, 1e6, histogram.CPU_FLOOR) == 0.0
    assert histogram.share_above(np.zeros(0, dtype=np.int64), 5.0, histogram.CPU_FLOOR) == 0.0


def test_histograms_survive_encoding_and_sum_when_decoded_together():
    a = histogram.counts([0.0, 0.0, 3.0, 250.0], histogram.CPU_FLOOR)
    b = histogram.counts([250.0, 4000.0], histogram.CPU_FLOOR)
    assert np.array_equal(histogram.decode(histogram.encode(a)), a)
    both = histogram.decode([histogram.encode(a), histogram.encode(b)])
    assert np.array_equal(both, histogram.add(a, b))
    assert both.sum() == 6 and both[0] == 2  # the zeros sit in bucket 0
    assert histogram.decode(b"").size == 0 and histogram.quantile(both[:0], 0.95, 1.0, 9) == 0.0
    assert histogram.quantile(histogram.counts([0.0] * 9, 1.0), 0.95, 1.0, 0.0) == 0.0


# --- Reads over rollups agree with raw reads (real PostgreSQL, sandbox over HTTP) -------------


def _drop_raw_before_mark(cluster) -> None:
    """Leave only what a rolled-up read may use: samples after the mark, less the look-back."""
    mark = RollupMark.objects.get(cluster=cluster).rolled_until
    keep = mark - hours.lookback(cluster)
    ContainerSample.objects.filter(cluster=cluster, ts__lte=keep).delete()


@pytest.fixture
def overprovisioned(db, tmp_path):
    server = start_sandbox(tmp_path, "overprovisioned")
    cluster = sandbox_cluster(server)
    yield server, cluster
    server.stop()


def _step_up(millis: int) -> int:
    return 5 * math.ceil(millis * histogram.GROWTH / 5)


@pytest.mark.django_db
def test_a_plan_read_from_rollups_matches_the_plan_over_every_sample(overprovisioned):
    server, cluster = overprovisioned
    collect_through(server, cluster, 250, step=600)
    raw = plan_build(cluster=cluster)
    assert rollups.rollup_cluster(cluster) >= 3
    mark = RollupMark.objects.get(cluster=cluster).rolled_until
    assert mark == hours.floor_hour(cluster.last_cluster_time)
    assert rollups.rollup_cluster(cluster) == 0  # nothing new: nothing rolled twice
    assert not UsageRollup.objects.filter(cluster=cluster, hour__gte=mark).exists()
    _drop_raw_before_mark(cluster)
    rolled = plan_build(cluster=cluster)
    assert [i.key for i in rolled.items] == [i.key for i in raw.items] and raw.items
    for before, after in zip(raw.items, rolled.items, strict=True):
        assert after.change == before.change
        for r1, r2 in zip(before.recommendations, after.recommendations, strict=True):
            assert (r2.samples, r2.history) == (r1.samples, r1.history)
            assert r2.confidence == r1.confidence
            assert r2.current == r1.current
            # Peaks are exact: memory is the same; the CPU p95 may be one 1% bucket higher.
            assert r2.recommended.memory_limit_bytes == r1.recommended.memory_limit_bytes
            cpu1, cpu2 = r1.recommended.cpu_request_millis, r2.recommended.cpu_request_millis
            assert cpu1 <= cpu2 <= _step_up(cpu1)
            assert r2.risk_memory == r1.risk_memory == 0.0
            if cpu2 == cpu1:
                assert r2.savings_per_month == r1.savings_per_month


@pytest.mark.django_db
def test_ooms_and_restarts_are_kept_across_the_rollup_boundary(tmp_path):
    server = start_sandbox(tmp_path, "memory-leak")  # OOM kills from about minute 17
    try:
        cluster = sandbox_cluster(server, name="leak")
        collect_through(server, cluster, 100, step=60)
        raw = {(c.namespace, c.workload, c.container): c for c in usage_read(cluster).containers}
        assert any(c.oom_kills for c in raw.values())
        assert rollups.rollup_cluster(cluster) >= 1
        _drop_raw_before_mark(cluster)
        rolled = {(c.namespace, c.workload, c.container): c for c in usage_read(cluster).containers}
        assert rolled.keys() == raw.keys()
        for key, c in raw.items():
            r = rolled[key]
            assert sorted(k.at for k in r.oom_kills) == sorted(k.at for k in c.oom_kills), key
            assert [k.memory_limit_bytes for k in sorted(r.oom_kills, key=lambda k: k.at)] == [
                k.memory_limit_bytes for k in sorted(c.oom_kills, key=lambda k: k.at)
            ]
            starts = len(r.starts) + (r.history.starts if r.history else 0)
            assert starts == len(c.starts), key
            assert r.current == c.current and r.replicas == c.replicas
    finally:
        server.stop()


@pytest.mark.django_db
def test_idle_verdicts_and_waste_read_from_rollups_match_the_raw_ones(tmp_path):
    server = start_sandbox(tmp_path, "overprovisioned")
    try:
        cluster = sandbox_cluster(server)
        # Collected hourly, and set so: an hour's bill caps its one collection at twice it.
        type(cluster).objects.filter(pk=cluster.pk).update(collect_interval_seconds=3600)
        cluster.refresh_from_db()
        collect_through(server, cluster, 25 * 60, step=3600)
        raw = waste_report(cluster)
        first = ContainerSample.objects.filter(cluster=cluster).aggregate(t=Min("ts"))["t"]
        span = {"since": hours.ceil_hour(first), "until": cluster.last_cluster_time}
        raw_cost = allocation_for(cluster, **span, idle="even")
        assert rollups.rollup_cluster(cluster) >= 20
        # 25 hours cross a UTC midnight: the day before it is merged into day rows, and a read
        # from that day's start takes the day rows plus the hours after them.
        day = UsageRollup.objects.filter(cluster=cluster, hours=24).order_by("hour").first()
        mark = RollupMark.objects.get(cluster=cluster).rolled_until
        assert day is not None and day.hour.hour == 0
        per_pod = set(
            ContainerSample.objects.filter(
                cluster=cluster,
                ts__gte=day.hour,
                ts__lt=mark,
                cpu_m__isnull=False,
                memory__isnull=False,
            )
            .exclude(workload="")
            .values_list("namespace", "workload", "pod", "ts")
        )
        expected: dict = {}
        for ns, wl, _pod, _ts in per_pod:
            expected[(ns, wl)] = expected.get((ns, wl), 0) + 1
        _drop_raw_before_mark(cluster)
        via_days = rollups.read(cluster, day.hour, mark, pods=True)
        # Cost rollups too: the day's rows sum its hours, and allocation reads them.
        assert CostRollup.objects.filter(cluster=cluster, hours=24, hour=day.hour).exists()
        rolled_cost = _said_rolled(allocation_for(cluster, **span, idle="even"))
        assert allocation_summary(rolled_cost) == allocation_summary(raw_cost)
        assert {k: r.history.samples for k, r in via_days.items()} == expected
        rolled = waste_report(cluster)
        assert rolled.covered_hours == raw.covered_hours >= 24
        idle = [f for f in rolled.findings if f.kind == WasteKind.IDLE_WORKLOAD]
        assert [f.target for f in idle] == ["analytics/reporter"]
        assert [(f.kind, f.target) for f in rolled.findings] == [
            (f.kind, f.target) for f in raw.findings
        ]
        for before, after in zip(raw.findings, rolled.findings, strict=True):
            if after.kind == WasteKind.IDLE_WORKLOAD:  # all it requests: exact
                assert after.monthly_cost == before.monthly_cost > 0
            else:  # from p95s at most 1% generous: never more waste, at most ~1% less
                assert before.monthly_cost * 0.98 <= after.monthly_cost <= before.monthly_cost
        reporter = plan_build(cluster=cluster).item("analytics", "reporter")
        assert reporter is not None and reporter.scales_to_zero
    finally:
        server.stop()


def test_rollups_go_with_the_samples_retention(overprovisioned, settings):
    server, cluster = overprovisioned
    collect_through(server, cluster, 130, step=600)
    assert rollups.rollup_cluster(cluster) >= 1
    newest = UsageRollup.objects.filter(cluster=cluster).aggregate(h=Max("hour"))["h"]
    settings.SAMPLE_RETENTION_DAYS = 1
    assert rollups.prune(now=newest + timedelta(hours=2)) == 0  # within the day: all kept
    assert rollups.prune(now=newest + timedelta(days=2, hours=2)) > 0  # day rows too
    assert not UsageRollup.objects.filter(cluster=cluster).exists()
    assert not CostRollup.objects.filter(cluster=cluster).exists()
    assert not CostHour.objects.filter(cluster=cluster).exists()


def test_the_worker_rolls_up_and_the_plan_reads_it(
    celery_worker_process, transactional_db, tmp_path
):
    """The beat task on a real worker: the mark moves and the rows appear."""
    from aiops_site.celery import app

    server = start_sandbox(tmp_path, "overprovisioned")
    try:
        cluster = sandbox_cluster(server)
        collect_through(server, cluster, 130, step=600)
        app.send_task("costs.rollup_usage")
        end = hours.floor_hour(cluster.last_cluster_time)
        wait_for(
            lambda: RollupMark.objects.filter(cluster=cluster, rolled_until=end).exists(),
            timeout=60,
            what="the rollup mark at the last whole hour",
        )
        assert UsageRollup.objects.filter(cluster=cluster, container="").exists()
        plan = plan_build(cluster=cluster)
        assert plan.items and all(r.samples for i in plan.items for r in i.recommendations)
    finally:
        server.stop()


def test_a_clock_that_goes_back_makes_reads_raw_and_the_rollups_rebuild(overprovisioned):
    """A sandbox restarted on the same database starts its clock again: hours already rolled
    get new samples. Reads stop using rollups past the clock, and the next run rebuilds them."""
    server, cluster = overprovisioned
    collect_through(server, cluster, 250, step=600)
    assert rollups.rollup_cluster(cluster) >= 3
    mark = RollupMark.objects.get(cluster=cluster).rolled_until
    earlier = cluster.last_cluster_time - timedelta(hours=3)
    assert rollups.boundary(cluster, earlier - timedelta(days=1), earlier) is None
    assert rollups.boundary(cluster, earlier - timedelta(days=1), cluster.last_cluster_time) == mark
    rows = UsageRollup.objects.filter(cluster=cluster).count()
    type(cluster).objects.filter(pk=cluster.pk).update(last_cluster_time=earlier)
    cluster.refresh_from_db()
    rebuilt = rollups.rollup_cluster(cluster)
    assert RollupMark.objects.get(cluster=cluster).rolled_until == hours.floor_hour(earlier)
    assert rebuilt >= 1 and UsageRollup.objects.filter(cluster=cluster).count() < rows
    later = UsageRollup.objects.filter(cluster=cluster, hour__gte=hours.floor_hour(earlier))
    assert not later.exists()
    assert not CostHour.objects.filter(
        cluster=cluster, hour__gte=hours.floor_hour(earlier)
    ).exists()
    assert CostHour.objects.filter(cluster=cluster).exists()


def _said_rolled(a):
    """The allocation without its note of the part read from the cost rollups (there is one)."""
    said = [n for n in a.notes if n.endswith("read from the hourly cost rollups")]
    assert len(said) == 1, a.notes
    return replace(a, notes=tuple(n for n in a.notes if n not in said))


@pytest.mark.django_db
@pytest.mark.parametrize("idle", ["none", "weighted"])
def test_allocation_read_from_cost_rollups_matches_the_read_of_every_sample(overprovisioned, idle):
    """Ranges that start within an hour and end after the mark or within a rolled hour: the
    raw partial hour, the rolled hours and the raw tail add up to the raw read's figures."""
    server, cluster = overprovisioned
    collect_through(server, cluster, 250, step=600)
    first = ContainerSample.objects.filter(cluster=cluster).aggregate(t=Min("ts"))["t"]
    since = first + timedelta(minutes=7)
    inside = hours.floor_hour(cluster.last_cluster_time) - timedelta(minutes=50)
    ranges = {
        "to the clock": (since, cluster.last_cluster_time),
        "within the rollups": (since, inside),
    }
    # (ending 9 minutes after the last rolled hour's first collection, the tail has one: it
    # bills the rolled hours' interval, not the cluster's configured one)
    raw = {
        name: allocation_for(cluster, since=a, until=b, idle=idle)
        for name, (a, b) in ranges.items()
    }
    assert rollups.rollup_cluster(cluster) >= 3
    start = hours.ceil_hour(since)
    assert CostHour.objects.filter(cluster=cluster, hour__gte=start).count() >= 2
    assert billing.rolled_span(cluster, *ranges["to the clock"])[0] == start
    # Leave the rolled hours without samples (but their first collections, which the partial
    # hour before them bills up to): a read that ignored the rollups would come out short.
    gone = {"cluster": cluster, "ts__gt": start + timedelta(minutes=15)}
    gone["ts__lt"] = hours.floor_hour(ranges["within the rollups"][1])
    assert ContainerSample.objects.filter(**gone).delete()[0] > 0
    assert NodeSample.objects.filter(**gone).delete()[0] > 0
    for name, (a, b) in ranges.items():
        rolled = _said_rolled(allocation_for(cluster, since=a, until=b, idle=idle))
        assert allocation_summary(rolled) == allocation_summary(raw[name]), name
        assert rolled.total > 0 and rolled.workloads
    # Five-minute buckets (ranges up to 3 hours) are read raw: what is left of them.
    short = allocation_for(
        cluster, since=since, until=since + timedelta(hours=2), bucket=timedelta(minutes=5)
    )
    assert short.total < raw["to the clock"].total
    # The allocation guard counts only the samples it reads: those outside the rollups.
    a, b = ranges["to the clock"]
    stop = RollupMark.objects.get(cluster=cluster).rolled_until
    with_rollups = selectors.allocation_samples_estimate(cluster, a, b)
    RollupMark.objects.filter(cluster=cluster).delete()  # reads are raw again: now short
    raw_share = ((start - a) + (b - stop)) / (b - a)
    assert with_rollups == pytest.approx(
        selectors.allocation_samples_estimate(cluster, a, b) * raw_share, rel=0.01
    )
    assert allocation_for(cluster, since=a, until=b).total < raw["to the clock"].total
