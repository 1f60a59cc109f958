"""The executor: claims a queued action, checks again, snapshots, changes the cluster through
the gateway, verifies, and rolls back when verification fails.

At most one effective change per action however often its task is delivered: the claim is a
conditional UPDATE with a lease; a redelivered task finds the action taken, and one whose
worker died resumes after the lease with the same idempotent gateway call (delete by UID,
absolute replica counts, restart stamped with the approval time, undo to a template hash).
"""

import contextlib
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.clusters.connect import gateway_for
from apps.clusters.gateway import errors as gw_errors
from apps.clusters.models import Cluster
from apps.core.models import Mode
from apps.core.selectors import safety_state_get
from apps.core.services import audit_record

from . import chaosmesh, guards
from .action_models import CHAOS_KINDS, Action, Kind, Source, Status
from .actions.policies import rules
from .actions.transitions import effective_mode, transition
from .notify import action_failed_notify
from .podwatch import PodWatch, watch_pods
from .selectors import approver_still_entitled

MAX_ATTEMPTS = 6
SYSTEM = "system:executor"
VERIFY_FAST_SECONDS = 20  # verification looks every 0.25 s for this long, then every second


class RetryLater(Exception):
    """The cluster is unreachable or a PDB says not yet: the task retries with back-off."""


class GuardRefused(Exception):
    """A guard said no after the change began (the target changed under us): undo, block."""


def _finish(action: Action, to: str, verb: str, reason: str, **fields) -> Action:
    with transaction.atomic():
        action = transition(
            action,
            to=to,
            allowed=(Status.RUNNING,),
            actor=SYSTEM,
            verb=verb,
            reason=reason,
            status_reason=reason,
            finished_at=timezone.now(),
            lease_until=None,
            **fields,
        )
        if to in (Status.FAILED, Status.ROLLED_BACK):
            action_failed_notify(action)
        return action


def claim(action_id: int, lease_seconds: int, holder: str = "") -> Action | None:
    now = timezone.now()
    n = (
        Action.objects.filter(pk=action_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, lease_until__lt=now))
        .update(
            status=Status.RUNNING,
            lease_until=now + timedelta(seconds=lease_seconds),
            lease_holder=holder,
            claimed_at=now,
            holder_silent_since=None,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
            version=F("version") + 1,
        )
    )
    if n != 1:
        return None
    action = Action.objects.select_related("cluster").get(pk=action_id)
    audit_record(
        actor=SYSTEM,
        verb="action.running",
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        after={"attempt": action.attempts, "worker": holder},
        reason="resumed after an interrupted attempt" if action.attempts > 1 else "",
    )
    return action


def execute(action_id: int, *, worker: str = "") -> str:
    """Run one approved action; `worker` is the Celery node that holds its lease (its
    heartbeat tells the sweep whether it is still alive)."""
    r = rules()
    action = claim(action_id, r["execution_timeout_seconds"], worker)
    if action is None:
        return "skipped"  # taken by another delivery, or already final
    now = timezone.now()
    if action.approved_fingerprint != action.fingerprint:
        return _finish(
            action,
            Status.BLOCKED,
            "action.blocked",
            "parameters changed after approval: the approval is void",
        ).status
    lost = approver_still_entitled(action)
    if lost:
        return _finish(action, Status.BLOCKED, "action.blocked", lost).status
    if (
        action.approved_at
        and action.approved_at + timedelta(minutes=r["approval_ttl_minutes"]) < now
        and action.snapshot is None
    ):
        return _finish(
            action, Status.EXPIRED, "action.expired", "the approval expired before it could run"
        ).status
    verdict = guards.check(action, stage="execution")
    if verdict.outcome == "cancel":
        return _finish(action, Status.CANCELLED, "action.cancelled", verdict.message).status
    if not verdict.ok:
        plan = {"plan": verdict.plan} if verdict.plan else None
        return _finish(
            action, Status.BLOCKED, "action.blocked", verdict.message, result=plan
        ).status
    if action.attempts > MAX_ATTEMPTS:
        return _finish(
            action, Status.FAILED, "action.failed", f"gave up after {MAX_ATTEMPTS} attempts"
        ).status
    try:
        gw = gateway_for(action.cluster)
    except gw_errors.GatewayError as exc:
        return _retry_or_fail(action, exc)
    try:
        return _run(action, gw, r)
    finally:
        gw.close()


def _retry_or_fail(action: Action, exc: gw_errors.GatewayError) -> str:
    if exc.retryable and action.attempts < MAX_ATTEMPTS:
        with transaction.atomic():
            transition(
                action,
                to=Status.QUEUED,
                allowed=(Status.RUNNING,),
                actor=SYSTEM,
                verb="action.retrying",
                reason=exc.message,
                lease_until=None,
            )
        raise RetryLater(exc.message)
    return _finish(
        action, Status.FAILED, "action.failed", f"{type(exc).__name__}: {exc.message}"
    ).status


