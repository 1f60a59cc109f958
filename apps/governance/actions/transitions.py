"""Moving an action between states, the safety mode that applies to its cluster, and the
emergency stop's cancelling of queued actions."""

from django.db.models import F
from django.utils import timezone

from apps.clusters.models import Cluster
from apps.core.errors import Conflict
from apps.core.models import MODE_STRICTNESS, Mode, SafetyMode
from apps.core.selectors import safety_state_get
from apps.core.services import audit_record

from ..action_models import Action, Status


def _snapshot(a: Action) -> dict:
    return {
        "status": a.status,
        "fingerprint": a.fingerprint[:12],
        "approved_fingerprint": a.approved_fingerprint[:12],
        "status_reason": a.status_reason,
    }


def transition(
    action: Action, *, to: str, allowed: tuple, actor, verb: str, reason: str = "", **fields
) -> Action:
    """Move an action between states with a conditional UPDATE and its audit event."""
    before = _snapshot(action)
    n = Action.objects.filter(pk=action.pk, status__in=allowed, version=action.version).update(
        status=to, version=F("version") + 1, **fields
    )
    if n != 1:
        action.refresh_from_db()
        raise Conflict(f"action #{action.pk} is {action.status}; cannot move it to {to}")
    action.refresh_from_db()
    audit_record(
        actor=actor,
        verb=verb,
        target_type="action",
        target_id=str(action.pk),
        target_repr=f"action #{action.pk} {action}",
        before=before,
        after=_snapshot(action),
        reason=reason,
    )
    return action


def effective_mode(cluster: Cluster) -> str:
    modes = [safety_state_get().mode]
    scope = f"cluster:{cluster.pk}"
    if SafetyMode.objects.filter(scope=scope).exists():  # a cluster may be stricter, never looser
        modes.append(safety_state_get(scope=scope).mode)
    return max(modes, key=lambda m: MODE_STRICTNESS[Mode(m)])


def actions_cancel_queued(scope: str, reason: str) -> None:
    """Emergency stop (registered in core's HALT_HOOKS): when a scope is halted, its queued
    actions are cancelled at once, in the transaction of the change. A running one finishes
    its current call and stops there (the executor checks again)."""
    queued = Action.objects.filter(status=Status.QUEUED)
    if scope.startswith("cluster:"):
        queued = queued.filter(cluster_id=int(scope.split(":", 1)[1]))
    for action in queued:
        transition(
            action,
            to=Status.CANCELLED,
            allowed=(Status.QUEUED,),
            actor="system:emergency-stop",
            verb="action.cancelled",
            reason=f"halted: {reason}",
            status_reason=f"halted: {reason}",
            finished_at=timezone.now(),
        )
