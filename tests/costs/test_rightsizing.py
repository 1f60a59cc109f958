"""The rightsizing math on hand-made series (pure: no database, no cluster)."""

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.costs.rightsizing import (
    DEFAULT_POLICY,
    ContainerUsage,
    Hpa,
    NotEnoughHistory,
    OomKill,
    Policy,
    Prices,
    Recommendation,
    Resources,
    recommend,
    recommend_many,
    replay,
)

MiB = 2**20
T0 = 1_700_000_000.0
PRICES = Prices(cpu_per_vcpu_hour=0.04, memory_per_gib_hour=0.005, storage_per_gib_month=0.10)
SET = Resources(cpu_request_millis=1000, memory_request_bytes=1024 * MiB, memory_limit_bytes=2**30)


def usage(cpu, memory, *, step: float = 30.0, timestamps=None, **kwargs) -> ContainerUsage:
    cpu, memory = np.asarray(cpu), np.asarray(memory)
    if cpu.ndim == 0:
        cpu = np.full(memory.shape if memory.ndim else 240, cpu)
    if memory.ndim == 0:
        memory = np.full(cpu.shape, memory)
    if timestamps is None:
        timestamps = T0 + np.arange(cpu.size) * step
    kwargs.setdefault("current", SET)
    return ContainerUsage("shop", "web", "app", timestamps, cpu, memory, **kwargs)


def rec(container: ContainerUsage, policy: Policy = DEFAULT_POLICY) -> Recommendation:
    result = recommend(container, policy, prices=PRICES)
    assert isinstance(result, Recommendation), result
    return result


def test_it_takes_the_p95_of_cpu_rounded_up_to_5m() -> None:
    # 1..200m: linear p95 is 190.05m, rounded up to a 5m step.
    r = rec(usage(np.arange(1, 201), 300 * MiB))
    assert r.recommended.cpu_request_millis == 195
    assert r.recommended.cpu_request == "195m"
    assert "p95 of the CPU samples is 190.05m, rounded up to a 5m step." in r.reasons[0]
    assert r.share_above_cpu_request == 5 / 200  # 196..200m


def test_it_honours_a_configured_percentile() -> None:
    r = rec(usage(np.arange(1, 201), 300 * MiB), Policy(cpu_percentile=50))
    assert r.recommended.cpu_request_millis == 105  # p50 = 100.5m


def test_it_sets_memory_request_and_limit_to_the_peak_plus_15_percent() -> None:
    memory = np.full(240, 500 * MiB)
    memory[100] = 600 * MiB
    r = rec(usage(100, memory))
    assert r.recommended.memory_request_bytes == r.recommended.memory_limit_bytes == 690 * MiB
    assert r.recommended.memory_limit == "690Mi"  # exactly 600 x 1.15: not a step higher


def test_it_rounds_memory_up_to_whole_mib() -> None:
    r = rec(usage(100, 601 * MiB))  # 691.15 MiB
    assert r.recommended.memory_limit == "692Mi"
    r = rec(usage(100, 1024 * MiB + 1))  # one byte over 1Gi: 1177.6 MiB and a bit
    assert r.recommended.memory_limit == "1178Mi"


def test_it_applies_the_floors() -> None:
    r = rec(usage(1, 10 * MiB))
    assert r.recommended.cpu_request == "10m"
    assert r.recommended.memory_limit == "64Mi"
    assert any("raised to the 10m floor" in reason for reason in r.reasons)
    assert "Raised to the 64Mi memory floor." in r.reasons


def test_it_keeps_memory_at_least_the_oom_limit_times_1_25() -> None:
    kills = (OomKill(T0 - 600, 512 * MiB), OomKill(T0 - 300, 256 * MiB))
    r = rec(usage(100, 400 * MiB, oom_kills=kills))  # buffered peak alone: 460Mi
    assert r.recommended.memory_limit == "640Mi"
    assert any("2 OOM kill(s) seen, the highest at a 512Mi limit" in x for x in r.reasons)
    assert r.risk_memory == 0