def _run(action: Action, gw, r: dict) -> str:
    if action.snapshot is None:
        snap = snapshot(gw, action)
        Action.objects.filter(pk=action.pk).update(snapshot=snap)
        action.snapshot = snap
    try:
        mutate(gw, action)
    except gw_errors.PDBBlocked as exc:
        started = action.started_at or timezone.now()
        if (timezone.now() - started).total_seconds() < r["pdb_retry_seconds"]:
            return _retry_or_fail(action, exc)
        return _finish(
            action,
            Status.BLOCKED,
            "action.blocked",
            f"PodDisruptionBudget still refuses after {r['pdb_retry_seconds']} s: {exc.message}",
        ).status
    except (gw_errors.Conflict, gw_errors.NotFound) as exc:
        if action.kind not in (Kind.RESTART_POD, Kind.EVICT_POD):
            return _finish(action, Status.FAILED, "action.failed", exc.message).status
        # The pod was already replaced (an earlier attempt did it, or Kubernetes): verify.
    except gw_errors.GatewayError as exc:
        return _retry_or_fail(action, exc)
    except GuardRefused as exc:
        undone = rollback(gw, action)
        return _finish(
            action, Status.BLOCKED, "action.blocked", f"{exc}; rolled back: {undone or 'nothing'}"
        ).status
    if effective_mode(action.cluster) == Mode.HALTED:
        # A fault injected as the mode turned halted is taken away again at once.
        undone = rollback(gw, action) if action.kind in CHAOS_KINDS else ""
        return _finish(
            action,
            Status.CANCELLED,
            "action.cancelled",
            "halted after the change was made: no verification or follow-up"
            + (f"; {undone}" if undone else ""),
        ).status
    watch = r["resources_watch_seconds"]
    ok, detail, healthy_at = verify(gw, action, r["verify_timeout_seconds"], watch_seconds=watch)
    if ok:
        # When, on the cluster's clock, the target was first seen healthy (the API server's
        # Date when the rollout was done, before any watch after it).
        at = {"verified_at": healthy_at.isoformat()} if healthy_at else {}
        return _finish(
            action, Status.SUCCEEDED, "action.succeeded", detail, result={"verified": detail, **at}
        ).status
    undone = rollback(gw, action)
    if undone:
        return _finish(
            action,
            Status.ROLLED_BACK,
            "action.rolled_back",
            f"verification failed ({detail}); rolled back: {undone}",
            result={"verification": detail, "rollback": undone, **_cluster_time(action)},
        ).status
    return _finish(
        action,
        Status.FAILED,
        "action.failed",
        f"verification failed ({detail}); nothing to roll back",
        result={"verification": detail, **_cluster_time(action)},
    ).status


def _cluster_time(action: Action) -> dict:
    """The cluster's clock at the outcome (its last collection), so an outcome can be put on
    the same timeline as the samples even when the cluster runs ahead of the wall clock."""
    at = Cluster.objects.filter(pk=action.cluster_id).values_list("last_cluster_time", flat=True)
    at = at.first()
    return {"cluster_time": at.isoformat()} if at else {}


# --- per kind -------------------------------------------------------------------------------


def _current_hash(gw, ns: str, name: str) -> str:
    dep = gw.deployment(ns, name)
    try:
        return gw.replica_set_hash(ns, name, dep.revision)
    except gw_errors.NotFound:
        return ""


def snapshot(gw, a: Action) -> dict:
    if a.target_kind == "Node":
        node = next(n for n in gw.nodes() if n.name == a.target_name)
        return {"unschedulable": node.unschedulable}
    if a.target_kind == "Pod":
        dep = gw.deployment(a.namespace, a.workload) if a.workload else None
        return {"pod_uid": a.target_uid, "replicas": dep.replicas if dep else None}
    dep = gw.deployment(a.namespace, a.target_name)
    return {
        "replicas": dep.replicas,
        "revision": dep.revision,
        "template_hash": _current_hash(gw, a.namespace, a.target_name),
    }


def _chaos_spec(a: Action) -> tuple[str, dict]:
    return chaosmesh.chaos_object(a.kind, a.namespace, a.target_name, a.parameters)


