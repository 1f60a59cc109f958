"""Runbooks: declarative, one per cause. Each says what it does, the Action it proposes (or
that it escalates, with what a person should check), its risk, the expected effect, how the
outcome is verified, and how it is rolled back. Pure: `plan(diagnosis)` turns a diagnosis
into concrete Action parameters or an escalation; governance does the rest."""

import math
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from apps.clusters.quantity import memory_bytes

from .diagnose import Cause, Diagnosis

MiB = 2**20
MEMORY_STEP = 1.5  # new limit: the observed peak x this, rounded up to 64 MiB
MEMORY_MIN_RAISE = 1.25  # and at least the old limit x this
LEAK_HOLD_MINUTES = 30  # a leak's new limit must hold this long at the observed growth...
LEAK_MAX_RAISE = 4  # ...but never more than the old limit x this (a leak is not fed forever)
REFRESH_MEMORY = 1.25  # a waiting memory fix is re-sized when the fresh one is a step larger
SCALE_STEP = 1.5
SCALE_MAX_ADD = 4
# A node NotReady this long is drained. The node controller marks a node NotReady only after
# node-monitor-grace-period (40-50 s) without a heartbeat, so by then its kubelet has been
# silent for over a minute; a restarting kubelet is back within that.
DRAIN_AFTER = timedelta(seconds=30)


