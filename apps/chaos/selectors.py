"""Reading experiments and runs. A run's state comes from its Action (the injection) and the
clock, so it can never disagree with what governance did."""

from datetime import datetime, timedelta

from django.utils import timezone

from apps.governance.action_models import Status

from .models import Experiment, Run

WAITING = {Status.PROPOSED}
STARTING = {Status.APPROVED, Status.QUEUED, Status.RUNNING}
REFUSED = {Status.REJECTED, Status.EXPIRED, Status.BLOCKED, Status.CANCELLED}
FAILED = {Status.FAILED, Status.ROLLED_BACK}


def run_state(run: Run, now: datetime | None = None) -> str:
    """waiting (for approval) | starting | running (the fault is in place) | completed (its
    duration is over) | refused (rejected, expired, blocked or cancelled: nothing injected) |
    failed (the injection failed or was rolled back)."""
    a = run.action
    if a.status in WAITING:
        return "waiting"
    if a.status in STARTING:
        return "starting"
    if a.status in REFUSED:
        return "refused"
    if a.status in FAILED:
        return "failed"
    injected = a.finished_at or a.started_at
    ends = injected + timedelta(seconds=run.experiment.duration_seconds) if injected else None
    return "running" if ends and (now or timezone.now()) < ends else "completed"


def experiments_list(*, cluster=None) -> list[Experiment]:
    qs = Experiment.objects.select_related("cluster", "owner")
    if cluster is not None:
        qs = qs.filter(cluster=cluster)
    return list(qs.prefetch_related("runs__action"))


def experiment_get(pk: int) -> Experiment | None:
    return (
        Experiment.objects.select_related("cluster", "owner")
        .prefetch_related("runs__action")
        .filter(pk=pk)
        .first()
    )
