"""The guards: one check, run when an action is approved and again right before the executor
calls the cluster. Override switches lift a guard only while they are on."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.labels import selector_from_match
from apps.core.models import Mode
from apps.core.selectors import safety_state_get
from apps.core.services import safety_storm_brake

from . import policy as rules_mod
from .action_models import CHAOS_KINDS, POD_KINDS, SANDBOX_ONLY_KINDS, Action, Kind, Status
from .actions.policies import rules
from .actions.transitions import effective_mode

ACTIVE = (Status.QUEUED, Status.RUNNING)
COUNTED = (Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.ROLLED_BACK)


@dataclass(frozen=True)
class Verdict:
    outcome: str = ""  # "" go | "cancel" (halted) | "plan" (dry run) | "block"
    message: str = ""
    guard: str = ""
    plan: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.outcome


def _plan(action: Action) -> dict:
    return {
        "kind": action.kind,
        "target": action.target_label,
        "parameters": action.parameters,
        "cluster": action.cluster.name,
    }


def check(action: Action, *, stage: str, auto: bool = False, now=None) -> Verdict:

    now = now or timezone.now()
    r = rules()
    state = safety_state_get()
    switch = {s.name: s.enabled for s in state.switches}
    mode = effective_mode(action.cluster)
    if mode == Mode.HALTED:
        return Verdict("cancel", "safety mode halted: emergency stop, nothing runs", "mode")
    if mode == Mode.DRY_RUN:
        return Verdict(
            "plan",
            "safety mode dry_run: the plan is recorded, nothing is executed",
            "mode",
            _plan(action),
        )
    if auto and mode != Mode.AUTONOMOUS:
        return Verdict("block", f"safety mode {mode}: no auto-approval", "mode")
    if action.kind in CHAOS_KINDS and not switch["allow_chaos"]:
        return Verdict("block", "chaos experiments need the allow_chaos switch", "chaos")
    if action.kind in SANDBOX_ONLY_KINDS and not action.cluster.simulated:
        return Verdict("block", f"{action.kind} is played by the sandbox only", "chaos")
    if (
        action.namespace in action.cluster.protected_namespaces
        and not switch["allow_protected_namespaces"]
    ):
        return Verdict(
            "block",
            f"namespace {action.namespace} is protected on {action.cluster.name}",
            "protected_namespace",
        )
    # A drain evicts the node's pods; a NotReady node has them evicted by the taint manager.
    node_wide = action.kind in (Kind.DRAIN_NODE, Kind.CHAOS_NODE_NOT_READY)
    if node_wide and not switch["allow_protected_namespaces"]:
        why = _drain_protected(action)
        if why:
            return Verdict("block", why, "protected_namespace")
    why = rules_mod.window_verdict(r, now)
    if why:
        return Verdict("block", why, "window")
    storm = _storm(action, r, now)
    if storm:
        return Verdict("block", storm, "storm_brake")
    if not switch["lift_blast_radius"]:
        blast = _blast_radius(action, r, now, stage)
        if blast:
            return Verdict("block", blast, "blast_radius")
    return Verdict()


def drain_targets(gw, node: str) -> list:
    """The pods a drain evicts, as `kubectl drain --ignore-daemonsets`: not the node's
    DaemonSet pods (their controller would put them straight back, and every node runs some in
    kube-system), not those already being deleted."""
    pods = gw.pods(field_selector=f"spec.nodeName={node}")
    return [p for p in pods if not p.terminating and not daemonset_pod(p)]


def daemonset_pod(pod) -> bool:
    return bool(pod.owner and pod.owner.kind == "DaemonSet")


def protected_pods_on(gw, cluster, node: str) -> list[str]:
    """The pods in protected namespaces a drain of `node` would evict."""
    return sorted(
        f"{p.namespace}/{p.name}"
        for p in drain_targets(gw, node)
        if p.namespace in cluster.protected_namespaces
    )


def _drain_protected(action: Action) -> str:
    """A drain evicts every pod on the node. Pods in protected namespaces go only with the
    allow_protected_namespaces switch, so such a drain is refused whole rather than half done."""

    try:
        gw = gateway_for(action.cluster)
        try:
            pods = protected_pods_on(gw, action.cluster, action.target_name)
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        return f"cannot list the pods on {action.target_name}: {exc.message}"  # fail closed
    if not pods:
        return ""
    shown = ", ".join(pods[:5]) + (f" and {len(pods) - 5} more" if len(pods) > 5 else "")
    verb = "draining" if action.kind == Kind.DRAIN_NODE else "taking down"
    return (
        f"{verb} {action.target_name} would evict pods in protected namespaces ({shown}); "
        "that needs the allow_protected_namespaces switch"
    )


def _others(action: Action):
    return Action.objects.filter(cluster=action.cluster).exclude(pk=action.pk)


def _blast_radius(action: Action, r: dict, now, stage: str) -> str:
    budgets = r["budgets"]
    if action.namespace:
        hour = (
            _others(action)
            .filter(
                namespace=action.namespace,
                status__in=COUNTED,
                queued_at__gte=now - timedelta(hours=1),
            )
            .count()
        )
        why = rules_mod.namespace_budget_verdict(budgets, action.namespace, hour)
        if why:
            return why
    active = _others(action).filter(status__in=ACTIVE).count()
    why = rules_mod.concurrency_verdict(budgets, action.cluster.name, active)
    if why:
        return why
    if action.kind in POD_KINDS and action.workload:
        return _disruption(action, budgets["max_disruption_share"])
    return ""


def _disruption(action: Action, share: float) -> str:
    """At most `share` of a workload's replicas (at least one pod) disrupted at once, and never
    below a PodDisruptionBudget's minimum."""

    busy = (
        _others(action)
        .filter(
            workload=action.workload,
            namespace=action.namespace,
            kind__in=list(POD_KINDS),
            status__in=ACTIVE,
        )
        .count()
    )
    try:
        gw = gateway_for(action.cluster)
        try:
            dep = gw.deployment(action.namespace, action.workload)
            pdbs = gw.pdbs(action.namespace)
            pods = gw.pods(action.namespace)
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        return f"cannot check the blast radius: {exc.message}"  # fail closed
    pod = next((p for p in pods if p.name == action.target_name), None)
    selecting = [
        rules_mod.PdbView(p.name, p.disruptions_allowed, p.current_healthy, p.desired_healthy)
        for p in pdbs
        if pod is not None and selector_from_match(p.selector).matches(pod.labels)
    ]
    return rules_mod.disruption_verdict(
        workload=action.workload, replicas=dep.replicas, share=share, busy=busy, pdbs=selecting
    )


def _storm(action: Action, r: dict, now) -> str:
    """N failures in M minutes halt automation on the cluster, visibly and audited."""
    storm = r["storm"]
    since = now - timedelta(minutes=storm["window_minutes"])
    failures = Action.objects.filter(
        cluster=action.cluster,
        finished_at__gte=since,
        status__in=(Status.FAILED, Status.ROLLED_BACK),
    ).count()
    if failures < storm["failures"]:
        return ""
    if safety_state_get(scope=f"cluster:{action.cluster.pk}").mode != Mode.HALTED:
        safety_storm_brake(
            cluster_pk=action.cluster.pk,
            reason=f"storm brake: {failures} failed actions in {storm['window_minutes']} minutes",
        )
    return (
        f"storm brake: {failures} failed actions on {action.cluster.name} in "
        f"{storm['window_minutes']} minutes; automation halted there"
    )