class Risk(StrEnum):
    """A runbook's own judgement of its fix (governance's rating may only raise it)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Resolves(StrEnum):
    """When an incident a runbook acted on is over."""

    CLEAR = "clear"  # every signal is gone
    WORKLOADS = "workloads"  # the workloads are healthy again, though the root (a node) is not


@dataclass(frozen=True, kw_only=True)
class Runbook:
    name: str
    title: str
    action: str | None  # an Action kind (governance's Kind values), or None: escalate
    risk: Risk
    expected: str
    verification: str
    rollback: str
    checks: tuple[str, ...] = ()  # for people: what to look at
    verify_minutes: int = 5
    resolves_when: Resolves = Resolves.CLEAR


RUNBOOKS: dict[str, Runbook] = {
    Cause.BAD_ROLLOUT: Runbook(
        name="rollout-undo",
        title="Roll back the failing revision",
        action="rollout_undo",
        risk=Risk.LOW,  # it returns to the revision that ran fine minutes ago
        expected="the previous revision's pods come up ready and the crash loop stops",
        verification=(
            "no pod of the workload crash-looping or unready for the verification window, and every"
            " replica available"
        ),
        rollback="roll forward again (a new rollout of the failing revision)",
    ),
    Cause.MEMORY_LEAK: Runbook(
        name="raise-memory-limit",
        title="Raise the memory limit (buys time for a leak)",
        action="patch_resources",
        risk=Risk.LOW,
        expected=(
            "no OOM kill for the verification window; the leak itself remains and the owners are "
            "told"
        ),
        verification=(
            "no OOMKilled container and every replica available for the verification window"
        ),
        rollback="patch the previous limit back (the executor's snapshot)",
        checks=("profile the process's memory growth", "recent changes to caches or pools"),
    ),
    Cause.MEMORY_UNDERSIZED: Runbook(
        name="raise-memory-limit",
        title="Raise the memory limit above the observed peak",
        action="patch_resources",
        risk=Risk.LOW,
        expected="no OOM kill with the new limit",
        verification=(
            "no OOMKilled container and every replica available for the verification window"
        ),
        rollback="patch the previous limit back (the executor's snapshot)",
    ),
    Cause.PREDICTED_OOM: Runbook(
        name="raise-memory-limit",
        title="Raise the memory limit before the predicted OOM",
        action="patch_resources",
        risk=Risk.LOW,
        expected="memory stays below the new limit; the predicted OOM does not happen",
        verification="no OOMKilled container for the verification window",
        rollback="patch the previous limit back (the executor's snapshot)",
    ),
    Cause.CRASH_LOOP: Runbook(
        name="rollout-restart",
        title="Restart the workload's pods",
        action="rollout_restart",
        risk=Risk.LOW,
        expected="fresh pods start without the crash",
        verification="no pod crash-looping and every replica available for the verification window",
        rollback="nothing to undo: a restart changes no configuration",
        checks=("the application's logs of the crashing container",),
    ),
    Cause.READINESS: Runbook(
        name="restart-pod",
        title="Restart the unready pods",
        action="restart_pod",
        risk=Risk.LOW,
        expected="the replacement pods pass their readiness probe",
        verification="every replica ready for the verification window",
        rollback="nothing to undo: the Deployment recreates the pod",
    ),
    Cause.SATURATION: Runbook(
        name="scale-up",
        title="Scale up the saturated workload",
        action="scale",
        risk=Risk.LOW,  # at most +50% (and +4) replicas: more capacity, nothing removed
        expected="the load spreads over more replicas; CPU per pod falls below its limit",
        verification=(
            "no pod at its CPU limit and every replica available for the verification window"
        ),
        rollback="scale back to the previous replica count (the executor's snapshot)",
    ),
    Cause.PREDICTED_SATURATION: Runbook(
        name="scale-up",
        title="Scale up before CPU saturates",
        action="scale",
        risk=Risk.LOW,
        expected="the load spreads over more replicas; CPU per pod falls below its limit",
        verification="every replica available and the risk falls below high",
        rollback="scale back to the previous replica count (the executor's snapshot)",
    ),
    # Left alone, Kubernetes evicts a lost node's pods only after their 300 s toleration.
    # Draining once the node has stayed NotReady for DRAIN_AFTER (a restarting kubelet is
    # back within that) has the pods replaced on healthy nodes minutes earlier: the evicted
    # pods stay Terminating until the kubelet returns, but their controllers replace them at
    # once. Evictions respect PodDisruptionBudgets. The node itself needs a person.
    Cause.NODE: Runbook(
        name="drain-node",
        title="Cordon and drain the NotReady node",
        action="drain_node",
        risk=Risk.LOW,  # its pods are down already; evictions respect their budgets
        expected=(
            "nothing new is scheduled on it; its pods are replaced on healthy nodes within a minute"
        ),
        verification=(
            "the node is cordoned, nothing but Terminating pods is left on it, and the workloads "
            "that ran there have every replica available"
        ),
        rollback="uncordon the node (evicted pods are not brought back; their replacements stay)",
        checks=("the node's kubelet and its cloud instance", "uncordon it once repaired"),
        resolves_when=Resolves.WORKLOADS,
    ),
    Cause.NODE_PRESSURE: Runbook(
        name="cordon-node",
        title="Cordon the node under pressure",
        action="cordon",
        risk=Risk.LOW,
        expected="no new pods land on it while the pressure lasts",
        verification=(
            "the node is cordoned and its pressure conditions clear or its pods stay healthy"
        ),
        rollback="uncordon the node",
        checks=("what fills the node's memory, disk or PIDs",),
    ),
}
ESCALATIONS: dict[str, tuple[str, ...]] = {
    Cause.IMAGE_PULL: (
        "the image name and tag exist in the registry",
        "the pull secret and the registry's reachability from the nodes",
        "roll back by hand if the previous image is wanted",
    ),
    Cause.CONFIG_ERROR: (
        "the ConfigMaps and Secrets the pod spec references, and their keys",
        "recent changes to them",
    ),
    Cause.NAMESPACE_CHANGE: (
        "what changed in the namespace in the minutes before (ConfigMaps, Secrets, releases)",
        "whether rolling back that change is safe for every workload involved",
    ),
    Cause.UNSCHEDULABLE: (
        "free CPU and memory on the nodes against the pods' requests",
        "taints, node selectors and affinity rules",
    ),
    Cause.PVC_UNBOUND: (
        "the claim's storage class exists and can provision",
        "quota and capacity of the storage backend",
    ),
    Cause.JOB_FAILED: (
        "the logs and exit codes of the Job's failed pods (kubectl logs job/<name>)",
        "whether the work is safe to re-run (idempotent) before re-creating the Job",
        "the Job's backoffLimit and activeDeadlineSeconds against how long the work takes",
    ),
    Cause.AUTOSCALER_MAXED: ("the autoscaler's maximum and the budget for more replicas",),
    Cause.EVICTIONS: ("the node that evicted the pods and its pressure",),
    Cause.PREDICTED_FAILURE: ("the risk's reasons on the Predictions page",),
    Cause.ANOMALY: ("the anomaly timeline of the workload or node",),
    Cause.VOLUME_FILLING: (
        "what fills the volume (logs, caches, data that should expire)",
        "expand the claim if its storage class allows volume expansion",
    ),
    Cause.ALERT: (
        "the alert's runbook and its source (the Prometheus link on the incident)",
        "what the alert's labels point at",
    ),
}


def runbook_for(cause: str) -> Runbook:
    if cause in RUNBOOKS:
        return RUNBOOKS[cause]
    return Runbook(
        name="escalate",
        title="Escalate to a person",
        action=None,
        risk=Risk.LOW,
        expected="a person checks and fixes it; ZeroTouch changes nothing",
        verification="the signals clear",
        rollback="nothing to undo",
        checks=ESCALATIONS.get(cause, ("the incident's evidence",)),
    )


def runbook_named(name: str) -> Runbook:
    return next((b for b in RUNBOOKS.values() if b.name == name), runbook_for(""))


@dataclass(frozen=True)
class Plan:
    runbook: Runbook
    kind: str | None  # Action kind; None: escalate
    namespace: str = ""
    target: str = ""
    parameters: dict = field(default_factory=dict)
    why_not: str = ""  # why an automatic runbook escalates instead
    wait: timedelta | None = None  # proposed no earlier than this after the problem began
    wait_why: str = ""
    # Every target the plan would accept (the unready pods, of which it names the first): a
    # waiting fix for any of them still fits.
    targets: tuple[str, ...] = ()


def plan(d: Diagnosis) -> Plan:
    """The concrete change for a diagnosis, or an escalation saying why there is none."""
    book = runbook_for(d.cause)
    if book.action is None:
        return Plan(book, None)
    ns, name, f = d.namespace, d.name, d.facts
    if book.action == "rollout_undo":
        if f.get("revision", 0) < 2:
            return _escalate(book, "no earlier revision to roll back to")
        return Plan(book, "rollout_undo", ns, name, {"revision": f["revision"] - 1})
    if book.action == "patch_resources":
        # A leak, or a predicted OOM whose memory climbs steadily (a leak not yet killed).
        leak = d.cause == Cause.MEMORY_LEAK or (d.cause == Cause.PREDICTED_OOM and f.get("steady"))
        limit = _memory_limit(f, leak=leak)
        if limit is None:
            return _escalate(book, "no memory samples to size a new limit from")
        container = f.get("container") or name
        limits = {"memory": f"{limit // MiB}Mi"}
        return Plan(book, "patch_resources", ns, name, {"container": container, "limits": limits})
    if book.action == "scale":
        current = f.get("replicas") or 1
        target = min(current + SCALE_MAX_ADD, math.ceil(current * SCALE_STEP))
        return Plan(book, "scale", ns, name, {"replicas": max(target, current + 1)})
    if book.action == "restart_pod":
        pods = f.get("pods") or []
        if not pods:
            return _escalate(book, "no pod named in the evidence")
        return Plan(book, "restart_pod", ns, pods[0], {}, targets=tuple(pods))
    if book.action == "drain_node":
        why = (
            f"a node is drained once NotReady for {DRAIN_AFTER.seconds} s: a restarting kubelet "
            "is back within that"
        )
        return Plan(book, "drain_node", "", name, {}, wait=DRAIN_AFTER, wait_why=why)
    if book.action == "cordon":
        return Plan(book, book.action, "", name, {})
    return Plan(book, book.action, ns, name, {})


def _memory_limit(f: dict, *, leak: bool = False) -> int | None:
    """The observed peak x 1.5, at least the old limit x 1.25, rounded up to 64 MiB. For a
    leak, also the peak plus LEAK_HOLD_MINUTES of its observed growth (up to the old limit x
    LEAK_MAX_RAISE): a limit the leak outgrows within the verification window fixes nothing."""
    peak, old = f.get("peak_bytes"), f.get("limit_bytes")
    if not peak:
        return None
    want = max(peak * MEMORY_STEP, (old or 0) * MEMORY_MIN_RAISE)
    growth = f.get("growth_bytes_per_min") or 0.0
    if leak and old and growth > 0:
        hold = peak + growth * LEAK_HOLD_MINUTES
        want = max(want, min(hold, old * LEAK_MAX_RAISE))
    return int(math.ceil(want / (64 * MiB)) * 64 * MiB)


# The parameters a runbook sets, per kind. A waiting proposal is compared on these alone: the
# cluster fills in others when it is proposed (a rollout undo's template hash), and those are
# no change of what the fix does.
OWN_PARAMETERS = {
    "rollout_undo": ("revision",),
    "scale": ("replicas",),
    "patch_resources": ("container", "limits"),
}


def canonical(kind: str, parameters: dict) -> dict:
    """A plan's parameters as the runbook sets them (see OWN_PARAMETERS)."""
    keys = OWN_PARAMETERS.get(kind)
    return dict(parameters) if keys is None else {k: parameters.get(k) for k in keys}


