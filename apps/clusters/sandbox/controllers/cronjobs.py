"""The cronjob controller, on the sandbox's clock: at each time the schedule names (in
spec.timeZone, UTC by default) it creates a Job from the jobTemplate, named
`<cronjob>-<minutes since the epoch>` as the real controller names it. Missed runs are not
replayed: only the latest is started. concurrencyPolicy Forbid skips a run while one is
active, Replace deletes the active ones first. Finished Jobs beyond the history limits go."""

import copy
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .. import builders
from ..store import ts
from .common import JOBS
from .containers import delete_pod
from .jobs import reconcile_job

CRONJOBS = "batch/cronjobs"
SOURCE = "cronjob-controller"


def zone(cj: dict) -> ZoneInfo:
    try:
        return ZoneInfo(cj["spec"].get("timeZone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=ZoneInfo("UTC"))


def next_run(cj: dict, after: datetime) -> datetime:
    local = after.astimezone(zone(cj))
    return croniter(cj["spec"]["schedule"], local).get_next(datetime).astimezone(ZoneInfo("UTC"))


def due(sb, cj: dict) -> datetime | None:
    """The latest scheduled time that has passed and not yet run, if any."""
    last = (cj.get("status") or {}).get("lastScheduleTime") or cj["metadata"]["creationTimestamp"]
    run = next_run(cj, _parse(last))
    if run > sb.now:
        return None
    latest = run
    for _ in range(100):  # as the controller: missed runs collapse into the latest
        run = next_run(cj, run)
        if run > sb.now:
            break
        latest = run
    return latest


def owned_jobs(sb, cj: dict) -> list[dict]:
    uid = cj["metadata"]["uid"]
    return [
        j
        for j in sb.store.list(JOBS, cj["metadata"]["namespace"])
        if any(r["uid"] == uid for r in j["metadata"].get("ownerReferences", []))
    ]


def finished(job: dict) -> str:
    for c in (job.get("status") or {}).get("conditions", []):
        if c["type"] in ("Complete", "Failed") and c["status"] == "True":
            return c["type"]
    return ""


def reconcile_cronjob(sb, cj: dict) -> None:
    spec = cj["spec"]
    jobs = owned_jobs(sb, cj)
    active = [j for j in jobs if not finished(j)]
    run = None if spec.get("suspend") else due(sb, cj)
    status = dict(cj.get("status") or {})
    if run is not None:
        policy = spec.get("concurrencyPolicy", "Allow")
        status["lastScheduleTime"] = ts(run)
        if policy == "Forbid" and active:
            sb.emit(
                cj,
                "JobAlreadyActive",
                "Not starting job because prior execution is "
                "running and concurrency policy is Forbid",
                source=SOURCE,
            )
        else:
            if policy == "Replace":
                for job in active:
                    _delete_job(sb, job)
                active = []
            active.append(_create_job(sb, cj, run))
    _trim_history(sb, cj, jobs)
    _set_status(sb, cj, status, active, jobs)


def _create_job(sb, cj: dict, run: datetime) -> dict:
    meta, template = cj["metadata"], cj["spec"]["jobTemplate"]
    name = f"{meta['name']}-{int(run.timestamp() // 60)}"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "uid": sb.store.new_uid(),
            "labels": dict((template.get("metadata") or {}).get("labels") or {}),
            "annotations": {
                **((template.get("metadata") or {}).get("annotations") or {}),
                "batch.kubernetes.io/cronjob-scheduled-timestamp": run.isoformat().replace(
                    "+00:00", "Z"
                ),
            },
            "ownerReferences": [builders.owner_ref(cj)],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
        "status": {},
    }
    builders.job_defaults(job)
    job = sb.store.create(JOBS, job)
    sb.emit(cj, "SuccessfulCreate", f"Created job {name}", source=SOURCE)
    reconcile_job(sb, job)
    return job


def _delete_job(sb, job: dict) -> None:
    meta = job["metadata"]
    sb.store.delete(JOBS, meta["namespace"], meta["name"])
    for pod in sb.store.pods_of(meta["uid"]):
        delete_pod(sb, pod, reason="garbage collection")


def _trim_history(sb, cj: dict, jobs: list[dict]) -> None:
    limits = {
        "Complete": cj["spec"].get("successfulJobsHistoryLimit", 3),
        "Failed": cj["spec"].get("failedJobsHistoryLimit", 1),
    }
    for kind, limit in limits.items():
        done = sorted((j for j in jobs if finished(j) == kind), key=lambda j: j["metadata"]["name"])
        for job in done[: max(0, len(done) - limit)]:
            _delete_job(sb, job)
            jobs.remove(job)
            sb.emit(cj, "SawCompletedJob", f"Deleted job {job['metadata']['name']}", source=SOURCE)


def _set_status(sb, cj: dict, status: dict, active: list[dict], jobs: list[dict]) -> None:
    status.pop("active", None)
    if active:
        status["active"] = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": j["metadata"]["name"],
                "namespace": j["metadata"]["namespace"],
                "uid": j["metadata"]["uid"],
            }
            for j in active
        ]
    succeeded = [
        j["status"]["completionTime"]
        for j in jobs
        if finished(j) == "Complete" and j["status"].get("completionTime")
    ]
    if succeeded:
        status["lastSuccessfulTime"] = max(succeeded)
    if status != cj.get("status"):
        cj["status"] = status
        sb.store.update(CRONJOBS, cj)
