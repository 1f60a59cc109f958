"""Rightsizing: per container, requests and a memory limit from its usage history. No Django.

Units everywhere: CPU in millicores (int), memory in bytes (int), time in Unix seconds (or
datetime64 arrays; datetimes for starts). Samples may come unsorted; NaN samples are gaps and
are dropped. Recommendations are also Kubernetes quantities ("250m", "640Mi") formatted by
apps.clusters.quantity.

Rules, with the defaults of `Policy`:
- CPU request = p95 of the CPU samples (linear interpolation, as Prometheus'
  quantile_over_time), leaving out start-up samples: those at most 3 minutes after a container
  start. They are counted and reported.
- Memory request = memory limit = the observed peak (start-up spikes included: never cut below
  one) x 1.15. After OOM kills, memory is at least the highest limit in force at a kill x 1.25.
- Floors: 10m CPU, 64 MiB memory. Rounding: CPU up to 5m steps; memory up to whole MiB (1 MiB is
  the finest step that still reads as "NNNMi"; coarser steps would only add waste).
- A CPU limit is never lowered; one below the new request is raised to it. None is added.
- Minimum history: 1 hour and 30 samples; with less, `NotEnoughHistory` says what is missing.
- Confidence: low under 24 hours of history, medium under 7 days, high from 7 days.
- Risk, replayed over all samples (none left out): the share above the new memory limit (would
  have been OOM-killed), above the new CPU limit if there is one (throttled), and above the new
  CPU request (informational).
- Cost per month = max(request, mean usage) per resource x replicas x price x 730 hours;
  savings = now - after, in dollars rounded to cents; negative means under-provisioned.
- HPA: new CPU target = old target x old request / new request, so pods scale at the same
  absolute CPU; clamped to 10-95%. Savings use the current replica count.
- Older samples may come rolled up (`ContainerUsage.history`, log-bucket histograms with exact
  counts, sums and peaks): the arrays join them; the p95 and the risk shares are then read
  from the buckets, at most 1% generous, and everything else stays exact.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from apps.clusters.quantity import format_cpu, format_memory

from . import histogram
from .prices import HOURS_PER_MONTH
from .prices import Prices as Prices

MiB = 2**20

Confidence = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Resources:
    """Requests and limits in plain units; None means "not set"."""

    cpu_request_millis: int | None = None
    cpu_limit_millis: int | None = None
    memory_request_bytes: int | None = None
    memory_limit_bytes: int | None = None

    @property
    def cpu_request(self) -> str | None:
        return _quantity(self.cpu_request_millis, format_cpu)

    @property
    def cpu_limit(self) -> str | None:
        return _quantity(self.cpu_limit_millis, format_cpu)

    @property
    def memory_request(self) -> str | None:
        return _quantity(self.memory_request_bytes, format_memory)

    @property
    def memory_limit(self) -> str | None:
        return _quantity(self.memory_limit_bytes, format_memory)


@dataclass(frozen=True)
class OomKill:
    at: float | datetime
    memory_limit_bytes: int  # the limit in force when the container was killed


@dataclass(frozen=True)
class Hpa:
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int  # percent of the CPU request


@dataclass(frozen=True)
class History:
    """Samples older than the arrays, kept as hourly rollups (see histogram.py): counts per
    log bucket with exact sums, peaks and counts. Quantiles and risk read from it are at most
    one 1% bucket generous; peaks, means and counts are exact."""

    first: float  # Unix seconds of its first sample
    last: float
    samples: int
    cpu_steady: np.ndarray  # dense counts (histogram.CPU_FLOOR), start-up samples left out
    cpu_startup: np.ndarray
    memory: np.ndarray  # dense counts (histogram.MEMORY_FLOOR), every sample
    cpu_sum: float
    cpu_max: float
    memory_sum: float
    memory_max: int
    startup_samples: int = 0
    startup_cpu_max: float = 0.0
    startup_memory_max: int = 0
    starts: int = 0


@dataclass(frozen=True)
class MemoryFloor:
    """A memory limit the plan must not go below, and why (a fix that raised it lately)."""

    bytes: int
    why: str


@dataclass(frozen=True)
class ContainerUsage:
    namespace: str
    workload: str
    container: str
    timestamps: ArrayLike  # Unix seconds or datetime64
    cpu_millis: ArrayLike
    memory_bytes: ArrayLike
    current: Resources = Resources()
    replicas: int = 1
    oom_kills: Sequence[OomKill] = ()
    starts: Sequence[float | datetime] = ()  # container (re)starts
    hpa: Hpa | None = None
    history: History | None = None  # rolled-up samples before the arrays
    memory_floor: MemoryFloor | None = None


@dataclass(frozen=True)
class Policy:
    cpu_percentile: float = 95.0
    memory_buffer: float = 0.15
    oom_factor: float = 1.25
    startup_window: timedelta = timedelta(minutes=3)
    cpu_floor_millis: int = 10
    memory_floor_bytes: int = 64 * MiB
    cpu_step_millis: int = 5
    memory_step_bytes: int = MiB
    min_history: timedelta = timedelta(hours=1)
    min_samples: int = 30
    hpa_target_min: int = 10
    hpa_target_max: int = 95


@dataclass(frozen=True)
class Risk:
    memory: float  # share of samples above the memory limit: OOM kills
    cpu_limit: float | None  # share above the CPU limit (throttled); None without a limit
    above_cpu_request: float  # informational: CPU above its request borrows idle capacity


@dataclass(frozen=True)
class Recommendation:
    namespace: str
    workload: str
    container: str
    current: Resources
    recommended: Resources
    hpa_target: int | None
    savings_per_month: float
    risk_memory: float
    risk_cpu_limit: float | None
    share_above_cpu_request: float
    confidence: Confidence
    history: timedelta
    samples: int
    startup_samples: int
    reasons: list[str]
    findings: list[str]


@dataclass(frozen=True)
class NotEnoughHistory:
    namespace: str
    workload: str
    container: str
    history: timedelta
    samples: int
    missing_history: timedelta
    missing_samples: int
    message: str  # "needs 40 more minutes of samples"


@dataclass(frozen=True)
class _Stats:
    samples: int
    cpu_raw: float  # the percentile, start-up samples left out
    cpu_mean: float
    memory_peak: int
    memory_mean: float
    startup_samples: int
    startup_cpu_peak: float
    startup_memory_peak: int


DEFAULT_POLICY = Policy()


def recommend(
    container: ContainerUsage, policy: Policy = DEFAULT_POLICY, *, prices: Prices
) -> Recommendation | NotEnoughHistory:
    """Requests and limits for one container, with reasons, risk and savings."""
    ts, cpu, mem = _arrays(container)
    h = container.history
    first = min(h.first, *ts[:1]) if h else (ts[0] if ts.size else 0.0)  # sorted by _arrays
    last = max(h.last, *ts[-1:]) if h else (ts[-1] if ts.size else 0.0)
    n = int(ts.size) + (h.samples if h else 0)
    history_s = float(last - first)
    short = _not_enough(container, history_s, n, policy)
    if short is not None:
        return short
    if h is None:
        stats = _stats(container, ts, cpu, mem, policy)
    else:
        stats, hists = _stats_rolled(container, h, ts, cpu, mem, policy)
    new, reasons = _resources(container, stats, policy)
    hpa_target, hpa_reasons, findings = _hpa(container, new, policy)
    risk = _risk(new, cpu, mem) if h is None else _risk_rolled(new, *hists)
    savings, cost_reason = _savings(container, stats, new, prices)
    if savings < 0:
        findings.append(f"under-provisioned: raise requests (+${-savings:.2f} a month)")
    reasons += [*hpa_reasons, _risk_words(risk), cost_reason]
    confidence, why = _confidence(history_s)
    return Recommendation(
        namespace=container.namespace,
        workload=container.workload,
        container=container.container,
        current=container.current,
        recommended=new,
        hpa_target=hpa_target,
        savings_per_month=savings,
        risk_memory=risk.memory,
        risk_cpu_limit=risk.cpu_limit,
        share_above_cpu_request=risk.above_cpu_request,
        confidence=confidence,
        history=timedelta(seconds=history_s),
        samples=stats.samples,
        startup_samples=stats.startup_samples,
        reasons=[*reasons, why],
        findings=missing_findings(container.current) + findings,
    )


def recommend_many(
    containers: Iterable[ContainerUsage], policy: Policy = DEFAULT_POLICY, *, prices: Prices
) -> list[Recommendation | NotEnoughHistory]:
    """Many containers: a few whole-array numpy passes each (no per-sample Python), so 2,000
    containers x 40k samples take seconds. Rows differ in length and start-up masks, so a
    stacked 2-D batch would save little over this loop."""
    return [recommend(c, policy, prices=prices) for c in containers]


def replay(recommendation: Recommendation, cpu: ArrayLike, memory: ArrayLike) -> Risk:
    """The risk of `recommendation` over another usage series (e.g. later history)."""
    return _risk(recommendation.recommended, np.asarray(cpu), np.asarray(memory))


def _arrays(c: ContainerUsage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts, cpu, mem = _seconds(c.timestamps), np.asarray(c.cpu_millis), np.asarray(c.memory_bytes)
    if not (ts.ndim == 1 and ts.shape == cpu.shape == mem.shape):
        raise ValueError(
            f"{c.namespace}/{c.workload}/{c.container}: timestamps, cpu and memory differ in shape"
        )
    if ts.size > 1 and (ts[1:] < ts[:-1]).any():
        order = np.argsort(ts, kind="stable")
        ts, cpu, mem = ts[order], cpu[order], mem[order]
    if "f" in (cpu.dtype.kind, mem.dtype.kind):  # gaps arrive as NaN: they are no samples
        keep = np.isfinite(cpu) & np.isfinite(mem)
        if not keep.all():
            ts, cpu, mem = ts[keep], cpu[keep], mem[keep]
    return ts, cpu, mem


def _seconds(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]").astype(np.int64) / 1e9
    return arr.astype(float, copy=False)


def _not_enough(
    c: ContainerUsage, history_s: float, n: int, policy: Policy
) -> NotEnoughHistory | None:
    missing_s = max(0.0, policy.min_history.total_seconds() - history_s)
    missing_n = max(0, policy.min_samples - n)
    if not missing_s and not missing_n:
        return None
    needs = []
    if missing_s:
        needs.append(f"{_duration(missing_s, math.ceil, more=True)} of samples")
    if missing_n:
        needs.append(f"{missing_n} more sample{'s' * (missing_n != 1)}")
    return NotEnoughHistory(
        c.namespace,
        c.workload,
        c.container,
        timedelta(seconds=history_s),
        n,
        timedelta(seconds=missing_s),
        missing_n,
        "needs " + " and ".join(needs),
    )


def _startup_mask(ts: np.ndarray, starts: Sequence[float | datetime], window: float) -> np.ndarray:
    """Samples at most `window` seconds after a container start (`ts` is sorted)."""
    mask = np.zeros(ts.shape, dtype=bool)
    for start in starts:  # a handful of starts, each a slice of the sorted samples
        at = start.timestamp() if isinstance(start, datetime) else float(start)
        mask[np.searchsorted(ts, at) : np.searchsorted(ts, at + window, side="right")] = True
    return mask


def _stats(
    c: ContainerUsage, ts: np.ndarray, cpu: np.ndarray, mem: np.ndarray, policy: Policy
) -> _Stats:
    startup = _startup_mask(ts, c.starts, policy.startup_window.total_seconds())
    n_startup = int(np.count_nonzero(startup))
    steady_cpu = cpu[~startup] if 0 < n_startup < cpu.size else cpu
    return _Stats(
        samples=int(ts.size),
        cpu_raw=float(np.percentile(steady_cpu, policy.cpu_percentile)),
        cpu_mean=float(cpu.mean()),
        memory_peak=math.ceil(mem.max()),
        memory_mean=float(mem.mean()),
        startup_samples=n_startup,
        startup_cpu_peak=float(cpu[startup].max()) if n_startup else 0.0,
        startup_memory_peak=math.ceil(mem[startup].max()) if n_startup else 0,
    )


def _stats_rolled(
    c: ContainerUsage, h: History, ts: np.ndarray, cpu: np.ndarray, mem: np.ndarray, policy
) -> tuple[_Stats, tuple[np.ndarray, np.ndarray]]:
    """The stats of rolled-up history plus the recent arrays: the arrays join the histograms
    (CPU p95 from buckets, at most 1% generous); counts, means and peaks stay exact. Also the
    merged CPU (every sample) and memory histograms, for the risk."""
    startup = _startup_mask(ts, c.starts, policy.startup_window.total_seconds())
    steady = histogram.add(h.cpu_steady, histogram.counts(cpu[~startup], histogram.CPU_FLOOR))
    cpu_all = histogram.add(
        histogram.add(steady, h.cpu_startup), histogram.counts(cpu[startup], histogram.CPU_FLOOR)
    )
    memory = histogram.add(h.memory, histogram.counts(mem, histogram.MEMORY_FLOOR))
    n = h.samples + int(ts.size)
    n_startup = h.startup_samples + int(np.count_nonzero(startup))
    cpu_max = max(h.cpu_max, float(cpu.max()) if cpu.size else 0.0)
    if not steady.sum():  # every sample is a start-up one: use them all, as _stats does
        steady = cpu_all
    stats = _Stats(
        samples=n,
        cpu_raw=histogram.quantile(
            steady, policy.cpu_percentile / 100, histogram.CPU_FLOOR, cpu_max
        ),
        cpu_mean=(h.cpu_sum + float(cpu.sum())) / n,
        memory_peak=math.ceil(max(h.memory_max, float(mem.max()) if mem.size else 0.0)),
        memory_mean=(h.memory_sum + float(mem.sum())) / n,
        startup_samples=n_startup,
        startup_cpu_peak=max(h.startup_cpu_max, float(cpu[startup].max()) if startup.any() else 0),
        startup_memory_peak=math.ceil(
            max(h.startup_memory_max, float(mem[startup].max()) if startup.any() else 0)
        ),
    )
    return stats, (cpu_all, memory)


def _resources(c: ContainerUsage, s: _Stats, policy: Policy) -> tuple[Resources, list[str]]:
    cpu, cpu_reason = _cpu_request(s, policy)
    memory, memory_limit, memory_reasons = _memory(c, s, policy)
    cpu_limit, limit_reason = _cpu_limit(c.current.cpu_limit_millis, cpu)
    reasons = [cpu_reason, limit_reason, *memory_reasons]
    if s.startup_samples:
        window = _duration(policy.startup_window.total_seconds())
        reasons.append(
            f"{s.startup_samples} samples fall within {window} of a "
            f"container start ({_starts(c)} starts): their memory (up to "
            f"{_mib(s.startup_memory_peak)}) counts towards the peak, their CPU (up to "
            f"{s.startup_cpu_peak:.0f}m) is left out of the p{policy.cpu_percentile:g}."
        )
    return Resources(cpu, cpu_limit, memory, memory_limit), reasons


def _cpu_request(s: _Stats, policy: Policy) -> tuple[int, str]:
    # Rounded to a millionth of a millicore first, so float noise (100.00000000000001) does not
    # push a value that sits on a step up to the next one.
    stepped = _ceil_step(Fraction(round(s.cpu_raw, 6)), policy.cpu_step_millis)
    value = max(policy.cpu_floor_millis, stepped)
    left_out = " (start-up samples left out)" if s.startup_samples else ""
    why = (
        f"CPU request {format_cpu(value)}: p{policy.cpu_percentile:g} of the CPU samples"
        f"{left_out} is {round(s.cpu_raw, 2):g}m"
    )
    if value > stepped:
        return value, f"{why}, raised to the {format_cpu(value)} floor."
    return value, f"{why}, rounded up to a {policy.cpu_step_millis}m step."


def _memory(c: ContainerUsage, s: _Stats, policy: Policy) -> tuple[int, int, list[str]]:
    """(request, limit, reasons). Both are the peak plus the buffer, at least the OOM floor;
    the limit is never below a limit a fix set lately (c.memory_floor), so the plan never
    undoes healing."""
    step = policy.memory_step_bytes
    buffered = _ceil_step(s.memory_peak * (1 + Fraction(str(policy.memory_buffer))), step)
    oom_limit = max((k.memory_limit_bytes for k in c.oom_kills), default=0)
    oom_floor = _ceil_step(oom_limit * Fraction(str(policy.oom_factor)), step)
    value = max(policy.memory_floor_bytes, buffered, oom_floor)
    raised = c.memory_floor.bytes if c.memory_floor else 0
    limit = max(value, raised)
    spike = (
        " (a start-up spike)"
        if s.startup_samples and s.startup_memory_peak == s.memory_peak
        else ""
    )
    reasons = [
        f"Memory request and limit {format_memory(value)}: the peak{spike} is "
        f"{_mib(s.memory_peak)}; with a {policy.memory_buffer:.0%} buffer, rounded up to whole "
        f"MiB, that is {format_memory(buffered)}."
    ]
    if c.oom_kills:
        reasons.append(
            f"{len(c.oom_kills)} OOM kill(s) seen, the highest at a {format_memory(oom_limit)} "
            f"limit: memory stays at least {policy.oom_factor:g} x that, "
            f"{format_memory(oom_floor)}."
        )
    if value == policy.memory_floor_bytes > max(buffered, oom_floor):
        reasons.append(f"Raised to the {format_memory(value)} memory floor.")
    if limit > value:
        reasons.append(
            f"Memory limit kept at {format_memory(limit)}, not cut to {format_memory(value)}: "
            f"{c.memory_floor.why}."
        )
    return value, limit, reasons


def _cpu_limit(current: int | None, request: int) -> tuple[int | None, str]:
    if current is None:
        return None, "No CPU limit is set and none is added."
    if current < request:
        return request, (
            f"CPU limit raised from {format_cpu(current)} to {format_cpu(request)}: "
            "a limit cannot be below the request."
        )
    return current, f"CPU limit {format_cpu(current)} kept: limits are never lowered."


def _hpa(
    c: ContainerUsage, new: Resources, policy: Policy
) -> tuple[int | None, list[str], list[str]]:
    """The new CPU target (and reasons, findings) so pods scale at the same absolute CPU."""
    if c.hpa is None:
        return None, [], []
    old_target, old_request = c.hpa.target_cpu_utilization, c.current.cpu_request_millis
    if not old_request:
        finding = "HPA scales on CPU utilization but no CPU request is set"
        return old_target, [f"HPA target {old_target}% kept."], [finding]
    new_request = new.cpu_request_millis or 1
    raw = old_target * old_request / new_request
    target = min(max(round(raw), policy.hpa_target_min), policy.hpa_target_max)
    why = (
        f"HPA target {old_target}% -> {target}%: it scaled at {old_target}% of "
        f"{format_cpu(old_request)} = {old_target * old_request / 100:g}m per pod"
    )
    if target != round(raw):
        why += (
            f"; {raw:.0f}% would keep that but is clamped to {target}%, so pods now scale at "
            f"{target * new_request / 100:g}m"
        )
    span = f"{c.hpa.min_replicas}-{c.hpa.max_replicas}"
    return target, [f"{why}. Savings use the {c.replicas} replicas running now (HPA {span})."], []


def _risk(new: Resources, cpu: np.ndarray, mem: np.ndarray) -> Risk:
    limit = new.cpu_limit_millis
    return Risk(
        memory=_share(mem > new.memory_limit_bytes),
        cpu_limit=None if limit is None else _share(cpu > limit),
        above_cpu_request=_share(cpu > new.cpu_request_millis),
    )


def _risk_rolled(new: Resources, cpu: np.ndarray, memory: np.ndarray) -> Risk:
    """As _risk, from merged histograms: a bucket straddling a limit counts as above it."""
    limit, floor = new.cpu_limit_millis, histogram.CPU_FLOOR
    return Risk(
        memory=histogram.share_above(memory, new.memory_limit_bytes, histogram.MEMORY_FLOOR),
        cpu_limit=None if limit is None else histogram.share_above(cpu, limit, floor),
        above_cpu_request=histogram.share_above(cpu, new.cpu_request_millis, floor),
    )


def _starts(c: ContainerUsage) -> int:
    """Starts seen: with rolled-up history, its count plus those within the arrays (a start
    just before them only masks their first samples; the history counted it)."""
    if c.history is None:
        return len(c.starts)
    ts = _seconds(c.timestamps)
    first = ts.min() if ts.size else math.inf
    return c.history.starts + sum(1 for s in c.starts if _at(s) >= first)


def _at(start: float | datetime) -> float:
    return start.timestamp() if isinstance(start, datetime) else float(start)


def _risk_words(risk: Risk) -> str:
    throttled = (
        "there is no CPU limit, so nothing is throttled"
        if risk.cpu_limit is None
        else f"{risk.cpu_limit:.1%} would have been throttled by the CPU limit"
    )
    return (
        f"Replayed over the history: {risk.memory:.1%} of samples exceed the memory limit "
        f"(OOM kill); {throttled}; {risk.above_cpu_request:.1%} use more CPU than the request "
        "(allowed: they borrow idle CPU)."
    )


def _savings(c: ContainerUsage, s: _Stats, new: Resources, prices: Prices) -> tuple[float, str]:
    def cost(cpu_request: int | None, memory_request: int | None) -> float:
        cpu, memory = max(cpu_request or 0, s.cpu_mean), max(memory_request or 0, s.memory_mean)
        return prices.compute_month(cpu, memory) * c.replicas

    now = cost(c.current.cpu_request_millis, c.current.memory_request_bytes)
    after = cost(new.cpu_request_millis, new.memory_request_bytes)
    savings = round(now - after, 2)
    verdict = f"saves ${savings:.2f}" if savings >= 0 else f"costs ${-savings:.2f} more"
    return savings, (
        f"Cost of {c.replicas} replica(s), the larger of request and mean usage per resource over "
        f"{HOURS_PER_MONTH} hours: ${now:.2f} a month now, ${after:.2f} after; {verdict} a month."
    )


def _confidence(history_s: float) -> tuple[Confidence, str]:
    span = _duration(history_s)
    if history_s < 24 * 3600:
        return "low", f"Low confidence: only {span} of history, less than one daily cycle."
    if history_s < 7 * 24 * 3600:
        return "medium", f"Medium confidence: {span} of history cover daily cycles, not a week."
    return "high", f"High confidence: {span} of history cover at least one whole week."


def missing_findings(current: Resources) -> list[str]:
    missing = (
        (current.cpu_request_millis, "no CPU request set"),
        (current.memory_request_bytes, "no memory request set"),
        (current.memory_limit_bytes, "no memory limit"),
    )
    return [finding for value, finding in missing if value is None]


def _ceil_step(value: Fraction | int, step: int) -> int:
    return int(-(-value // step) * step)


def _share(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask) / mask.size) if mask.size else 0.0


def _duration(seconds: float, rnd: Callable[[float], float] = round, *, more: bool = False) -> str:
    """In words: "40 minutes", "5 hours", "14 days"; `more` gives "40 more minutes"."""
    unit, size = ("minute", 60) if seconds < 7200 else ("hour", 3600)
    if seconds >= 172800:
        unit, size = "day", 86400
    n = int(rnd(seconds / size))
    return f"{n} {'more ' * more}{unit}{'s' * (n != 1)}"


def _mib(num_bytes: float) -> str:
    return f"{num_bytes / MiB:.1f}Mi"


def _quantity(value: int | None, fmt: Callable[[int], str]) -> str | None:
    return None if value is None else fmt(value)