def stale(proposed: Plan, fresh: Plan) -> str:
    """Why a fix still waiting for approval no longer fits what the latest cycle sees ("" if it
    still does). Only a material change counts, so the Approvals inbox is not churned:
    another runbook; a target the fresh plan would not accept; a memory limit at least a step
    (x1.25) too small; a scale to fewer replicas than are needed now; other parameters that
    differ in what the runbook itself sets (not in what the cluster filled in)."""
    if fresh.kind is None:
        return f"no automatic fix applies any more ({fresh.why_not or fresh.runbook.title})"
    if proposed.runbook.name != fresh.runbook.name or proposed.kind != fresh.kind:
        return f"the runbook is now {fresh.runbook.title.lower()}"
    if proposed.namespace != fresh.namespace or proposed.target not in (
        fresh.targets or (fresh.target,)
    ):
        return f"the target is now {'/'.join(x for x in (fresh.namespace, fresh.target) if x)}"
    old, new = canonical(fresh.kind, proposed.parameters), canonical(fresh.kind, fresh.parameters)
    if fresh.kind == "patch_resources":
        was, now = (memory_bytes((p.get("limits") or {}).get("memory") or 0) for p in (old, new))
        if was and now > was * REFRESH_MEMORY:
            return (
                f"the memory limit it sets ({was // MiB} Mi) is now too small; re-sized to "
                f"{now // MiB} Mi"
            )
        return ""
    if fresh.kind == "scale":
        was, now = old.get("replicas") or 0, new.get("replicas") or 0
        if now > was:
            return f"{now} replicas are needed now, not {was}"
        return ""
    if old != new:
        return f"its parameters are now {new} (were {old})"
    return ""


def _escalate(book: Runbook, why: str) -> Plan:
    return Plan(book, None, why_not=why)
