"""How much a change matters: ZeroTouch's own severity (P1 wake someone .. P4) and risk (low,
medium, high) for an Action. Pure: facts about the target in, a rating out; no Django.

The server derives the rating, never the proposer: a proposer may raise it, never lower it.

- A person's proposal is rated by the table below, per kind, from what the cluster says about
  the target now (its replicas, its controller, its current resources, the pods on a node)
  and the cluster's environment.
- ZeroTouch's own proposals (a runbook, a cost plan, a chaos experiment) bring their own
  judgement, because they know the context the table cannot (a node already down, a revision
  that ran fine minutes ago). It stands in for the table.
- The hard floors apply to every proposal, whoever makes it: removing every replica, or half
  of them, and deleting a pod that nothing recreates are high risk; a chaos fault in
  production is high risk.

Severity follows from the risk and the environment, as an incident's does: an action that
takes a workload away entirely is impact 1, high risk 2, medium 3, low 4; production counts as
is, staging one step milder, development two.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from apps.clusters.quantity import cpu_millis, memory_bytes

SEVERITIES = ("P4", "P3", "P2", "P1")  # mildest first
RISKS = ("low", "medium", "high")  # mildest first
ENV_SHIFT = {"production": 0, "staging": 1, "development": 2}
CHAOS = (
    "chaos_pod_kill",
    "chaos_pod_failure",
    "chaos_container_kill",
    "chaos_network_delay",
    "chaos_network_loss",
    "chaos_network_partition",
    "chaos_stress",
    "chaos_memory_stress",
    "chaos_node_not_ready",
)


@dataclass(frozen=True)
class Facts:
    """The target as the cluster reports it when the action is proposed."""

    kind: str
    parameters: Mapping
    environment: str = "development"  # the cluster's
    replicas: int | None = None  # the workload's desired replicas; None: unknown
    controlled: bool = True  # a pod that a controller recreates
    node_pods: int | None = None  # pods on the node (node kinds); None: unknown
    # The container's current {"requests": {"cpu": millicores, "memory": bytes}, "limits": ...}
    # (patch_resources); None: unknown.
    resources: Mapping | None = None


@dataclass(frozen=True)
class Rating:
    severity: str
    risk: str
    why: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"severity": self.severity, "risk": self.risk, "why": list(self.why)}


def worse_severity(a: str, b: str) -> str:
    return max(a, b, key=SEVERITIES.index)


def worse_risk(a: str, b: str) -> str:
    return max(a, b, key=RISKS.index)


def rate(facts: Facts, judged: tuple[str, str] | None = None) -> Rating:
    """The server's rating. `judged`: (severity, risk) from ZeroTouch's own proposer (a
    runbook's or a plan's), which stands in for the per-kind table; floors still apply."""
    if judged is None:
        risk, why = table(facts)
        severity = severity_for(facts, risk)
    else:
        severity, risk = judged
        why = "rated by its runbook or plan"
    floor_risk, floor_why = floor(facts)
    reasons = [why]
    if RISKS.index(floor_risk) > RISKS.index(risk):
        risk = floor_risk
        reasons.append(floor_why)
    severity = worse_severity(severity, severity_for(facts, risk))
    return Rating(severity, risk, (*reasons, f"{facts.environment} cluster"))


def raised(rating: Rating, *, severity: str | None, risk: str | None) -> Rating:
    """The rating with what the proposer asked for where that is worse; never milder."""
    why = list(rating.why)
    new_sev, new_risk = rating.severity, rating.risk
    if severity and SEVERITIES.index(severity) > SEVERITIES.index(new_sev):
        new_sev = severity
        why.append(f"severity raised to {severity} by the proposer")
    if risk and RISKS.index(risk) > RISKS.index(new_risk):
        new_risk = risk
        why.append(f"risk raised to {risk} by the proposer")
    return Rating(new_sev, new_risk, tuple(why))


def severity_for(facts: Facts, risk: str) -> str:
    impact = 1 if _removes_workload(facts) else {"high": 2, "medium": 3, "low": 4}[risk]
    level = impact + ENV_SHIFT.get(facts.environment, 2)
    return f"P{min(4, max(1, level))}"


def _removes_workload(facts: Facts) -> bool:
    return facts.kind == "scale" and facts.parameters.get("replicas") == 0


def floor(facts: Facts) -> tuple[str, str]:
    """The least risk any proposal of this change carries, whoever proposes it."""
    k, p = facts.kind, facts.parameters
    if k == "scale":
        to, now = p.get("replicas"), facts.replicas
        if to == 0:
            return "high", "removes every replica"
        if now and to is not None and to <= now / 2:
            return "high", f"removes half or more of the replicas ({now} -> {to})"
    if k in ("restart_pod", "evict_pod") and not facts.controlled:
        return "high", "the pod has no controller: once deleted it is gone"
    if k in CHAOS and facts.environment == "production":
        return "high", "a fault injected into production"
    return "low", ""


def table(facts: Facts) -> tuple[str, str]:
    """The per-kind rating of a person's proposal: (risk, why)."""
    k = facts.kind
    if k in ("restart_pod", "evict_pod", "rollout_restart"):
        if k != "rollout_restart" and not facts.controlled:
            return "high", "the pod has no controller: once deleted it is gone"
        if facts.replicas is not None and facts.replicas <= 1:
            return "medium", "the workload's only replica: down until it is replaced"
        return "low", "replaced pod by pod by its controller"
    if k == "scale":
        return _scale(facts.parameters.get("replicas"), facts.replicas)
    if k == "patch_resources":
        return _patch(facts)
    if k == "rollout_undo":
        return "medium", "returns the workload to an older template"
    if k == "uncordon":
        return "low", "lets pods be scheduled on the node again"
    if k == "cordon":
        return "medium", "nothing new is scheduled on the node"
    if k == "drain_node":
        if facts.node_pods == 0:
            return "medium", "cordons the node; no pod runs on it"
        return "high", "evicts every pod on the node"
    if k == "chaos_node_not_ready":
        return "high", "every pod on the node turns unready (evicted after 300 s)"
    if k in CHAOS:
        return "medium", "injects a fault on purpose"
    return "high", f"no rating known for {k}"  # fail closed


