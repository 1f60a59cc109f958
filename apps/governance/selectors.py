"""Reads of the action engine for pages, the API and the sweep."""

from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.models import AuditEvent
from apps.core.roles import Cap, user_can
from apps.core.selectors import worker_beats, worker_lost_after

from .action_models import IN_FLIGHT, Action, Status

# --- Workers holding actions ---------------------------------------------------------------


SWEEP_SECONDS = 30  # the actions sweep's beat interval (settings.CELERY_BEAT_SCHEDULE)


def holder_lost(action, beats: dict, now: datetime) -> tuple[bool, datetime | None]:
    """(lost, last seen) for a running action's lease holder. `beats`: hostname -> (last_seen,
    started_at). Lost when the worker was never seen, has been silent past
    worker_lost_after(), or restarted since it claimed the action (the process that held it
    is gone though its name is alive again)."""
    last, started = beats.get(action.lease_holder, (None, None))
    if last is None:
        return True, None
    restarted = action.claimed_at is not None and started > action.claimed_at
    return (last < now - worker_lost_after()) or restarted, last


def action_worker_state(action, *, now: datetime | None = None) -> dict | None:
    """For a running action: which worker holds it and whether that worker is alive; when it
    is lost, by when the sweep queues the action again."""
    if action.status != "running" or not action.lease_holder:
        return None
    now = now or timezone.now()
    lost, last = holder_lost(action, worker_beats({action.lease_holder}), now)
    state = {"holder": action.lease_holder, "last_seen": last, "lost": lost}
    if lost:  # two sweeps (every SWEEP_SECONDS) that find it so queue it again
        state["retry_by"] = now + timedelta(seconds=2 * SWEEP_SECONDS)
    return state


# --- Actions --------------------------------------------------------------------------------


def lost_action_ids(*, now: datetime | None = None) -> list[int]:
    """Queued for over two minutes (the task was lost) or running past the lease (the worker
    died): the sweeper queues them again; the executor's claim makes that safe."""
    now = now or timezone.now()
    stale_queue = Q(status=Status.QUEUED, queued_at__lt=now - timedelta(minutes=2))
    dead_run = Q(status=Status.RUNNING, lease_until__lt=now)
    return list(Action.objects.filter(stale_queue | dead_run).values_list("pk", flat=True))


def action_list(*, status: str = "", cluster=None) -> QuerySet:
    qs = Action.objects.select_related("cluster").prefetch_related("approvals")
    if status:
        qs = qs.filter(status=status)
    if cluster is not None:
        qs = qs.filter(cluster=cluster)
    return qs.order_by("-created_at")


REPLACED_VISIBLE = timedelta(minutes=2)  # a replaced proposal stays in the inbox this long


def actions_recently_replaced(*, now: datetime | None = None) -> QuerySet:
    since = (now or timezone.now()) - REPLACED_VISIBLE
    return (
        Action.objects.select_related("cluster", "replaced_by")
        .prefetch_related("approvals")
        .filter(status=Status.CANCELLED, replaced_by__isnull=False, finished_at__gte=since)
    )


def action_timeline(action) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(target_type="action", target_id=str(action.pk)).order_by("seq")


def workloads_with_active_actions(cluster) -> dict[tuple[str, str], str]:
    """Workloads with an action proposed, approved, queued or running: {(namespace,
    workload): why} (registered in WORKLOAD_HOLDS: one change at a time)."""
    out: dict[tuple[str, str], str] = {}
    for a in Action.objects.filter(cluster=cluster, status__in=IN_FLIGHT).exclude(workload=""):
        out.setdefault(
            (a.namespace, a.workload),
            f"already has an active action #{a.pk} ({a.get_kind_display()}, {a.status})",
        )
    return out


def approver_still_entitled(action: Action) -> str:
    """ "" if every human approval still comes from someone who may approve; else who not."""
    for ap in action.approvals.filter(decision="approve").select_related("approver_user"):
        if ap.approver_user is not None and not user_can(ap.approver_user, Cap.APPROVE):
            return f"{ap.approver} no longer holds the approver role"
    return ""