def _refuse_new_protected_pods(gw, a: Action) -> None:
    """The guard looked before the node was cordoned; a protected pod scheduled in between
    stops the drain before any eviction (the rollback uncordons)."""
    if safety_state_get().switch("allow_protected_namespaces").enabled:
        return
    pods = guards.protected_pods_on(gw, a.cluster, a.target_name)
    if pods:
        raise GuardRefused(
            f"pods in protected namespaces appeared on {a.target_name} ({', '.join(pods)}); "
            "that needs the allow_protected_namespaces switch"
        )


def mutate(gw, a: Action) -> None:
    p, ns, name = a.parameters, a.namespace, a.target_name
    if a.kind == Kind.RESTART_POD:
        gw.delete_pod(ns, name, uid=a.target_uid)
    elif a.kind == Kind.EVICT_POD:
        gw.evict_pod(ns, name)
    elif a.kind == Kind.ROLLOUT_RESTART:
        gw.rollout_restart(ns, name, at=a.approved_at)  # the same stamp on every attempt
    elif a.kind == Kind.SCALE:
        gw.scale(ns, name, replicas=p["replicas"])
    elif a.kind == Kind.ROLLOUT_UNDO:
        gw.rollout_undo(ns, name, template_hash=p["template_hash"])
    elif a.kind == Kind.PATCH_RESOURCES:
        gw.patch_resources(
            ns, name, container=p["container"], requests=p.get("requests"), limits=p.get("limits")
        )
    elif a.kind == Kind.CORDON:
        gw.cordon(name)
    elif a.kind == Kind.UNCORDON:
        gw.uncordon(name)
    elif a.kind == Kind.DRAIN_NODE:
        gw.cordon(name)
        _refuse_new_protected_pods(gw, a)
        for pod in guards.drain_targets(gw, name):
            if effective_mode(a.cluster) == Mode.HALTED:
                raise gw_errors.GatewayError("halted during the drain: remaining evictions stopped")
            gw.evict_pod(pod.namespace, pod.name)
    else:
        kind, spec = _chaos_spec(a)
        with contextlib.suppress(gw_errors.Conflict):  # created by an earlier attempt
            gw.create_chaos(kind, ns, chaosmesh.object_name(a.pk), spec)


def _rolled_out(gw, ns: str, name: str, replicas: int | None = None) -> tuple[bool, str]:
    d = gw.deployment(ns, name)
    want = d.replicas if replicas is None else replicas
    done = (
        d.observed_generation >= d.generation
        and d.updated_replicas == want
        and d.ready_replicas == want
        and d.replicas == want
    )
    return done, f"{d.ready_replicas}/{want} ready, {d.updated_replicas} updated"


def _check(gw, a: Action) -> tuple[bool, str]:
    if a.kind in (Kind.RESTART_POD, Kind.EVICT_POD):
        # Terminating counts as gone: on a lost node it stays so until its kubelet returns.
        gone = all(p.uid != a.target_uid or p.terminating for p in gw.pods(a.namespace))
        if not a.workload:
            return gone, "pod replaced" if gone else "pod still there"
        done, detail = _rolled_out(gw, a.namespace, a.workload)
        return gone and done, f"old pod {'gone' if gone else 'still there'}, {detail}"
    if a.kind == Kind.SCALE:
        return _rolled_out(gw, a.namespace, a.target_name, a.parameters["replicas"])
    if a.kind in (Kind.ROLLOUT_RESTART, Kind.ROLLOUT_UNDO, Kind.PATCH_RESOURCES):
        return _rolled_out(gw, a.namespace, a.target_name)
    if a.kind in (Kind.CORDON, Kind.UNCORDON, Kind.DRAIN_NODE):
        node = next(n for n in gw.nodes() if n.name == a.target_name)
        want = a.kind != Kind.UNCORDON
        # Drained: nothing left but DaemonSet pods and, on a lost node, Terminating ones
        # (no kubelet confirms their end; their replacements run elsewhere).
        left = (
            [
                p.name
                for p in gw.pods(field_selector=f"spec.nodeName={a.target_name}")
                if not guards.daemonset_pod(p) and (node.ready or not p.terminating)
            ]
            if a.kind == Kind.DRAIN_NODE
            else []
        )
        return node.unschedulable == want and not left, (
            f"unschedulable={node.unschedulable}" + (f", {len(left)} pods left" if left else "")
        )
    kind, _ = _chaos_spec(a)
    gw.get_chaos(kind, a.namespace, chaosmesh.object_name(a.pk))
    return True, f"{kind} {chaosmesh.object_name(a.pk)} in place"


