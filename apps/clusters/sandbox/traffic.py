"""The golden signals of each Deployment as if it served requests behind a Service: request
rate, error ratio and latency, responding to faults the way a real service does.

- Demand follows the workload's daily cycle: RPS_PER_REPLICA per desired replica at the mean.
- Capacity is the ready pods that can be reached (a partitioned or lossy pod's share is lost)
  times what one pod serves, less when its CPU is throttled (a CPU ramp or stress).
- Latency is a fixed part (network delay from NetworkChaos) plus an exponential part whose mean
  rises with CPU throttling (`prometheus.latency_seconds`) and with queueing as the load nears
  capacity.
- Errors: requests beyond capacity fail (503s, past saturation), and so does the lost share of
  a lossy network; with no reachable pod every request fails.

Counters are cumulative over cluster time: each scrape adds what was served since the last one
at the current rates (piecewise constant between scrapes), so Prometheus's `rate()` and
`histogram_quantile()` read them as from any instrumented service.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime

from .kubelet import daily

RPS_PER_REPLICA = 20.0  # demand at the daily mean, per desired replica
POD_CAPACITY = 50.0  # requests/s one ready, unthrottled pod serves
BASE_LATENCY = 0.05  # seconds, mean, on an idle service
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_QUEUEING = 10.0  # latency multiplier at (or past) saturation


@dataclass(frozen=True)
class Signals:
    rate: float  # requests/s
    error_ratio: float
    fixed_latency: float  # seconds every request waits (network delay)
    mean_latency: float  # seconds, mean of the variable part


@dataclass
class Totals:
    """One workload's cumulative counters."""

    at: datetime
    ok: float = 0.0
    errors: float = 0.0
    seconds: float = 0.0
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))

    @property
    def count(self) -> float:
        return self.ok + self.errors


def signals(sb, dep: dict) -> Signals:
    meta, spec, status = dep["metadata"], dep.get("spec", {}), dep.get("status", {})
    workload = f"{meta['namespace']}/{meta['name']}"
    profile = sb.profiles.get(workload)
    amplitude = profile.daily_amplitude if profile else 0.0
    demand = RPS_PER_REPLICA * max(1, int(spec.get("replicas", 1))) * daily(sb.now, amplitude)
    reachable = int(status.get("readyReplicas", 0) or 0) * (1.0 - sb.packet_loss.get(workload, 0))
    throttle = max(1.0, profile.factor(sb.now)) if profile else 1.0
    capacity = reachable * POD_CAPACITY / throttle
    if capacity <= 0:
        return Signals(demand, 1.0 if demand > 0 else 0.0, 0.0, BASE_LATENCY)
    load = demand / capacity
    overflow = max(0.0, load - 1.0) / load if load > 0 else 0.0
    lost = sb.packet_loss.get(workload, 0.0)
    error_ratio = 1.0 - (1.0 - overflow) * (1.0 - lost)
    queueing = min(MAX_QUEUEING, 1.0 / max(1.0 - min(load, 1.0), 1.0 / MAX_QUEUEING))
    fixed = sb.latency_extra.get(workload, 0.0)
    variable = BASE_LATENCY * throttle_slowdown(throttle) * queueing
    return Signals(demand, min(1.0, error_ratio), fixed, variable)


def throttle_slowdown(throttle: float) -> float:
    """Responses slow as demand exceeds the CPU limit (as prometheus.latency_seconds)."""
    return 1 + max(0.0, throttle - 1.0) ** 2 * 4


def advance(totals: Totals | None, s: Signals, now: datetime) -> Totals:
    """The counters at `now`, having served at `s` since they were last advanced."""
    if totals is None:
        return Totals(at=now)
    dt = max(0.0, (now - totals.at).total_seconds())
    n = s.rate * dt
    totals.errors += n * s.error_ratio
    totals.ok += n * (1 - s.error_ratio)
    totals.seconds += n * (s.fixed_latency + s.mean_latency)
    for i, le in enumerate(BUCKETS):
        totals.buckets[i] += n * share_within(le, s)
    totals.at = now
    return totals


def share_within(le: float, s: Signals) -> float:
    """P(latency <= le) for fixed + Exponential(mean)."""
    if le <= s.fixed_latency:
        return 0.0
    return 1.0 - math.exp(-(le - s.fixed_latency) / max(s.mean_latency, 1e-9))
