"""Alerts from Alertmanager as signals. Pure, like signals.py: firing alerts come in as plain
values (AlertState, built by selectors from the stored alerts), signals go out.

An alert stands for a detector's kind when its name (or its `reason` label) says which —
KubePodCrashLooping is a crash loop, KubeNodeNotReady a node not ready — so diagnosis and the
runbooks treat it exactly as they treat what the detectors find. It is matched to its target
through the inventory in the state: a Deployment named by its label, a pod's owning workload,
a claim, a node. An alert that matches nothing is a cluster-level signal named after the alert.
"""

import re
from collections import defaultdict
from collections.abc import Mapping

from .signals import Kind, Signal
from .state import AlertState, ClusterState, PodState

# alertname -> the detector's kind it stands for (kubernetes-mixin's names).
KINDS: dict[str, str] = {
    "KubePodCrashLooping": Kind.CRASH_LOOP,
    "KubePodNotReady": Kind.READINESS,
    "KubeDeploymentReplicasMismatch": Kind.READINESS,  # replicas unavailable
    "KubeStatefulSetReplicasMismatch": Kind.READINESS,
    "KubeDeploymentRolloutStuck": Kind.ROLLOUT_STUCK,
    "KubeNodeNotReady": Kind.NODE_NOT_READY,
    "KubeNodeUnreachable": Kind.NODE_NOT_READY,
    "CPUThrottlingHigh": Kind.CPU_SATURATED,
    "KubePersistentVolumeFillingUp": Kind.VOLUME_FILLING,
    "KubePersistentVolumeInodesFillingUp": Kind.VOLUME_FILLING,
}
OOM = re.compile(r"oom", re.IGNORECASE)  # KubeContainerOOMKilled, ContainerOOMKilled, ...
# The target each kind needs; an alert whose labels name another is a plain alert there.
SCOPES = {
    Kind.NODE_NOT_READY: ("node",),
    Kind.VOLUME_FILLING: ("pvc",),
    Kind.ALERT: ("workload", "pod", "pvc", "node", "cluster"),
}
POD_SCOPES = ("workload", "pod")
# An alert's `severity` label -> impact (1 worst .. 4), for what no workload's impact rates.
LEVELS = {"critical": 2, "page": 2, "high": 2, "error": 3, "warning": 3, "info": 4, "none": 4}


def kind_for(alertname: str, labels: Mapping[str, str]) -> str:
    """The detector's kind an alert stands for; Kind.ALERT when none does."""
    if alertname in KINDS:
        return KINDS[alertname]
    if OOM.search(alertname) or labels.get("reason") == "OOMKilled":
        return Kind.OOM
    return Kind.ALERT


def level(severity: str) -> int:
    return LEVELS.get(severity.lower(), 3)


def match(a: AlertState, state: ClusterState) -> tuple[str, str, str, tuple[PodState, ...]]:
    """(scope, namespace, name, the pods it names) of the alert's target in the inventory;
    scope "cluster" (named after the alert) when its labels match nothing there."""
    ns = a.namespace
    if ns and a.workload and state.workload(ns, a.workload):
        pods = tuple(p for p in state.pods if p.namespace == ns and p.workload == a.workload)
        named = tuple(p for p in pods if p.name == a.pod)
        return "workload", ns, a.workload, named or pods
    if ns and a.pod:
        pod = next((p for p in state.pods if p.namespace == ns and p.name == a.pod), None)
        if pod is not None:
            name = pod.workload or pod.name
            return ("workload" if state.workload(ns, name) else "pod"), ns, name, (pod,)
        # A pod newer than the last collection: its Deployment's pods are named after it.
        owners = [w for w in state.workloads if w.namespace == ns and a.pod.startswith(w.name)]
        owners = [w for w in owners if a.pod[len(w.name) :].startswith("-")]
        if owners:
            return "workload", ns, max(owners, key=lambda w: len(w.name)).name, ()
    if ns and a.pvc and any(c.namespace == ns and c.name == a.pvc for c in state.pvcs):
        return "pvc", ns, a.pvc, ()
    if a.node and any(n.name == a.node for n in state.nodes):
        on_it = tuple(p for p in state.pods if p.node == a.node and p.reason != "Terminating")
        return "node", "", a.node, on_it
    return "cluster", "", a.alertname, ()


def alert_signals(state: ClusterState) -> list[Signal]:
    """One signal per kind and target, from every firing alert in the state."""
    groups: dict[tuple[str, str, str, str], list[tuple[AlertState, tuple]]] = defaultdict(list)
    for a in state.alerts:
        scope, ns, name, pods = match(a, state)
        kind = a.kind if scope in SCOPES.get(a.kind, POD_SCOPES) else Kind.ALERT
        if scope == "cluster":
            kind = Kind.ALERT
        groups[(kind, scope, ns, name)].append((a, pods))
    out = []
    for (kind, scope, ns, name), hits in groups.items():
        alerts = [a for a, _ in hits]
        pods = {p.name: p for _, ps in hits for p in ps}
        if kind == Kind.READINESS and not any(a.pod for a in alerts):
            pods = {k: p for k, p in pods.items() if not p.ready}  # the unavailable ones
        w = state.workload(ns, name) if scope == "workload" else None
        worst = min(alerts, key=lambda a: level(a.severity))
        out.append(
            Signal(
                kind=kind,
                scope=scope,
                namespace=ns,
                name=name,
                since=min(a.since for a in alerts),
                detail="; ".join(sorted({_detail(a) for a in alerts})[:3]),
                pods=tuple(sorted(pods)) if scope != "cluster" else (),
                nodes=tuple(sorted({p.node for p in pods.values() if p.node}))
                if scope != "node"
                else (name,),
                evidence={
                    "source": "alertmanager",
                    "alerts": sorted(a.fingerprint for a in alerts),
                    "alertnames": sorted({a.alertname for a in alerts}),
                    "severity": worst.severity,
                    "pods": len(pods),
                    "replicas": w.replicas if w else len(pods),
                    "containers": sorted({a.container for a in alerts if a.container}),
                },
            )
        )
    return sorted(out, key=lambda s: (s.kind, s.namespace, s.name))


def _detail(a: AlertState) -> str:
    where = f" on {a.pod}" if a.pod else (f" on {a.node}" if a.node else "")
    return f"Alertmanager: {a.alertname} firing{where}" + (f" — {a.summary}" if a.summary else "")
