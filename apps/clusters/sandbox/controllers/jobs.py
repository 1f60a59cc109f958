"""The job controller: a batch/v1 Job's pods run until `completions` of them succeed; each
failed pod is counted once (its tracking finalizer removed) and replaced after a back-off,
until more than `backoffLimit` have failed. Then the Job is Complete or Failed, for good."""

from datetime import timedelta

from .. import builders, kubelet
from .common import JOBS, PODS, pod_ready, random_suffix, terminal
from .containers import admit_pod, delete_pod
from .scheduler import schedule_pending

SOURCE = "job-controller"
BACKOFF_MAX = 360  # seconds: the pod failure back-off doubles from 10 s up to six minutes
BACKOFF_LIMIT_EXCEEDED = "Job has reached the specified backoff limit"
COMPLETIONS_REACHED = "Reached expected number of succeeded pods"


def reconcile_job_named(sb, namespace: str, name: str) -> None:
    job = sb.store.get(JOBS, namespace, name)
    if job is not None:
        reconcile_job(sb, job)


def reconcile_job(sb, job: dict) -> None:
    old = job.get("status") or {}
    if _finished(old):
        return
    spec = job["spec"]
    pods = sb.store.pods_of(job["metadata"]["uid"])
    failed, succeeded = _count_finished(sb, job, pods, old)
    active = [p for p in pods if not terminal(p)]
    conditions = list(old.get("conditions", []))
    if succeeded >= spec.get("completions", 1):
        _delete_active(sb, job, active)
        conditions.append(_condition(sb, "Complete", "CompletionsReached", COMPLETIONS_REACHED))
        sb.emit(job, "Completed", "Job completed", source=SOURCE)
        active = []
    elif failed + _restarts(active, spec) > spec.get("backoffLimit", 6):
        failed += _delete_active(sb, job, active)  # as the controller does: they count as failed
        conditions += [
            _condition(sb, kind, "BackoffLimitExceeded", BACKOFF_LIMIT_EXCEEDED)
            for kind in ("FailureTarget", "Failed")
        ]
        sb.emit(job, "BackoffLimitExceeded", BACKOFF_LIMIT_EXCEEDED, "Warning", SOURCE)
        sb.record_failure("JobFailed", workload=_key(job), detail=BACKOFF_LIMIT_EXCEEDED)
        active = []
    else:
        active += _create_pods(sb, job, len(active), succeeded)
    _set_status(sb, job, old, active, failed, succeeded, conditions)


def _finished(status: dict) -> bool:
    return any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True"
        for c in status.get("conditions", [])
    )


def _key(job: dict) -> str:
    return f"{job['metadata']['namespace']}/{job['metadata']['name']}"


def _count_finished(sb, job: dict, pods: list[dict], old: dict) -> tuple[int, int]:
    """(failed, succeeded) with the pods that finished since the last pass counted once."""
    failed, succeeded = old.get("failed", 0), old.get("succeeded", 0)
    newly_failed = 0
    for pod in pods:
        finalizers = pod["metadata"].get("finalizers", [])
        if not terminal(pod) or builders.JOB_TRACKING not in finalizers:
            continue
        finalizers.remove(builders.JOB_TRACKING)
        if not finalizers:
            pod["metadata"].pop("finalizers")
        sb.store.update(PODS, pod)
        if pod["status"]["phase"] == "Succeeded":
            succeeded += 1
        else:
            newly_failed += 1
    if newly_failed:
        failed += newly_failed
        delay = kubelet.backoff_seconds(failed, cap=BACKOFF_MAX)
        sb.job_retry_at[job["metadata"]["uid"]] = sb.now + timedelta(seconds=delay)
        sb.after(delay, "job", job["metadata"]["namespace"], job["metadata"]["name"])
    return failed, succeeded


def _restarts(active: list[dict], spec: dict) -> int:
    """With restartPolicy OnFailure the kubelet restarts in place: restarts count as failures."""
    if spec["template"]["spec"].get("restartPolicy") != "OnFailure":
        return 0
    return sum(
        s.get("restartCount", 0) for p in active for s in p["status"].get("containerStatuses", [])
    )


def _create_pods(sb, job: dict, active: int, succeeded: int) -> list[dict]:
    spec = job["spec"]
    want = min(spec.get("parallelism", 1), spec.get("completions", 1) - succeeded) - active
    if want <= 0 or sb.now < sb.job_retry_at.get(job["metadata"]["uid"], sb.now):
        return []
    created = []
    for _ in range(want):
        pod = sb.store.create(PODS, builders.job_pod(job, random_suffix(sb)))
        admit_pod(sb, pod, _key(job))
        sb.emit(job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}", source=SOURCE)
        created.append(pod)
    schedule_pending(sb)
    return created


def _delete_active(sb, job: dict, active: list[dict]) -> int:
    for pod in active:
        delete_pod(sb, pod, reason="job finished")
        sb.emit(job, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}", source=SOURCE)
    return len(active)


def _condition(sb, ctype: str, reason: str, message: str) -> dict:
    now = sb.iso()
    return {
        "type": ctype,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _set_status(sb, job, old, active, failed, succeeded, conditions) -> None:
    status = {
        "startTime": old.get("startTime") or sb.iso(),
        "active": len(active),
        "ready": sum(1 for p in active if pod_ready(p)),
        "failed": failed,
        "succeeded": succeeded,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    for key in ("active", "failed", "succeeded"):  # omitted when zero, as the API server does
        if not status[key]:
            status.pop(key)
    if conditions:
        status["conditions"] = conditions
    if any(c["type"] == "Complete" for c in conditions):
        status["completionTime"] = old.get("completionTime") or sb.iso()
    if status != old:
        job["status"] = status
        sb.store.update(JOBS, job)
