"""Detectors: what is wrong in a cluster right now, as signals. Pure: the cluster's state comes
in as plain values (selectors build it from the collector's rows), signals go out.

A signal names one symptom on one thing — a workload, a node, a claim — with the pods it
concerns, when it started, and its evidence in words. Correlation (diagnose.py) turns related
signals into one incident with a cause.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apps.predictions.failure import lead_text

from .state import AlertState as AlertState
from .state import AnomalyState as AnomalyState
from .state import ClusterState as ClusterState
from .state import CpuState as CpuState
from .state import EventState as EventState
from .state import HpaState as HpaState
from .state import JobState as JobState
from .state import MemoryState as MemoryState
from .state import NodeState as NodeState
from .state import PodState as PodState
from .state import PvcState as PvcState
from .state import RiskState as RiskState
from .state import WorkloadState as WorkloadState

READINESS_GRACE = timedelta(minutes=2)  # a running pod not ready for longer: readiness fails
ANOMALY_BURST = 3  # anomalies on one workload or node within the window
ANOMALY_WINDOW = timedelta(minutes=15)
CRASHES = 2  # restarts after an error exit that make a crash loop, before any back-off shows
RECENT_POD = timedelta(minutes=10)  # every restart of a pod this young is recent
PULL = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName"}
CONFIG = {"CreateContainerConfigError", "CreateContainerError"}


class Kind:
    CRASH_LOOP = "crash_loop"
    OOM = "oom_killed"
    IMAGE_PULL = "image_pull"
    CONFIG_ERROR = "config_error"
    UNSCHEDULABLE = "unschedulable"
    READINESS = "readiness_failing"
    ROLLOUT_STUCK = "rollout_stuck"
    EVICTED = "evicted"
    NODE_NOT_READY = "node_not_ready"
    NODE_PRESSURE = "node_pressure"
    PVC_UNBOUND = "pvc_unbound"
    HPA_MAXED = "hpa_maxed"
    JOB_FAILED = "job_failed"
    CPU_SATURATED = "cpu_saturated"
    HIGH_RISK = "high_risk"
    ANOMALY_BURST = "anomaly_burst"
    VOLUME_FILLING = "volume_filling"  # an alert says so; no detector of ours does
    ALERT = "alert"  # an alert no detector's kind stands for (alerts.py)


# --- signals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    kind: str
    scope: str  # workload | node | pvc | pod
    namespace: str
    name: str
    since: datetime
    detail: str  # in words
    pods: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    evidence: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.scope}:{self.namespace}/{self.name}"


def detect(state: ClusterState) -> list[Signal]:
    """Every signal in the cluster now, ordered by kind and target."""
    out = [
        *_pod_signals(state),
        *_workload_signals(state),
        *_node_signals(state),
        *_pvc_signals(state),
        *_hpa_signals(state),
        *_job_signals(state),
        *_cpu_signals(state),
        *_risk_signals(state),
        *_anomaly_signals(state),
    ]
    return sorted(out, key=lambda s: (s.kind, s.namespace, s.name))


def _pod_kinds(pod: PodState, state: ClusterState) -> list[tuple[str, str]]:
    """(signal kind, what the pod shows) for one pod."""
    found = []
    for c in pod.containers:
        waiting, last = c.get("waiting_reason") or "", c.get("last_terminated_reason") or ""
        if waiting == "CrashLoopBackOff":
            found.append((Kind.CRASH_LOOP, f"{c.get('name')} in CrashLoopBackOff"))
        elif _crashing(pod, c, state):
            found.append(
                (Kind.CRASH_LOOP, f"{c.get('name')} exited with {last} {c['restarts']} times")
            )
        # The last termination stays "OOMKilled" for good: only a recent restart is news.
        if last == "OOMKilled" and (waiting == "CrashLoopBackOff" or pod.recent_restarts):
            found.append((Kind.OOM, f"{c.get('name')} OOMKilled"))
        if waiting in PULL:
            found.append((Kind.IMAGE_PULL, f"{c.get('name')} {waiting} ({c.get('image', '')})"))
        if waiting in CONFIG:
            found.append((Kind.CONFIG_ERROR, f"{c.get('name')} {waiting}"))
    if pod.reason == "Evicted":
        found.append((Kind.EVICTED, "evicted"))
    if pod.phase == "Pending" and not pod.node:
        found.append((Kind.UNSCHEDULABLE, _scheduling_message(pod, state)))
    running = pod.phase == "Running" and all(c.get("state") == "running" for c in pod.containers)
    old_enough = pod.created is not None and state.now - pod.created >= READINESS_GRACE
    if running and not pod.ready and old_enough and not found:
        found.append((Kind.READINESS, "running but not ready"))
    return found


def _crashing(pod: PodState, c: dict, state: ClusterState) -> bool:
    """Crashed again and again, caught between back-offs (the first ones are short, so a
    collection often sees the container running): restarted at least twice recently, the last
    time by exiting with an error."""
    last = c.get("last_terminated_reason") or ""
    if last in ("", "OOMKilled", "Completed") or (c.get("restarts") or 0) < CRASHES:
        return False
    young = pod.created is not None and state.now - pod.created <= RECENT_POD
    return young or pod.recent_restarts >= CRASHES


def _scheduling_message(pod: PodState, state: ClusterState) -> str:
    event = next(
        (
            e
            for e in state.events
            if e.reason == "FailedScheduling"
            and e.object_kind == "Pod"
            and e.namespace == pod.namespace
            and e.object_name == pod.name
        ),
        None,
    )
    return f"Pending: {event.message}" if event else "Pending: not scheduled yet"


def _pod_signals(state: ClusterState) -> list[Signal]:
    groups: dict[tuple[str, str, str], list[tuple[PodState, str]]] = defaultdict(list)
    jobs = {(j.namespace, j.name) for j in state.jobs}
    lost = {n.name for n in state.nodes if not n.ready}
    for pod in state.pods:
        if (pod.namespace, pod.workload) in jobs:
            continue  # a Job's pods may fail and be retried; the Job says when it gave up
        if pod.reason == "Terminating":
            continue  # being deleted (drained off a lost node): its replacement is what counts
        if (
            pod.node in lost
            and pod.workload
            and state.workload(pod.namespace, pod.workload) is None
        ):
            continue  # a DaemonSet's pod on a lost node: a drain leaves it; the node says it
        for kind, what in _pod_kinds(pod, state):
            groups[(kind, pod.namespace, pod.workload or pod.name)].append((pod, what))
    out = []
    for (kind, ns, name), hits in groups.items():
        pods = tuple(sorted({p.name for p, _ in hits}))
        nodes = tuple(sorted({p.node for p, _ in hits if p.node}))
        w = state.workload(ns, name)
        of = f" of {w.replicas}" if w else ""
        since = min(
            (p.failing_since or p.restarted_at or p.created or state.now for p, _ in hits),
            default=state.now,
        )
        restarts = max(p.restarts for p, _ in hits)
        troubled = sorted(
            {
                c.get("name", "")
                for p, _ in hits
                for c in p.containers
                if c.get("waiting_reason") or c.get("last_terminated_reason") or not c.get("ready")
            }
        )
        detail = f"{len(pods)} pod{'s' if len(pods) != 1 else ''}{of}: " + "; ".join(
            sorted({f"{p.name} {what}" for p, what in hits})[:3]
        )
        out.append(
            Signal(
                kind=kind,
                scope="workload" if w else "pod",
                namespace=ns,
                name=name,
                since=min(since, state.now),
                detail=detail,
                pods=pods,
                nodes=nodes,
                evidence={
                    "pods": len(pods),
                    "replicas": w.replicas if w else 1,
                    "restarts": restarts,
                    "containers": troubled,
                },
            )
        )
    return out


def _workload_signals(state: ClusterState) -> list[Signal]:
    out = []
    for w in state.workloads:
        stuck = next(
            (
                c
                for c in w.conditions
                if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
            ),
            None,
        )
        if stuck:
            out.append(
                Signal(
                    kind=Kind.ROLLOUT_STUCK,
                    scope="workload",
                    namespace=w.namespace,
                    name=w.name,
                    since=w.last_rollout_at or state.now,
                    detail=f"rollout of revision {w.revision} stuck: {stuck.get('message', '')}",
                    evidence={
                        "revision": w.revision,
                        "available": w.available_replicas,
                        "replicas": w.replicas,
                    },
                )
            )
    return out


def _node_signals(state: ClusterState) -> list[Signal]:
    out = []
    for n in state.nodes:
        here = [p for p in state.pods if p.node == n.name]
        on_it = tuple(sorted(p.name for p in here if p.reason != "Terminating"))
        going = len(here) - len(on_it)
        since = n.since or state.now
        if not n.ready:
            left = f"; {going} terminating (drained)" if going else ""
            out.append(
                Signal(
                    Kind.NODE_NOT_READY,
                    "node",
                    "",
                    n.name,
                    since,
                    f"node {n.name} NotReady; {len(on_it)} pods on it{left}",
                    pods=on_it,
                    nodes=(n.name,),
                    evidence={"pods": len(on_it)},
                )
            )
        if n.pressure:
            out.append(
                Signal(
                    Kind.NODE_PRESSURE,
                    "node",
                    "",
                    n.name,
                    since,
                    f"node {n.name} under {', '.join(n.pressure)}",
                    pods=on_it,
                    nodes=(n.name,),
                    evidence={"pressure": list(n.pressure)},
                )
            )
    return out


def _pvc_signals(state: ClusterState) -> list[Signal]:
    return [
        Signal(
            Kind.PVC_UNBOUND,
            "pvc",
            c.namespace,
            c.name,
            state.now,
            f"claim {c.namespace}/{c.name} is {c.phase} (storage class "
            f"{c.storage_class or 'default'}); {len(c.pods)} pods wait for it",
            pods=c.pods,
            evidence={"storage_class": c.storage_class},
        )
        for c in state.pvcs
        if c.phase == "Pending"
    ]


def _hpa_signals(state: ClusterState) -> list[Signal]:
    out = []
    for h in state.hpas:
        hot = (
            h.utilization is not None
            and h.target_utilization is not None
            and h.utilization >= h.target_utilization
        )
        if h.current >= h.maximum and hot:
            out.append(
                Signal(
                    Kind.HPA_MAXED,
                    "workload",
                    h.namespace,
                    h.target,
                    state.now,
                    f"autoscaler {h.name} pinned at its maximum of {h.maximum} replicas with "
                    f"CPU at {h.utilization}% of request (target {h.target_utilization}%)",
                    evidence={"hpa": h.name, "maximum": h.maximum, "utilization": h.utilization},
                )
            )
    return out


def _job_signals(state: ClusterState) -> list[Signal]:
    """Jobs that gave up (Failed: back-off limit or deadline), one signal per Job or per
    CronJob (its runs are one problem). A later run of the same CronJob that succeeded means
    the failure is over."""
    out = {}
    for j in sorted(state.jobs, key=lambda j: j.failed_at or state.now):
        if not j.failed_reason or _succeeded_later(j, state):
            continue
        what = f"CronJob {j.owner} run {j.name}" if j.owner else f"Job {j.name}"
        out[(j.namespace, j.owner or j.name)] = Signal(
            Kind.JOB_FAILED,
            "job",
            j.namespace,
            j.owner or j.name,
            j.failed_at or state.now,
            f"{what} failed ({j.failed_reason}: {j.failed_message or 'no message'}); "
            f"{j.failed} pod{'s' if j.failed != 1 else ''} failed, backoffLimit {j.backoff_limit}",
            evidence={
                "job": j.name,
                "owner": j.owner,
                "reason": j.failed_reason,
                "failed_pods": j.failed,
                "image": j.image,
            },
        )
    return list(out.values())


def _succeeded_later(j: JobState, state: ClusterState) -> bool:
    started = j.started_at or state.now
    return bool(j.owner) and any(
        o.owner == j.owner
        and o.namespace == j.namespace
        and o.succeeded
        and (o.started_at or state.now) > started
        for o in state.jobs
    )


def _cpu_signals(state: ClusterState) -> list[Signal]:
    """Throttled now: most of a workload's pods at their CPU limit (not a prediction)."""
    out = []
    for (ns, name), cpu in state.cpu.items():
        if cpu.pods and len(cpu.pods_at_limit) * 2 >= cpu.pods:
            out.append(
                Signal(
                    Kind.CPU_SATURATED,
                    "workload",
                    ns,
                    name,
                    cpu.since or state.now,
                    f"{len(cpu.pods_at_limit)} of {cpu.pods} pods at their CPU limit "
                    f"(median {cpu.median_pct_of_limit:.0f}% of limit): throttled",
                    pods=cpu.pods_at_limit,
                    evidence={
                        "pods_at_limit": len(cpu.pods_at_limit),
                        "pods": cpu.pods,
                        "median_pct_of_limit": round(cpu.median_pct_of_limit, 1),
                    },
                )
            )
    return out