def _scale(to: int | None, now: int | None) -> tuple[str, str]:
    if to == 0:
        return "high", "removes every replica"
    if now is None or to is None:
        return "medium", "the current replica count is unknown"
    if to < now:
        if to <= now / 2:
            return "high", f"removes half or more of the replicas ({now} -> {to})"
        return "medium", f"fewer replicas carry the load ({now} -> {to})"
    if to - now > max(10, now):
        return "medium", f"more than doubles the replicas ({now} -> {to}): capacity and cost"
    return "low", f"adds capacity ({now} -> {to})"


def _patch(facts: Facts) -> tuple[str, str]:
    cur = facts.resources
    if cur is None:
        return "medium", "the container's current resources are unknown"
    lowered = [
        f"{part}.{name}"
        for part in ("requests", "limits")
        for name, new in (facts.parameters.get(part) or {}).items()
        if (old := (cur.get(part) or {}).get(name)) is not None and _number(name, new) < old
    ]
    newly_limited = [
        f"limits.{name}"
        for name in (facts.parameters.get("limits") or {})
        if (cur.get("limits") or {}).get(name) is None
    ]
    if "limits.memory" in lowered or "limits.memory" in newly_limited:
        return "high", "a lower (or new) memory limit can OOM-kill the container"
    if lowered or newly_limited:
        return "medium", f"lowers {', '.join(lowered + newly_limited)}"
    if facts.replicas is not None and facts.replicas <= 1:
        return "medium", "rolls the workload's only replica"
    return "low", "raises resources only; rolled out pod by pod"


def _number(name: str, quantity: str) -> int:
    """A checked quantity in the units `resources` holds: millicores or bytes."""
    return cpu_millis(quantity) if name == "cpu" else memory_bytes(quantity)
