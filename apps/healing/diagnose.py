"""Correlation and root cause: related signals become one diagnosis with a hypothesis in plain
words, its evidence, a confidence and a severity. Pure, like signals.py.

The order matters and is the reasoning an SRE would follow:
1. a node that is NotReady or under pressure explains the failing pods on it;
2. per workload: a pull or config error is named as such (no automatic fix is safe); failures
   that start shortly after a rollout blame the rollout; OOM kills with memory rising steadily
   are a leak, without a steady rise an undersized limit; otherwise what the pods show;
3. a namespace where several workloads fail within minutes of rollouts blames the change;
4. what is left: claims, autoscalers, predicted risk (preventive), anomaly bursts.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .alerts import level
from .signals import ClusterState, Kind, Signal, WorkloadState

ROLLOUT_BLAME = timedelta(minutes=30)  # failures this soon after a rollout blame it
NAMESPACE_SPREAD = timedelta(minutes=10)
MiB = 2**20


class Cause:
    NODE = "node_failure"
    NODE_PRESSURE = "node_pressure"
    BAD_ROLLOUT = "bad_rollout"
    NAMESPACE_CHANGE = "namespace_change"
    MEMORY_LEAK = "memory_leak"
    MEMORY_UNDERSIZED = "memory_undersized"
    IMAGE_PULL = "image_pull"
    CONFIG_ERROR = "config_error"
    CRASH_LOOP = "crash_loop"
    READINESS = "readiness"
    UNSCHEDULABLE = "unschedulable"
    PVC_UNBOUND = "pvc_unbound"
    JOB_FAILED = "job_failed"
    EVICTIONS = "evictions"
    SATURATION = "saturation"
    AUTOSCALER_MAXED = "autoscaler_maxed"
    PREDICTED_OOM = "predicted_oom"
    PREDICTED_SATURATION = "predicted_saturation"
    PREDICTED_FAILURE = "predicted_failure"
    ANOMALY = "anomaly"
    VOLUME_FILLING = "volume_filling"  # from an alert (KubePersistentVolumeFillingUp)
    ALERT = "alert"  # an alert from Alertmanager that no detector's cause stands for


# Failures no rollout, OOM or node explains: named by what the pods show, in this order.
SYMPTOMS = [
    (
        Kind.CRASH_LOOP,
        Cause.CRASH_LOOP,
        "crash-looping",
        ". No rollout, OOM kill or node problem explains it; a restart clears a bad in-memory "
        "state, and if it comes back the application's logs must be read.",
        0.5,
    ),
    (
        Kind.UNSCHEDULABLE,
        Cause.UNSCHEDULABLE,
        "pods cannot be scheduled",
        ". The scheduler finds no node for them: not enough free CPU or memory, or taints and "
        "affinity rule every node out.",
        0.8,
    ),
    (
        Kind.READINESS,
        Cause.READINESS,
        "readiness failing",
        ": the pods run but fail their readiness probe. A restart of the affected pods often "
        "clears a stuck process.",
        0.5,
    ),
    (
        Kind.EVICTED,
        Cause.EVICTIONS,
        "pods evicted",
        ". Kubernetes replaces evicted pods by itself; the node that evicted them (pressure, a "
        "drain) is worth a look.",
        0.6,
    ),
]
PREVENTIVE = {Cause.PREDICTED_OOM, Cause.PREDICTED_SATURATION, Cause.PREDICTED_FAILURE}


@dataclass
class Diagnosis:
    cause: str
    scope: str  # workload | node | pvc | namespace | pod
    namespace: str
    name: str
    title: str
    hypothesis: str
    evidence: list[str]
    confidence: float
    signals: list[Signal]
    since: datetime
    severity: str = "P3"
    facts: dict = field(default_factory=dict)  # what a runbook needs: revision, peak, ...

    @property
    def preventive(self) -> bool:
        return self.cause in PREVENTIVE

    @property
    def from_alerts_only(self) -> bool:
        """It rests on Alertmanager's alerts alone: no condition, event or metric ZeroTouch
        collected agrees."""
        return bool(self.signals) and all(
            s.evidence.get("source") == "alertmanager" for s in self.signals
        )

    @property
    def fingerprint(self) -> str:
        """One problem, one incident: the thing it is about. The cause is not part of it —
        evidence refines a diagnosis (an OOM turns out to be a leak, a predicted OOM
        happens), and that is the same incident with a revised cause."""
        key = f"{self.scope}|{self.namespace}|{self.name}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def diagnose(signals: list[Signal], state: ClusterState) -> list[Diagnosis]:
    left = list(signals)
    out = _nodes(left, state)
    used = {id(s) for d in out for s in d.signals}
    left = [s for s in left if id(s) not in used]
    by_target: dict[tuple[str, str], list[Signal]] = defaultdict(list)
    for s in left:
        if s.scope in ("workload", "pod"):
            by_target[(s.namespace, s.name)].append(s)
    workload_dx = [_workload(sigs, state) for sigs in by_target.values()]
    workload_dx = _namespace_changes([d for d in workload_dx if d], state)
    out += workload_dx
    out += [_other(s) for s in left if s.scope not in ("workload", "pod")]
    for d in out:
        d.severity = severity(d, state)
    return sorted(out, key=lambda d: (d.severity, -d.confidence, d.namespace, d.name))


# --- nodes ------------------------------------------------------------------------------------


POD_FAILURES = {Kind.CRASH_LOOP, Kind.READINESS, Kind.EVICTED, Kind.UNSCHEDULABLE, Kind.OOM}


def _nodes(signals: list[Signal], state: ClusterState) -> list[Diagnosis]:
    out = []
    for node_sig in [s for s in signals if s.kind in (Kind.NODE_NOT_READY, Kind.NODE_PRESSURE)]:
        node = node_sig.name
        on_node = [
            s for s in signals if s.kind in POD_FAILURES and s.nodes and set(s.nodes) <= {node}
        ]
        not_ready = node_sig.kind == Kind.NODE_NOT_READY
        workloads = sorted({f"{s.namespace}/{s.name}" for s in on_node})
        state_words = "NotReady" if not_ready else "under " + node_sig.detail.split("under ")[-1]
        hypothesis = f"Node {node} is {state_words} since {node_sig.since:%H:%M}; " + (
            f"the failing pods of {', '.join(workloads[:4])} all run on it, so the node — not "
            "the workloads — is the cause."
            if workloads
            else f"{len(node_sig.pods)} pods run on it and will be evicted if it stays so."
        )
        out.append(
            Diagnosis(
                cause=Cause.NODE if not_ready else Cause.NODE_PRESSURE,
                scope="node",
                namespace="",
                name=node,
                title=f"Node {node} {'NotReady' if not_ready else 'under pressure'}",
                hypothesis=hypothesis,
                evidence=[node_sig.detail, *[s.detail for s in on_node[:5]]],
                confidence=0.9 if not_ready else 0.7,
                signals=[node_sig, *on_node],
                since=node_sig.since,
                facts={
                    "pods": len(node_sig.pods),
                    "workloads": workloads,
                    "short": _short_of_replicas(node, state),
                },
            )
        )
    return out


def _short_of_replicas(node: str, state: ClusterState) -> list[str]:
    """The workloads with pods on the node (Terminating ones included) that do not have every
    replica available yet: until their replacements are ready, the node still costs service."""
    out = set()
    for p in state.pods:
        w = state.workload(p.namespace, p.workload) if p.node == node else None
        if w is not None and w.available_replicas < w.replicas:
            out.add(f"{w.namespace}/{w.name}")
    return sorted(out)


# --- workloads ----------------------------------------------------------------------------------


def _workload(sigs: list[Signal], state: ClusterState) -> Diagnosis | None:
    kinds = {s.kind: s for s in sigs}
    first = min(sigs, key=lambda s: s.since)
    ns, name = first.namespace, first.name
    w = state.workload(ns, name)
    base = dict(scope=first.scope, namespace=ns, name=name, signals=sigs, since=first.since)
    evidence = [s.detail for s in sigs]
    rollout = _recent_rollout(w, first.since, _created(sigs, state))
    if Kind.IMAGE_PULL in kinds:
        s = kinds[Kind.IMAGE_PULL]
        return Diagnosis(
            cause=Cause.IMAGE_PULL,
            title=f"{ns}/{name}: image cannot be pulled",
            hypothesis=f"The image of {ns}/{name} cannot be pulled ({s.detail})"
            + (f", since the rollout of revision {w.revision}" if rollout else "")
            + ". No automatic fix is safe: a person must check the image name and tag, the "
            "registry and its credentials.",
            evidence=evidence,
            confidence=0.95,
            facts=_rollout_facts(w),
            **base,
        )
    if Kind.CONFIG_ERROR in kinds:
        return Diagnosis(
            cause=Cause.CONFIG_ERROR,
            title=f"{ns}/{name}: container config error",
            hypothesis=f"The containers of {ns}/{name} cannot be created "
            f"({kinds[Kind.CONFIG_ERROR].detail}): a ConfigMap, Secret or key they reference "
            "is missing or wrong. A person must fix the reference.",
            evidence=evidence,
            confidence=0.9,
            facts=_rollout_facts(w),
            **base,
        )
    failing = kinds.keys() & {Kind.CRASH_LOOP, Kind.READINESS, Kind.ROLLOUT_STUCK}
    if failing and rollout and Kind.OOM not in kinds:
        ago = (first.since - w.last_rollout_at).total_seconds() / 60
        return Diagnosis(
            cause=Cause.BAD_ROLLOUT,
            title=f"{ns}/{name}: revision {w.revision} is failing",
            hypothesis=f"{ns}/{name} started failing {ago:.0f} min after the rollout of revision "
            f"{w.revision}; the previous revision ran fine, so the rollout is the likely cause. "
            f"Rolling back to revision {w.revision - 1} should recover it.",
            evidence=[f"rollout of revision {w.revision} at {w.last_rollout_at:%H:%M}", *evidence],
            confidence=0.85 if ago <= 10 else 0.7,
            facts=_rollout_facts(w),
            **base,
        )
    if Kind.OOM in kinds:
        return _memory(kinds[Kind.OOM], sigs, state, w, base, evidence)
    for kind, cause, title, explain, confidence in SYMPTOMS:
        s = kinds.get(kind) or (kinds.get(Kind.ROLLOUT_STUCK) if kind == Kind.CRASH_LOOP else None)
        if s is not None:
            return Diagnosis(
                cause=cause,
                title=f"{ns}/{name}: {title}",
                hypothesis=f"{s.detail}{explain}",
                evidence=evidence,
                confidence=confidence,
                facts=_pods_facts(s, w),
                **base,
            )
    return _predicted(sigs, state, w, base, evidence)


def _memory(oom: Signal, sigs, state, w, base, evidence) -> Diagnosis:
    ns, name = base["namespace"], base["name"]
    mem = state.memory.get((ns, name))
    facts = {**_pods_facts(oom, w), "container": (oom.evidence.get("containers") or [""])[0]}
    if mem is not None:
        facts.update(_memory_facts(state, ns, name))
        evidence.append(
            f"memory peak {mem.peak_bytes / MiB:.0f} MiB"
            + (f" of a {mem.limit_bytes / MiB:.0f} MiB limit" if mem.limit_bytes else "")
            + f", {'rising steadily' if mem.steady else 'changing'} "
            f"{mem.slope_pct_per_min:+.1f}%/min"
        )
    if mem is not None and mem.steady and mem.slope_pct_per_min > 0.5:
        return Diagnosis(
            cause=Cause.MEMORY_LEAK,
            title=f"{ns}/{name}: memory leak, OOM-killed",
            hypothesis=f"{oom.detail}. Memory rises steadily by {mem.slope_pct_per_min:.1f}% of "
            "the limit per minute after every start, then the kernel kills the container: a "
            "leak. Raising the limit buys time (a restart starts from the bottom again); the "
            "owners must find the leak.",
            evidence=evidence,
            confidence=0.8,
            facts=facts,
            **base,
        )
    return Diagnosis(
        cause=Cause.MEMORY_UNDERSIZED,
        title=f"{ns}/{name}: OOM-killed, limit too small",
        hypothesis=f"{oom.detail}. Memory does not climb steadily, so the limit is too small "
        "for the peaks this workload reaches; a limit above the observed peak fixes it.",
        evidence=evidence,
        confidence=0.7 if mem else 0.5,
        facts=facts,
        **base,
    )


def _predicted(sigs, state, w, base, evidence) -> Diagnosis | None:
    kinds = {s.kind: s for s in sigs}
    ns, name = base["namespace"], base["name"]
    if Kind.HPA_MAXED in kinds:
        return Diagnosis(
            cause=Cause.AUTOSCALER_MAXED,
            title=f"{ns}/{name}: autoscaler at its maximum",
            hypothesis=f"{kinds[Kind.HPA_MAXED].detail}: demand exceeds what the autoscaler may "
            "add. Its maximum, or the requests, must be raised by a person who owns the budget.",
            evidence=evidence,
            confidence=0.8,
            facts=_pods_facts(kinds[Kind.HPA_MAXED], w),
            **base,
        )
    if Kind.CPU_SATURATED in kinds:
        s = kinds[Kind.CPU_SATURATED]
        return Diagnosis(
            cause=Cause.SATURATION,
            title=f"{ns}/{name}: CPU saturated",
            hypothesis=f"{s.detail}. Demand exceeds what the replicas may use, so requests "
            "queue and slow down; more replicas spread the load.",
            evidence=evidence,
            confidence=0.75,
            facts=_pods_facts(s, w),
            **base,
        )
    if Kind.HIGH_RISK in kinds:
        s = kinds[Kind.HIGH_RISK]
        reasons = " ".join(s.evidence.get("reasons", [])).lower()
        cause = (
            Cause.PREDICTED_OOM
            if "memory" in reasons
            else Cause.PREDICTED_SATURATION
            if "cpu" in reasons
            else Cause.PREDICTED_FAILURE
        )
        what = {
            Cause.PREDICTED_OOM: "an OOM kill; raising the memory limit now prevents it",
            Cause.PREDICTED_SATURATION: "CPU saturation; more replicas spread the load",
            Cause.PREDICTED_FAILURE: "a failure; no preventive fix is known for its signs",
        }[cause]
        return Diagnosis(
            cause=cause,
            title=f"{ns}/{name}: failure predicted",
            hypothesis=f"Nothing has failed yet, but the model predicts {what} ({s.detail}).",
            evidence=evidence,
            confidence=min(0.9, s.evidence.get("risk", 50) / 100),
            facts={**_pods_facts(s, w), **_memory_facts(state, ns, name)},
            **base,
        )
    if Kind.ANOMALY_BURST in kinds:
        s = kinds[Kind.ANOMALY_BURST]
        return Diagnosis(
            cause=Cause.ANOMALY,
            title=f"{ns}/{name}: unusual behaviour",
            hypothesis=f"{s.detail}: it behaves unlike its own normal, with no failure yet. "
            "Worth a look; nothing is changed.",
            evidence=evidence,
            confidence=0.4,
            facts={},
            **base,
        )
    if Kind.ALERT in kinds:
        return _alerted(kinds[Kind.ALERT], evidence)
    return None


def _namespace_changes(dx: list[Diagnosis], state: ClusterState) -> list[Diagnosis]:
    """Several workloads of one namespace failing within minutes after rollouts: the change
    they share (a ConfigMap, a Secret, a release) is the likelier cause."""
    by_ns: dict[str, list[Diagnosis]] = defaultdict(list)
    for d in dx:
        if d.cause in (Cause.BAD_ROLLOUT, Cause.CONFIG_ERROR, Cause.CRASH_LOOP):
            by_ns[d.namespace].append(d)
    out = [d for d in dx if not (d.namespace in by_ns and len(by_ns[d.namespace]) >= 2)]
    for ns, group in by_ns.items():
        if len(group) < 2:
            continue
        start, end = min(d.since for d in group), max(d.since for d in group)
        if end - start > NAMESPACE_SPREAD:
            out += group
            continue
        names = sorted(d.name for d in group)
        out.append(
            Diagnosis(
                cause=Cause.NAMESPACE_CHANGE,
                scope="namespace",
                namespace=ns,
                name=ns,
                title=f"{ns}: {len(group)} workloads failing together",
                hypothesis=f"{', '.join(names)} in {ns} started failing within "
                f"{(end - start).total_seconds() / 60:.0f} min of each other: a change they "
                "share (a ConfigMap, a Secret, a release of several services) is the likely "
                "cause. A person must find and revert it; rolling back each one blindly could "
                "mix versions.",
                evidence=[e for d in group for e in d.evidence][:8],
                confidence=0.7,
                signals=[s for d in group for s in d.signals],
                since=start,
                facts={"workloads": names},
            )
        )
    return out


def _other(s: Signal) -> Diagnosis:
    if s.kind == Kind.PVC_UNBOUND:
        return Diagnosis(
            cause=Cause.PVC_UNBOUND,
            scope="pvc",
            namespace=s.namespace,
            name=s.name,
            title=f"claim {s.namespace}/{s.name} unbound",
            hypothesis=f"{s.detail}. No volume can be provisioned for it: the storage class is "
            "missing or out of capacity. A person must fix the class or the claim.",
            evidence=[s.detail],
            confidence=0.9,
            signals=[s],
            since=s.since,
            facts={"pods": list(s.pods)},
        )
    if s.kind == Kind.JOB_FAILED:
        kind = "CronJob" if s.evidence.get("owner") else "Job"
        return Diagnosis(
            cause=Cause.JOB_FAILED,
            scope="job",
            namespace=s.namespace,
            name=s.name,
            title=f"{kind} {s.namespace}/{s.name} failed",
            hypothesis=f"{s.detail}. Its pods exited with errors until Kubernetes gave up, so "
            "the work it does did not happen. Re-running it blindly can repeat side effects; a "
            "person must read the failed pods' logs, fix the cause and re-run it"
            + (" (or let the next scheduled run pick it up)." if kind == "CronJob" else "."),
            evidence=[s.detail, f"image {s.evidence.get('image', '?')}"],
            confidence=0.9,
            signals=[s],
            since=s.since,
            facts={"job": s.evidence.get("job", s.name)},
        )
    if s.kind in (Kind.ALERT, Kind.VOLUME_FILLING):
        return _alerted(s, [s.detail])
    return Diagnosis(
        cause=Cause.ANOMALY,
        scope=s.scope,
        namespace=s.namespace,
        name=s.name,
        title=f"{s.name}: {s.kind.replace('_', ' ')}",
        hypothesis=s.detail,
        evidence=[s.detail],
        confidence=0.4,
        signals=[s],
        since=s.since,
    )


def _alerted(s: Signal, evidence: list[str]) -> Diagnosis:
    """An alert no detector's cause stands for (or a volume filling up, which only an alert
    sees): escalated with the alert's own words; ZeroTouch changes nothing."""
    names = ", ".join(s.evidence.get("alertnames", [])) or s.name
    where = f"{s.namespace}/{s.name}" if s.namespace else s.name
    volume = s.kind == Kind.VOLUME_FILLING
    if s.scope == "cluster":
        title = f"Alertmanager: {names} (cluster-wide)"
        why = (
            "; its labels name no workload, pod, claim or node ZeroTouch knows, so it is an "
            "incident of the whole cluster"
        )
    else:
        title = f"{where}: {'volume filling up' if volume else names}"
        why = ""
    return Diagnosis(
        cause=Cause.VOLUME_FILLING if volume else Cause.ALERT,
        scope=s.scope,
        namespace=s.namespace,
        name=s.name,
        title=title,
        hypothesis=f"{s.detail}{why}. No detector of ZeroTouch names a cause it can fix safely: "
        "a person follows the alert's own runbook (its source is linked).",
        evidence=evidence,
        confidence=0.6,
        signals=[s],
        since=s.since,
        facts={"alert_level": level(s.evidence.get("severity") or "")},
    )


