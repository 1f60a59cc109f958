"""Reading experiments and runs. A run's state comes from its Action (the injection) and the
clock, so it can never disagree with what governance did."""

from apps.governance.action_models import Status

from .models import Experiment, Run

WAITING = {Status.PROPOSED}
STARTING = {Status.APPROVED, Status.QUEUED, Status.RUNNING}
REFUSED = {Status.REJECTED, Status.EXPIRED, Status.BLOCKED, Status.CANCELLED}
FAILED = {Status.FAILED, Status.ROLLED_BACK}


def run_state(run: Run) -> str:
    """waiting (for approval) | starting (approved, being executed) | running (the fault is in;
    the watcher reads the probes) | aborted (ended early: a probe broke, halted, or Abort) |
    completed (its duration is over) | refused (rejected, expired, blocked or cancelled: nothing
    injected) | failed (the injection failed or was rolled back)."""
    a = run.action
    if run.phase == Run.Phase.ABORTED:
        return "aborted"
    if a.status in REFUSED:
        return "refused"
    if a.status in FAILED:
        return "failed"
    if run.phase == Run.Phase.ENDED:
        return "completed"
    if a.status in WAITING:
        return "waiting"
    if a.status in STARTING:
        return "starting"
    return "running"


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