def test_it_keeps_start_up_spikes_for_memory_and_leaves_them_out_of_cpu() -> None:
    cpu, memory = np.full(240, 100.0), np.full(240, 300 * MiB)
    starts = (T0, T0 + 3600)  # 7 samples each within 3 minutes (0 to 180 s): 14 of 240
    for start in (0, 120):
        cpu[start : start + 7], memory[start : start + 7] = 2000, 900 * MiB
    r = rec(usage(cpu, memory, starts=starts))
    assert r.recommended.cpu_request == "100m"
    assert r.recommended.memory_limit == "1035Mi"  # 900 x 1.15: never below the spike
    assert r.startup_samples == 14
    assert any(x.startswith("14 samples fall within 3 minutes") for x in r.reasons)
    without_starts = rec(usage(cpu, memory))
    assert without_starts.recommended.cpu_request == "2"  # 5.8% of samples at 2000m
    assert without_starts.startup_samples == 0


def test_it_says_how_much_history_is_missing() -> None:
    short = recommend(usage(np.full(41, 100), 300 * MiB), prices=PRICES)
    assert isinstance(short, NotEnoughHistory)
    assert short.message == "needs 40 more minutes of samples"
    assert short.missing_history == timedelta(minutes=40)
    sparse = recommend(usage(np.full(10, 100), 300 * MiB, step=600), prices=PRICES)
    assert sparse.message == "needs 20 more samples"
    both = recommend(usage(np.full(5, 100), 300 * MiB, step=60), prices=PRICES)
    assert both.message == "needs 56 more minutes of samples and 25 more samples"


@pytest.mark.parametrize(
    ("hours", "level", "words"),
    [
        (23, "low", "Low confidence: only 23 hours of history"),
        (48, "medium", "Medium confidence: 2 days of history"),
        (24 * 7, "high", "High confidence: 7 days of history"),
    ],
)
def test_it_grades_confidence_by_history(hours: int, level: str, words: str) -> None:
    timestamps = np.linspace(T0, T0 + hours * 3600, 30)
    r = rec(usage(np.full(30, 100), 300 * MiB, timestamps=timestamps))
    assert r.confidence == level
    assert r.history == timedelta(hours=hours)
    assert r.reasons[-1].startswith(words)


def test_it_computes_monthly_savings_to_the_cent() -> None:
    r = rec(usage(100, 256 * MiB, replicas=3))  # 1 vCPU, 1Gi requested -> 100m, 295Mi
    # now: (1 x 0.04 + 1 x 0.005) x 3 x 730 = 98.55; after: (0.1 x 0.04 + 295/1024 x 0.005)
    # x 3 x 730 = 11.9145...
    assert r.savings_per_month == 86.64
    assert "under-provisioned" not in " ".join(r.findings)


def test_it_reports_an_increase_for_an_under_provisioned_workload() -> None:
    current = Resources(50, None, 128 * MiB, 128 * MiB)
    r = rec(usage(200, 400 * MiB, replicas=2, current=current))  # -> 200m, 460Mi
    # now uses mean usage above the requests: (0.2 x 0.04 + 400/1024 x 0.005) x 1460 = 14.53
    # after: (0.2 x 0.04 + 460/1024 x 0.005) x 1460 = 14.96
    assert r.savings_per_month == -0.43
    assert "under-provisioned: raise requests (+$0.43 a month)" in r.findings


def test_it_recomputes_the_hpa_target_for_the_same_cpu_per_pod() -> None:
    hpa = Hpa(min_replicas=2, max_replicas=10, target_cpu_utilization=50)
    current = Resources(200, None, 512 * MiB, 512 * MiB)
    r = rec(usage(250, 300 * MiB, replicas=4, current=current, hpa=hpa))
    assert r.recommended.cpu_request == "250m"
    assert r.hpa_target == 40  # 50% of 200m = 40% of 250m = 100m per pod
    # Savings use the 4 replicas running now; CPU cost stays at the 250m mean usage, memory
    # goes from 512Mi to 345Mi: 167/1024 x 0.005 x 4 x 730 = 2.381
    assert r.savings_per_month == 2.38


@pytest.mark.parametrize(
    ("request_millis", "target", "usage_millis", "clamped"),
    [(500, 60, 200, 95), (100, 20, 250, 10)],  # 150% -> 95%, 8% -> 10%
)
def test_it_clamps_the_hpa_target(
    request_millis: int, target: int, usage_millis: int, clamped: int
) -> None:
    hpa = Hpa(min_replicas=1, max_replicas=5, target_cpu_utilization=target)
    current = Resources(request_millis, None, 512 * MiB, 512 * MiB)
    r = rec(usage(usage_millis, 300 * MiB, current=current, hpa=hpa))
    assert r.hpa_target == clamped
    assert any(f"is clamped to {clamped}%" in reason for reason in r.reasons)


