"""Actions whose worker stopped: found by the worker's heartbeat, not only by the lease."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..action_models import Action, Status
from ..selectors import holder_lost, worker_beats, worker_lost_after
from ..services import audit_record


def actions_reclaim_from_lost_workers(*, now=None) -> list[int]:
    """A running action whose lease holder has stopped heart-beating is lost now, not when its
    lease (the execution timeout, minutes) runs out: its lease ends here, audited, and the
    sweep queues it again at once (the executor's claim makes a second run safe)."""
    now = now or timezone.now()
    running = list(
        Action.objects.filter(status=Status.RUNNING, lease_until__gt=now).exclude(lease_holder="")
    )
    beats = worker_beats({a.lease_holder for a in running})
    out = []
    for action in running:
        lost, last = holder_lost(action, beats, now)
        if not lost:
            continue
        with transaction.atomic():
            n = Action.objects.filter(
                pk=action.pk, status=Status.RUNNING, version=action.version
            ).update(lease_until=now, version=F("version") + 1)
            if n != 1:
                continue
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
                f"{int(worker_lost_after().total_seconds())} s, or restarted since it claimed "
                "the action); queued again",
            )
            out.append(action.pk)
    return out