# --- facts and severity -----------------------------------------------------------------------


def _recent_rollout(w: WorkloadState | None, since: datetime, created: list[datetime]) -> bool:
    """The failures began within ROLLOUT_BLAME after the last rollout, or every failing pod was
    created by it. (A sample is stamped when its collection starts, so a pod of a rollout
    that landed during that collection may look failing "before" the rollout; the pods' own
    creation times are on the same clock as the rollout's.)"""
    if w is None or w.last_rollout_at is None or w.revision < 2:
        return False
    if timedelta(0) <= since - w.last_rollout_at <= ROLLOUT_BLAME:
        return True
    return bool(created) and all(
        timedelta(0) <= c - w.last_rollout_at <= ROLLOUT_BLAME for c in created
    )


def _created(sigs: list[Signal], state: ClusterState) -> list[datetime]:
    """When the failing pods of these signals were created (those the state still has)."""
    names = {(s.namespace, p) for s in sigs for p in s.pods}
    return [p.created for p in state.pods if (p.namespace, p.name) in names and p.created]


def _rollout_facts(w: WorkloadState | None) -> dict:
    return {"revision": w.revision, "replicas": w.replicas} if w else {}


def _pods_facts(s: Signal, w: WorkloadState | None) -> dict:
    return {
        "pods": list(s.pods),
        "replicas": w.replicas if w else len(s.pods),
        "available": w.available_replicas if w else 0,
    }


