"""Actions whose worker stopped: found by the worker's heartbeat, not only by the lease."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.selectors import worker_beats, worker_lost_after
from apps.core.services import audit_record

from ..action_models import Action, Status
from ..selectors import holder_lost


def actions_reclaim_from_lost_workers(*, now=None) -> list[int]:
    """A running action whose lease holder has stopped heart-beating (or was restarted since
    it claimed the action) is lost long before its lease (the execution timeout, minutes) runs
    out. A sweep that finds the holder silent notes it; the next sweep that still does ends
    the lease, audited, and queues the action again (the executor's claim makes a second run
    safe). A holder heard from again in between keeps its action."""
    now = now or timezone.now()
    running = list(
        Action.objects.filter(status=Status.RUNNING, lease_until__gt=now).exclude(lease_holder="")
    )
    beats = worker_beats({a.lease_holder for a in running})
    out = []
    for action in running:
        lost, last = holder_lost(action, beats, now)
        if not lost:
            if action.holder_silent_since is not None:
                Action.objects.filter(pk=action.pk).update(holder_silent_since=None)
            continue
        if action.holder_silent_since is None:
            Action.objects.filter(pk=action.pk, holder_silent_since=None).update(
                holder_silent_since=now
            )
            continue
        if _reclaim(action, last, now):
            out.append(action.pk)
    return out


def _reclaim(action: Action, last, now) -> bool:
    with transaction.atomic():
        n = Action.objects.filter(
            pk=action.pk, status=Status.RUNNING, version=action.version
        ).update(lease_until=now, holder_silent_since=None, version=F("version") + 1)
        if n != 1:
            return False
        seen = f"last seen {last:%H:%M:%S} UTC" if last else "never seen"
        audit_record(
            actor="system:sweep",
            verb="action.worker_lost",
            target_type="action",
            target_id=str(action.pk),
            target_repr=f"action #{action.pk} {action}",
            before={"lease_holder": action.lease_holder, "lease_until": action.lease_until},
            after={"lease_until": now},
            reason=f"worker {action.lease_holder} stopped ({seen}; silent over "
            f"{int(worker_lost_after().total_seconds())} s on two sweeps, or restarted since it "
            "claimed the action); queued again",
        )
    return True