def test_it_turns_missing_requests_into_findings_and_still_recommends() -> None:
    r = rec(usage(100, 300 * MiB, current=Resources()))
    assert r.findings[:3] == ["no CPU request set", "no memory request set", "no memory limit"]
    assert r.recommended == Resources(100, None, 345 * MiB, 345 * MiB)
    assert r.current.cpu_request is None


def test_it_raises_a_cpu_limit_below_the_new_request_and_never_lowers_one() -> None:
    low = rec(usage(200, 300 * MiB, current=Resources(100, 150, None, None)))
    assert low.recommended.cpu_limit == "200m"
    assert "CPU limit raised from 150m to 200m" in low.reasons[1]
    high = rec(usage(200, 300 * MiB, current=Resources(1000, 2000, None, None)))
    assert high.recommended.cpu_limit == "2"
    assert high.risk_cpu_limit == 0
    assert rec(usage(200, 300 * MiB)).risk_cpu_limit is None  # no limit: nothing throttles


def test_it_has_no_memory_risk_on_its_own_history_and_some_on_a_higher_replay() -> None:
    cpu = np.full(240, 200.0)
    r = rec(usage(cpu, 400 * MiB, current=Resources(100, 150, 512 * MiB, 512 * MiB)))
    assert (r.risk_memory, r.risk_cpu_limit) == (0, 0)
    later_cpu, later_memory = np.full(200, 150.0), np.full(200, 400 * MiB)
    later_memory[:20], later_cpu[:50] = 500 * MiB, 300  # above 460Mi and above the 200m limit
    risk = replay(r, later_cpu, later_memory)
    assert risk.memory == 0.1
    assert risk.cpu_limit == risk.above_cpu_request == 0.25


def test_it_drops_nan_gaps_and_accepts_datetime64_timestamps() -> None:
    cpu = np.full(240, 100.0)
    cpu[5] = np.nan
    stamps = np.datetime64("2024-01-01T00:00:00") + np.arange(240) * np.timedelta64(30, "s")
    c = ContainerUsage("shop", "web", "app", stamps, cpu, np.full(240, 300.0 * MiB), SET)
    assert rec(c).samples == 239


def test_it_sorts_unsorted_samples_before_finding_start_up_spikes() -> None:
    cpu, memory = np.full(240, 100.0), np.full(240, 300 * MiB)
    cpu[:14] = 2000  # the first 7 minutes; only the first 3 are start-up
    in_order = rec(usage(cpu, memory, starts=(T0,)))
    order = np.random.default_rng(7).permutation(240)
    shuffled = ContainerUsage(
        "shop",
        "web",
        "app",
        (T0 + np.arange(240) * 30.0)[order],
        cpu[order],
        memory[order],
        SET,
        starts=(T0,),
    )
    assert rec(shuffled) == in_order
    assert in_order.startup_samples == 7


def test_it_recommends_many_containers_at_once() -> None:
    many = recommend_many([usage(100, 300 * MiB), usage(np.full(3, 1), 1)], prices=PRICES)
    assert [type(x).__name__ for x in many] == ["Recommendation", "NotEnoughHistory"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.001, max_value=64_000, allow_nan=False),
            st.integers(min_value=1, max_value=2**40),
        ),
        min_size=30,
        max_size=300,
    ),
    st.lists(st.floats(min_value=0, max_value=7200), max_size=3),
)
def test_it_never_recommends_below_the_peak_or_the_floors(
    samples: list[tuple[float, int]], starts: list[float]
) -> None:
    cpu, memory = (np.array(column) for column in zip(*samples, strict=True))
    timestamps = np.linspace(T0, T0 + 7200, len(samples))
    starts = tuple(T0 + s for s in starts)
    c = ContainerUsage("ns", "w", "c", timestamps, cpu, memory, starts=starts)
    r = rec(c)
    assert r.recommended.memory_limit_bytes >= max(memory.max(), 64 * MiB)
    assert r.recommended.cpu_request_millis >= 10
    assert r.risk_memory == 0
    assert replay(r, cpu, memory).memory == 0