def _memory_facts(state: ClusterState, ns: str, name: str) -> dict:
    mem = state.memory.get((ns, name))
    if mem is None:
        return {}
    return {
        "peak_bytes": mem.peak_bytes,
        "limit_bytes": mem.limit_bytes,
        "steady": mem.steady,
        "growth_bytes_per_min": mem.growth_bytes_per_min,
    }


ENV_SHIFT = {"production": 0, "staging": 1, "development": 2}


def severity(d: Diagnosis, state: ClusterState) -> str:
    """P1 (wake someone) to P4. Impact first — the share of a workload's replicas that are
    down, and whether users see it — then the environment: production as is, staging one
    step milder, development two. Predicted failures are P3 (nothing is down yet); anomalies
    and evictions that Kubernetes handles are P4."""
    if d.preventive:
        return "P3"
    if d.cause in (Cause.ANOMALY, Cause.EVICTIONS):
        return "P4"
    if d.cause in (Cause.ALERT, Cause.VOLUME_FILLING):  # rated by the alert's severity label
        shift = ENV_SHIFT.get(state.environment, 2)
        return f"P{min(4, max(1, d.facts.get('alert_level', 3) + shift))}"
    level = _impact(d, state)  # 1 (outage of something users see) .. 4
    level += ENV_SHIFT.get(state.environment, 2)
    return f"P{min(4, max(1, level))}"


def _impact(d: Diagnosis, state: ClusterState) -> int:
    if d.scope == "node":
        facing = any(
            w.user_facing
            for w in state.workloads
            if f"{w.namespace}/{w.name}" in d.facts.get("workloads", [])
        )
        return 1 if d.cause == Cause.NODE and facing else 2
    if d.scope == "namespace":
        return 1 if any(_facing(state, d.namespace, n) for n in d.facts["workloads"]) else 2
    w = state.workload(d.namespace, d.name)
    if w is None:
        return 3
    down = 1 - (w.available_replicas / w.replicas) if w.replicas else 0.0
    affected = len(d.facts.get("pods", [])) / w.replicas if w.replicas else 0.0
    if down >= 1.0:
        return 1 if w.user_facing else 2
    if max(down, affected) >= 0.5:
        return 2 if w.user_facing else 3
    return 3 if w.user_facing else 4


def _facing(state: ClusterState, ns: str, name: str) -> bool:
    w = state.workload(ns, name)
    return bool(w and w.user_facing)
