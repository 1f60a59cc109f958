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


def experiments_list(*, cluster=None, saved_only: bool = False) -> list[Experiment]:
    qs = Experiment.objects.select_related("cluster", "owner")
    if cluster is not None:
        qs = qs.filter(cluster=cluster)
    if saved_only:  # those that can be run again (one-off experiments cannot)
        qs = qs.filter(one_off=False)
    return list(qs.prefetch_related("runs__action"))


def experiment_get(pk: int) -> Experiment | None:
    return (
        Experiment.objects.select_related("cluster", "owner")
        .prefetch_related("runs__action")
        .filter(pk=pk)
        .first()
    )


SCORE_RUNS = 5  # a workload's resilience: the mean score of its latest graded runs


def scorecard(*, cluster=None) -> dict:
    """Resilience per workload and per namespace from the latest graded runs, and the points
    of its history: {"workloads": [...], "namespaces": [...], "history": [(label, at, score)]}."""
    qs = Run.objects.filter(grade__final=True, grade__score__isnull=False, ended_at__isnull=False)
    qs = qs.select_related("experiment__cluster").order_by("-ended_at")
    if cluster is not None:
        qs = qs.filter(experiment__cluster=cluster)
    by_workload: dict[tuple, list[Run]] = {}
    history = []
    for run in qs[:2000]:
        e = run.experiment
        key = (e.cluster.name, e.namespace, e.workload)
        by_workload.setdefault(key, []).append(run)
        history.append((f"{e.namespace}/{e.workload}", run.ended_at, run.grade["score"]))
    workloads = []
    for (cluster_name, ns, name), rows in sorted(by_workload.items()):
        latest = rows[:SCORE_RUNS]
        workloads.append(
            {
                "cluster": cluster_name,
                "namespace": ns,
                "workload": name,
                "score": round(sum(r.grade["score"] for r in latest) / len(latest)),
                "runs": len(rows),
                "last_verdict": latest[0].grade["verdict"],
                "last_run": latest[0].pk,
            }
        )
    namespaces: dict[tuple, list[int]] = {}
    for w in workloads:
        namespaces.setdefault((w["cluster"], w["namespace"]), []).append(w["score"])
    return {
        "workloads": workloads,
        "namespaces": [
            {"cluster": c, "namespace": ns, "score": round(sum(s) / len(s)), "workloads": len(s)}
            for (c, ns), s in sorted(namespaces.items())
        ],
        "history": history,
    }


def run_get(pk: int) -> Run | None:
    return (
        Run.objects.select_related("action", "experiment__cluster", "experiment__owner")
        .filter(pk=pk)
        .first()
    )