def _risk_signals(state: ClusterState) -> list[Signal]:
    return [
        Signal(
            Kind.HIGH_RISK,
            r.entity_kind,
            r.namespace,
            r.name,
            state.now,
            f"failure risk {r.risk} ({r.level})"
            + (f", {lead_text(r.lead_minutes, r.lead_basis)}" if r.lead_minutes else "")
            + (f": {r.reasons[0]}" if r.reasons else ""),
            evidence={
                "risk": r.risk,
                "level": r.level,
                "reasons": list(r.reasons),
                "lead_minutes": r.lead_minutes,
                "lead_basis": r.lead_basis,
            },
        )
        for r in state.risks
        if r.persistent and r.risk >= 30  # raised long enough, and not yet below medium
    ]


def _anomaly_signals(state: ClusterState) -> list[Signal]:
    recent: dict[tuple[str, str, str], list[AnomalyState]] = defaultdict(list)
    for a in state.anomalies:
        if state.now - a.start <= ANOMALY_WINDOW:
            recent[(a.entity_kind, a.namespace, a.name)].append(a)
    out = []
    for (kind, ns, name), items in recent.items():
        if len(items) < ANOMALY_BURST:
            continue
        metrics = sorted({m for a in items for m in a.metrics})
        out.append(
            Signal(
                Kind.ANOMALY_BURST,
                kind,
                ns,
                name,
                min(a.start for a in items),
                f"{len(items)} anomalies in {ANOMALY_WINDOW.seconds // 60} min"
                + (f" ({', '.join(metrics[:3])})" if metrics else ""),
                evidence={"anomalies": len(items), "metrics": metrics},
            )
        )
    return out