def verify(
    gw, a: Action, timeout: float, *, watch_seconds: float = 0
) -> tuple[bool, str, datetime | None]:
    """(ok, detail, when the target was first seen healthy on the cluster's clock)."""
    deadline = time.monotonic() + timeout
    detail = ""
    watch = PodWatch(gw, a) if a.kind == Kind.PATCH_RESOURCES else None
    while True:
        try:
            ok, detail = _check(gw, a)
            trouble = watch.trouble() if watch else ""
        except gw_errors.GatewayError as exc:
            ok, detail, trouble = False, exc.message, ""
        if trouble:
            return False, trouble, None
        healthy_at = gw.last_server_time if ok else None
        if ok and watch and watch_seconds > 0:
            return (*watch_pods(watch, watch_seconds, detail), healthy_at)
        if ok or time.monotonic() >= deadline:
            return ok, detail, healthy_at
        time.sleep(_poll_interval(timeout - (deadline - time.monotonic())))


def _poll_interval(waited: float) -> float:
    """Look often while a change usually lands (a rollout of a few pods takes seconds), then
    every second: MTTR is measured to the first look that sees the target healthy."""
    return 0.25 if waited < VERIFY_FAST_SECONDS else 1.0


def rollback(gw, a: Action) -> str:
    """Undo the change, saying what was done ("" when nothing could be); never raises."""
    try:
        return undo(gw, a)
    except gw_errors.GatewayError as exc:
        return f"rollback failed: {exc.message}"


def undo(gw, a: Action) -> str:
    """Put the target back as the snapshot found it; what was done, "" when there is nothing
    to undo. Raises GatewayError (NotFound: already gone)."""
    snap = a.snapshot or {}
    if a.kind == Kind.SCALE:
        gw.scale(a.namespace, a.target_name, replicas=snap["replicas"])
        return f"scaled back to {snap['replicas']}"
    if a.kind in (Kind.ROLLOUT_RESTART, Kind.ROLLOUT_UNDO, Kind.PATCH_RESOURCES) and snap.get(
        "template_hash"
    ):
        gw.rollout_undo(a.namespace, a.target_name, template_hash=snap["template_hash"])
        return f"rolled back to revision {snap.get('revision')}"
    if a.kind in (Kind.CORDON, Kind.DRAIN_NODE) and not snap.get("unschedulable"):
        gw.uncordon(a.target_name)
        return f"{a.target_name} uncordoned"
    if a.kind == Kind.UNCORDON and snap.get("unschedulable"):
        gw.cordon(a.target_name)
        return "cordoned again"
    if a.kind in CHAOS_KINDS:
        kind, _ = _chaos_spec(a)
        gw.delete_chaos(kind, a.namespace, chaosmesh.object_name(a.pk))
        return f"{kind} {chaosmesh.object_name(a.pk)} deleted"
    return ""


# --- ending a chaos fault early ---------------------------------------------------------------


def chaos_stop(action_id: int, *, actor: str, reason: str) -> str:
    """End a chaos Action's fault before its duration: an Action not yet carried out is
    cancelled, and an injected one has its Chaos Mesh object deleted. Allowed in every mode,
    `halted` included, and with every switch off: it takes a fault away, never adds one. Safe
    to repeat (an object already gone is fine). Returns what it did."""
    action = Action.objects.select_related("cluster").get(pk=action_id)
    drain = action.kind == Kind.DRAIN_NODE and action.source == Source.CHAOS
    if action.kind not in CHAOS_KINDS and not drain:
        raise ValueError(f"action #{action_id} is {action.kind}, not a chaos fault")
    waiting = (Status.PROPOSED, Status.APPROVED, Status.QUEUED)
    if action.status in waiting:
        with transaction.atomic():
            transition(
                action,
                to=Status.CANCELLED,
                allowed=waiting,
                actor=actor,
                verb="action.cancelled",
                reason=reason,
                status_reason=f"stopped before it ran: {reason}",
                finished_at=timezone.now(),
            )
        return "cancelled before it ran"
    try:
        gw = gateway_for(action.cluster)
        try:
            done = undo(gw, action) or "nothing to undo (the node was cordoned before the drain)"
        except gw_errors.NotFound:
            done = "already gone"
        finally:
            gw.close()
    except gw_errors.GatewayError as exc:
        raise RetryLater(f"stopping action #{action.pk}'s fault: {exc.message}") from exc
    with transaction.atomic():
        locked = Action.objects.select_for_update().get(pk=action.pk)
        stops = [
            *((locked.result or {}).get("stops") or []),
            {"at": timezone.now().isoformat(), "by": actor, "did": done},
        ]
        Action.objects.filter(pk=locked.pk).update(result={**(locked.result or {}), "stops": stops})
        audit_record(
            actor=actor,
            verb="action.chaos_stopped",
            target_type="governance.action",
            target_id=str(action.pk),
            target_repr=f"action #{action.pk} {action}",
            after={"did": done},
            reason=reason,
        )
    return done
