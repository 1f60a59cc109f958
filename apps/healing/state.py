"""The cluster state the detectors read, as plain values (selectors build it from the
collector's rows). Pure."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# How an incident lives (healing/services.py; benchmarks/alarms.py replays the same rules).
CLEAR_AFTER = timedelta(minutes=3)  # not seen for this long: it cleared
REOPEN_WINDOW = timedelta(minutes=15)  # back this soon after resolving: the same incident
# A forecast reaches a person only when it persists: high or critical in at least RISK_K of
# the last RISK_N scoring runs (one run alone is noise). Once its incident is open, a risk
# still at medium or more keeps it (hysteresis: raise at high, clear below medium).
RISK_K, RISK_N = 2, 3
RISK_HOLD = 30  # the medium level
# A forecast about a target that then cleared by itself (nothing failed, nothing was fixed) makes
# the next one doubtful for this long: it reaches a person only at critical, or as an observed
# failure. A workload that runs hot every evening is one heads-up a day, not one an hour
# (benchmarks/alarms.py: 10 false forecast incidents per healthy cluster-day without it).
FORECAST_DOUBT = timedelta(hours=24)


def risk_persists(
    levels: Sequence[str], risk: float | None, *, held: bool, doubted: bool = False
) -> bool:
    """Whether a forecast reaches a person: `levels` are the entity's levels in the latest
    scoring runs (newest last; only the last RISK_N count), `risk` the newest score, `held`
    whether a preventive incident about it is open, `doubted` whether a forecast about it
    cleared by itself within FORECAST_DOUBT (then only critical raises it)."""
    alarm = ("critical",) if doubted else ("high", "critical")
    raised = sum(level in alarm for level in list(levels)[-RISK_N:])
    return raised >= RISK_K or (held and risk is not None and risk >= RISK_HOLD)


@dataclass(frozen=True)
class PodState:
    namespace: str
    name: str
    workload: str
    node: str
    phase: str
    ready: bool
    restarts: int
    reason: str
    containers: tuple[dict, ...]  # name, state, waiting_reason, last_terminated_reason, ...
    created: datetime | None
    failing_since: datetime | None = None  # first sample of the current bad stretch
    recent_restarts: int = 0  # restarts within the last RECENT window
    restarted_at: datetime | None = None  # the first of those restarts


@dataclass(frozen=True)
class WorkloadState:
    namespace: str
    name: str
    replicas: int
    available_replicas: int
    revision: int
    conditions: tuple[dict, ...]
    last_rollout_at: datetime | None
    user_facing: bool = False


@dataclass(frozen=True)
class NodeState:
    name: str
    ready: bool
    pressure: tuple[str, ...]
    unschedulable: bool
    since: datetime | None = None  # first sample of the current bad stretch


@dataclass(frozen=True)
class EventState:
    namespace: str
    reason: str
    message: str
    object_kind: str
    object_name: str
    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class PvcState:
    namespace: str
    name: str
    phase: str
    storage_class: str
    pods: tuple[str, ...]  # pods that mount it


@dataclass(frozen=True)
class HpaState:
    namespace: str
    name: str
    target: str  # the deployment it scales
    current: int
    maximum: int
    utilization: int | None  # CPU %, of request
    target_utilization: int | None


@dataclass(frozen=True)
class JobState:
    namespace: str
    name: str
    owner: str  # the CronJob that made it; "" for a Job made by hand
    started_at: datetime | None
    succeeded: int
    failed: int  # pods that failed
    backoff_limit: int
    failed_reason: str  # the Failed condition's reason; "" while it has not failed
    failed_message: str
    failed_at: datetime | None
    image: str


@dataclass(frozen=True)
class RiskState:
    entity_kind: str  # workload | node
    namespace: str
    name: str
    risk: int
    level: str
    reasons: tuple[str, ...]
    lead_minutes: float | None
    lead_basis: str = ""  # trend | history
    persistent: bool = True  # raised long enough to reach a person (risk_persists)


@dataclass(frozen=True)
class AnomalyState:
    entity_kind: str
    namespace: str
    name: str
    start: datetime
    peak_score: float
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class MemoryState:
    """A workload's memory over the recent window, per container (the worst one)."""

    peak_bytes: int
    limit_bytes: int | None
    slope_pct_per_min: float  # of the limit; > 0 rising
    steady: bool  # a straight rise (r^2 >= 0.8): a leak, not a spike
    growth_bytes_per_min: float = 0.0  # the same slope in bytes


@dataclass(frozen=True)
class CpuState:
    """A workload's CPU against its limit over the last minutes."""

    pods_at_limit: tuple[str, ...]  # pods using >= 90% of their CPU limit in most samples
    pods: int
    median_pct_of_limit: float
    since: datetime | None = None  # the hot stretch began


@dataclass(frozen=True)
class AlertState:
    """A firing alert from Alertmanager, with the target its labels name (alerts.py matches
    it to a workload, pod, claim or node)."""

    fingerprint: str
    alertname: str
    kind: str  # the signal kind it stands for
    since: datetime  # its startsAt
    namespace: str = ""
    pod: str = ""
    workload: str = ""
    node: str = ""
    container: str = ""
    pvc: str = ""
    severity: str = ""  # its `severity` label
    summary: str = ""
    generator_url: str = ""


@dataclass
class ClusterState:
    now: datetime
    environment: str = "development"
    pods: list[PodState] = field(default_factory=list)
    workloads: list[WorkloadState] = field(default_factory=list)
    nodes: list[NodeState] = field(default_factory=list)
    events: list[EventState] = field(default_factory=list)
    pvcs: list[PvcState] = field(default_factory=list)
    hpas: list[HpaState] = field(default_factory=list)
    jobs: list[JobState] = field(default_factory=list)
    risks: list[RiskState] = field(default_factory=list)
    anomalies: list[AnomalyState] = field(default_factory=list)
    memory: dict[tuple[str, str], MemoryState] = field(default_factory=dict)
    cpu: dict[tuple[str, str], CpuState] = field(default_factory=dict)
    alerts: list[AlertState] = field(default_factory=list)  # firing, from Alertmanager

    def workload(self, namespace: str, name: str) -> WorkloadState | None:
        return next(
            (w for w in self.workloads if w.namespace == namespace and w.name == name), None
        )
